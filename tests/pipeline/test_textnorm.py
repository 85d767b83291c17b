"""Quote folding: Traditional/Simplified, pinyin glosses, punctuation, page breaks."""
from bjkg.graph.records.textnorm import fold, strip_glosses


def test_glosses_are_stripped_only_after_characters():
    assert strip_glosses("地區(qū)生產(chǎn)總值") == "地區生產總值"
    assert strip_glosses("(上接1版)") == "(上接1版)"
    assert strip_glosses("AI (ai) 模型") == "AI (ai) 模型"


def test_traditional_and_simplified_fold_together():
    assert fold("“五子”聯動推動北京高質量發展") == fold("“五子”联动推动北京高质量发展")


def test_glossed_traditional_matches_plain_simplified():
    assert fold("地區(qū)生產(chǎn)總值增長(zhǎng)5.2%、約4.4萬億元") == fold(
        "地区生产总值增长5.2%,约4.4万亿元")


def test_punctuation_and_width_fold():
    assert fold("目标，是５％；") == fold("目标,是5%;")
    assert fold("数字经济增加值占比﹔") == fold("数字经济增加值占比;")


def test_page_break_inside_a_sentence_folds_away():
    assert fold("全市最\n\n高，") == fold("全市最高,")
