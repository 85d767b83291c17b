"""The pages' own words in the three scripts, and names for terms the graph does not label.

The graph labels every bjkg term and entity in zh-Hans, zh-Hant and en, but the reused
vocabularies (rdfs:label, prov:wasDerivedFrom, QUDT units …) carry no labels in the build,
and the page chrome ("Properties", "Search") is not data at all. Both live here, in one
table each, so templates never hard-code a language. A missing key falls back like a label:
zh-Hans → zh-Hant → en → the key itself.
"""
from __future__ import annotations

from functools import lru_cache

from bjkg.server.core import vocab as V
from bjkg.server.pages.labels import fallback_order

# key: (zh-Hans, zh-Hant, en)
_UI: dict[str, tuple[str, str, str]] = {
    "site_title": ("北京政府工作报告知识图谱", "北京政府工作報告知識圖譜", "Beijing Government Work Reports Knowledge Graph"),
    "site_short": ("bjkg", "bjkg", "bjkg"),
    "home": ("首页", "首頁", "Home"),
    "search": ("搜索", "搜尋", "Search"),
    "search_placeholder": ("名称、拼音或英文，如 数字经济 / shuzi jingji / Tongzhou",
                           "名稱、拼音或英文，如 數字經濟 / shuzi jingji / Tongzhou",
                           "Name in any script, pinyin or English, e.g. 数字经济 / shuzi jingji / Tongzhou"),
    "query_editor": ("SPARQL 查询", "SPARQL 查詢", "SPARQL query"),
    "ontology": ("本体", "本體", "Ontology"),
    "shapes": ("约束与验证", "約束與驗證", "Shapes & validation"),
    "dataset_description": ("数据集描述", "數據集描述", "Dataset description"),
    "downloads": ("下载", "下載", "Downloads"),
    "language": ("语言", "語言", "Language"),
    "types": ("类型", "類型", "Types"),
    "labels": ("名称", "名稱", "Names"),
    "properties": ("属性", "屬性", "Properties"),
    "property": ("属性", "屬性", "Property"),
    "value": ("值", "值", "Value"),
    "inbound": ("被引用", "被引用", "Referenced by"),
    "provenance": ("出处", "出處", "Provenance"),
    "source": ("来源", "來源", "Source"),
    "quote": ("引文", "引文", "Quote"),
    "inferred": ("推理得出", "推理得出", "inferred"),
    "inferred_note": ("由推理得出（graph/inferred）", "由推理得出（graph/inferred）",
                      "derived by reasoning (graph/inferred)"),
    "assertion": ("断言", "斷言", "assertion"),
    "record": ("记录引文", "記錄引文", "record quote"),
    "observations": ("观测数据", "觀測數據", "Observations"),
    "indicator": ("指标", "指標", "Indicator"),
    "period": ("时期", "時期", "Period"),
    "area": ("地区", "地區", "Area"),
    "unit": ("单位", "單位", "Unit"),
    "qualifier": ("限定", "限定", "Qualifier"),
    "status": ("状态", "狀態", "Status"),
    "stated_as": ("原文", "原文", "As stated"),
    "chart": ("随时间变化：目标与实际", "隨時間變化：目標與實際", "Over time: targets and actuals"),
    "chart_note": ("每组柱形为同一时期；不同单位或地区分图显示。", "每組柱形為同一時期；不同單位或地區分圖顯示。",
                   "Each group of bars is one period; different units or areas get separate charts."),
    "Actual": ("实际值", "實際值", "Actual"),
    "Target": ("目标值", "目標值", "Target"),
    "PolicyParameter": ("政策参数", "政策參數", "Policy parameter"),
    "more": ("更多", "更多", "more"),
    "next": ("下一页", "下一頁", "Next"),
    "previous": ("上一页", "上一頁", "Previous"),
    "page": ("第 {n} 页", "第 {n} 頁", "page {n}"),
    "of_total": ("共 {n} 项", "共 {n} 項", "{n} in all"),
    "showing": ("显示 {a}–{b}，共 {n} 项", "顯示 {a}–{b}，共 {n} 項", "showing {a}–{b} of {n}"),
    "observations_truncated": ("仅显示前 {n} 条，完整列表请用 SPARQL 查询。", "僅顯示前 {n} 條，完整列表請用 SPARQL 查詢。",
                               "Only the first {n} are shown; use the SPARQL query for all of them."),
    "formats": ("其他格式", "其他格式", "Other formats"),
    "open_query": ("在查询编辑器中打开", "在查詢編輯器中打開", "Open in the query editor"),
    "not_found": ("未找到", "未找到", "Not found"),
    "not_found_text": ("本数据集中没有这个资源：", "本數據集中沒有這個資源：",
                       "This dataset has nothing about"),
    "try_search": ("试试搜索：", "試試搜尋：", "Try searching for:"),
    "results": ("搜索结果", "搜尋結果", "Results"),
    "no_results": ("没有找到匹配的名称。", "沒有找到匹配的名稱。", "No label matches."),
    "match_exact": ("完全匹配", "完全匹配", "exact"),
    "match_prefix": ("前缀匹配", "前綴匹配", "prefix"),
    "match_substring": ("包含", "包含", "contains"),
    "alt_label": ("别名", "別名", "alternative name"),
    "about_dataset": ("关于本数据集", "關於本數據集", "About this dataset"),
    "intro": ("本数据集把北京市政府工作报告及相关报道整理为关联数据：倡议与任务、机构、地点、人物与职务、文献，以及报告中的每一个数字。每项事实都能追溯到来源文献中的原文引文。",
              "本數據集把北京市政府工作報告及相關報道整理為關聯數據：倡議與任務、機構、地點、人物與職務、文獻，以及報告中的每一個數字。每項事實都能追溯到來源文獻中的原文引文。",
              "This dataset turns Beijing's government work reports and their press coverage into linked data: initiatives and tasks, agencies, places, people and posts, documents, and every number the reports state. Every fact is traceable to a verbatim quote in a source document."),
    "classes": ("类别", "類別", "Classes"),
    "class": ("类", "類", "Class"),
    "graphs": ("命名图", "命名圖", "Named graphs"),
    "graph": ("命名图", "命名圖", "Graph"),
    "triples": ("三元组", "三元組", "Triples"),
    "count": ("数量", "數量", "Count"),
    "sources": ("来源文献", "來源文獻", "Sources"),
    "file": ("文件", "文件", "File"),
    "example_queries": ("示例查询", "示例查詢", "Example queries"),
    "instances": ("实例", "實例", "Instances"),
    "object_properties": ("对象属性", "對象屬性", "Object properties"),
    "datatype_properties": ("数据属性", "數據屬性", "Datatype properties"),
    "other_terms": ("其他术语", "其他術語", "Other terms"),
    "domain": ("定义域", "定義域", "Domain"),
    "range": ("值域", "值域", "Range"),
    "subclass_of": ("上位类", "上位類", "Subclass of"),
    "inverse_of": ("逆属性", "逆屬性", "Inverse of"),
    "comment": ("说明", "說明", "Comment"),
    "version": ("版本", "版本", "Version"),
    "shapes_file": ("SHACL 约束（shapes.ttl）", "SHACL 約束（shapes.ttl）", "SHACL shapes (shapes.ttl)"),
    "validation_report": ("最近一次验证报告（validation.ttl）", "最近一次驗證報告（validation.ttl）",
                          "Last validation report (validation.ttl)"),
    "conforms": ("符合约束", "符合約束", "conforms"),
    "does_not_conform": ("不符合约束", "不符合約束", "does not conform"),
    "checksum": ("校验和 (SHA-256)", "校驗和 (SHA-256)", "Checksum (SHA-256)"),
    "bytes": ("字节", "位元組", "bytes"),
    "build_hash": ("构建哈希", "構建哈希", "Build hash"),
    "run_query": ("运行", "運行", "Run"),
    "editor_help": ("在编辑器中编写 SPARQL 查询，或从下面的示例开始。默认图是所有命名图的并集。",
                    "在編輯器中編寫 SPARQL 查詢，或從下面的示例開始。默認圖是所有命名圖的並集。",
                    "Write a SPARQL query, or start from an example below. The default graph is the union of all named graphs."),
    "editor_noscript": ("查询编辑器需要 JavaScript。也可以直接向 /sparql 发送查询（SPARQL 1.1 协议）。",
                        "查詢編輯器需要 JavaScript。也可以直接向 /sparql 發送查詢（SPARQL 1.1 協議）。",
                        "The query editor needs JavaScript. You can also send queries to /sparql directly (SPARQL 1.1 Protocol)."),
    "settings": ("服务器设置", "伺服器設定", "Server settings"),
    "empty_dataset": ("当前服务的是一个空的内存数据集。", "當前服務的是一個空的內存數據集。",
                      "This server holds an empty in-memory dataset."),
    "quotes_not_verified": ("本次构建中的引文未经核验", "本次構建中的引文未經核驗",
                            "quotes not verified in this build"),
    "quotes_not_verified_detail": (
        "构建时没有原文语料：每项事实的引文如实记录，但未对照来源文献证明其存在。",
        "構建時沒有原文語料：每項事實的引文如實記錄，但未對照來源文獻證明其存在。",
        "The build had no corpus of source texts: each fact's quote is as recorded, but was not "
        "proven to occur in its source document."),
    "licence_note": ("查询编辑器：YASGUI（MIT 许可），本地提供。", "查詢編輯器：YASGUI（MIT 許可），本地提供。",
                     "Query editor: YASGUI (MIT licence), served locally."),
    "error": ("出错了", "出錯了", "Error"),
    "division": ("行政区划（外部数据）", "行政區劃（外部數據）", "Administrative division (external data)"),
    "division_name": ("区划", "區劃", "Division"),
    "division_part": ("位于本地点内", "位於本地點內", "within this place"),
    "division_code": ("区划代码", "區劃代碼", "Code"),
    "division_level": ("级别", "級別", "Level"),
    "coordinates": ("坐标", "坐標", "Coordinates"),
    "parent_divisions": ("上级区划", "上級區劃", "Parent divisions"),
    "locator_map": ("位置示意图", "位置示意圖", "Locator map"),
    "map_note": ("底图为全部行政区划的代表点（无在线地图服务）；红点为本地点。",
                 "底圖為全部行政區劃的代表點（無在線地圖服務）；紅點為本地點。",
                 "Grey dots: every listed division's point (no online map service); red: this place."),
    "external_datasets": ("外部数据集", "外部數據集", "External datasets"),
    "licence": ("许可", "許可", "Licence"),
    "publisher": ("发布者", "發佈者", "Publisher"),
    "retrieved": ("获取日期", "獲取日期", "Retrieved"),
    "links": ("链接", "鏈接", "Links"),
}

_LANG_INDEX = {"zh-Hans": 0, "zh-Hant": 1, "en": 2}

# Names for reused terms the build does not label (zh-Hans, zh-Hant, en).
_TERMS: dict[str, tuple[str, str, str]] = {
    V.RDF_TYPE: ("类型", "類型", "type"),
    V.RDFS_LABEL: ("名称", "名稱", "label"),
    V.RDFS + "comment": ("说明", "說明", "comment"),
    V.RDFS + "subClassOf": ("上位类", "上位類", "subclass of"),
    V.RDFS + "subPropertyOf": ("上位属性", "上位屬性", "subproperty of"),
    V.RDFS + "domain": ("定义域", "定義域", "domain"),
    V.RDFS + "range": ("值域", "值域", "range"),
    V.RDFS + "isDefinedBy": ("定义于", "定義於", "defined by"),
    V.RDF + "subject": ("主语", "主語", "subject"),
    V.RDF + "predicate": ("谓语", "謂語", "predicate"),
    V.RDF + "object": ("宾语", "賓語", "object"),
    V.SKOS_PREF: ("首选名称", "首選名稱", "preferred label"),
    V.SKOS_ALT: ("别名", "別名", "alternative label"),
    V.SKOS + "notation": ("代码", "代碼", "notation"),
    V.SKOS + "inScheme": ("所属体系", "所屬體系", "in scheme"),
    V.SKOS + "broader": ("上位概念", "上位概念", "broader"),
    V.SKOS + "narrower": ("下位概念", "下位概念", "narrower"),
    V.SKOS + "closeMatch": ("近似匹配", "近似匹配", "close match"),
    V.SKOS + "exactMatch": ("精确匹配", "精確匹配", "exact match"),
    V.GEO + "sfWithin": ("位于", "位於", "within"),
    V.GEO + "sfContains": ("包含", "包含", "contains"),
    V.GEO + "hasGeometry": ("几何形状", "幾何形狀", "geometry"),
    V.GEO + "asWKT": ("WKT", "WKT", "WKT"),
    V.GEO + "Geometry": ("几何形状", "幾何形狀", "Geometry"),
    V.SCHEMA + "longitude": ("经度", "經度", "longitude"),
    V.SCHEMA + "latitude": ("纬度", "緯度", "latitude"),
    V.SKOS + "Concept": ("概念", "概念", "Concept"),
    V.OWL + "sameAs": ("等同于", "等同於", "same as"),
    V.OWL + "inverseOf": ("逆属性", "逆屬性", "inverse of"),
    V.OWL + "Class": ("类", "類", "Class"),
    V.OWL + "ObjectProperty": ("对象属性", "對象屬性", "Object property"),
    V.OWL + "DatatypeProperty": ("数据属性", "數據屬性", "Datatype property"),
    V.PROV + "wasDerivedFrom": ("来源", "來源", "derived from"),
    V.ORG + "holds": ("担任", "擔任", "holds"),
    V.ORG + "heldBy": ("任职者", "任職者", "held by"),
    V.ORG + "postIn": ("所属机构", "所屬機構", "post in"),
    V.ORG + "hasPost": ("职务", "職務", "has post"),
    V.ORG + "member": ("成员", "成員", "member"),
    V.ORG + "organization": ("机构", "機構", "organization"),
    V.ORG + "subOrganizationOf": ("上级机构", "上級機構", "sub-organization of"),
    V.ORG + "hasSubOrganization": ("下级机构", "下級機構", "has sub-organization"),
    V.ORG + "Post": ("职务", "職務", "Post"),
    V.QB + "Observation": ("观测值", "觀測值", "Observation"),
    V.QB + "DataSet": ("数据集", "數據集", "Data set"),
    V.QB + "dataSet": ("所属数据集", "所屬數據集", "data set"),
    V.QB + "structure": ("数据结构", "數據結構", "structure"),
    V.SDMX_DIM + "refArea": ("地区", "地區", "reference area"),
    V.SDMX_DIM + "refPeriod": ("时期", "時期", "reference period"),
    V.SDMX_MEASURE + "obsValue": ("数值", "數值", "value"),
    V.SDMX_ATTR + "unitMeasure": ("单位", "單位", "unit"),
    V.SCHEMA + "minValue": ("最小值", "最小值", "minimum"),
    V.SCHEMA + "maxValue": ("最大值", "最大值", "maximum"),
    V.SCHEMA + "startDate": ("开始日期", "開始日期", "start date"),
    V.SCHEMA + "endDate": ("结束日期", "結束日期", "end date"),
    V.SCHEMA + "datePublished": ("发布日期", "發佈日期", "date published"),
    V.SCHEMA + "sha256": ("SHA-256", "SHA-256", "SHA-256"),
    V.SCHEMA + "publisher": ("出版方", "出版方", "publisher"),
    V.SCHEMA + "author": ("作者", "作者", "author"),
    V.DCTERMS + "title": ("标题", "標題", "title"),
    V.DCTERMS + "description": ("描述", "描述", "description"),
    V.UNIT + "PERCENT": ("%", "%", "%"),
    V.UNIT + "CCY_CNY": ("元", "元", "yuan"),
    V.UNIT + "CCY_USD": ("美元", "美元", "US dollars"),
    V.UNIT + "NUM": ("个", "個", "count"),
    V.UNIT + "KiloM2": ("平方公里", "平方公里", "km²"),
    V.UNIT + "M2": ("平方米", "平方米", "m²"),
}


def text(key: str, lang: str, **values) -> str:
    """The UI string `key` in `lang` (with fallback), formatted with `values`."""
    found = _texts(lang).get(key)
    if found is None:
        return key
    return found.format(**values) if values else found


@lru_cache(maxsize=16)
def _texts(lang: str) -> dict[str, str]:
    """Every UI string in `lang` after fallback: built once per language, since a page asks
    for a few dozen of them."""
    order = [_LANG_INDEX[tag] for tag in fallback_order(lang) if tag in _LANG_INDEX]
    return {key: next(entry[i] for i in order if entry[i])
            for key, entry in _UI.items() if any(entry[i] for i in order)}


def term_label(iri: str, lang: str) -> str | None:
    """A built-in name for a reused vocabulary term, or None."""
    entry = _TERMS.get(iri)
    if entry is None:
        return None
    return entry[_LANG_INDEX.get(lang, 0)]


def ui_keys() -> list[str]:
    """All UI string keys (for tests: every key has three non-empty scripts)."""
    return sorted(_UI)
