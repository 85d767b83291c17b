"""Synthetic government-statistics linked data shaped like bjkg's graph, at a chosen size.

`generate(size)` writes N-Quads with the vocabulary, IRI patterns and named graphs of the
real build (docs/model.md): places in a containment tree with labels in zh-Hans, zh-Hant,
en and pinyin and a GB/T 2260-like code; agencies (`org:subOrganizationOf`,
`bjkg:locatedIn`); indicators (SKOS concepts); periods; source documents, one named graph
each, holding initiatives (`bjkg:partOf`, `bjkg:involvesPlace`, `bjkg:leadAgency`,
`bjkg:involvesAgency`, quote and `prov:wasDerivedFrom`), their `bjkg:Assertion`s and
`qb:Observation`s (indicator, area, period, `xsd:decimal` value, QUDT unit, status,
qualifier, stated phrase, quote, provenance); and an `inferred` graph with the inverses and
transitive closures the real build's OWL-RL step adds. The ontology graph is the real one.

Everything derives from one `random.Random(seed)`, so a size and a seed give the same bytes.
Each triple sits in exactly one graph (as in the real build), so the union of the graphs,
which bjkg serves as its default graph, has no duplicates and peers that are loaded with
the plain triples see the same data.

    python bench/generate.py --size 100k --out /tmp/bench-100k.nq
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

BASE = "https://w3id.org/bjkg/"
ID = BASE + "id/"
GRAPH = BASE + "graph/"
BJKG = "https://w3id.org/bjkg/ontology#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
ORG = "http://www.w3.org/ns/org#"
PROV = "http://www.w3.org/ns/prov#"
QB = "http://purl.org/linked-data/cube#"
SDMX_DIM = "http://purl.org/linked-data/sdmx/2009/dimension#"
SDMX_MEASURE = "http://purl.org/linked-data/sdmx/2009/measure#"
SDMX_ATTR = "http://purl.org/linked-data/sdmx/2009/attribute#"
SCHEMA = "https://schema.org/"
UNIT = "http://qudt.org/vocab/unit/"
GEO = "http://www.opengis.net/ont/geosparql#"

SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}

# Characters with their Traditional form and pinyin: labels are made of these, so the three
# scripts and the pinyin of a label agree, as OpenCC and pypinyin would make them.
_CHARS = [
    ("东", "東", "dong"), ("西", "西", "xi"), ("南", "南", "nan"), ("北", "北", "bei"),
    ("新", "新", "xin"), ("华", "華", "hua"), ("门", "門", "men"), ("台", "臺", "tai"),
    ("丰", "豐", "feng"), ("顺", "順", "shun"), ("义", "義", "yi"), ("昌", "昌", "chang"),
    ("平", "平", "ping"), ("怀", "懷", "huai"), ("柔", "柔", "rou"), ("密", "密", "mi"),
    ("云", "雲", "yun"), ("延", "延", "yan"), ("庆", "慶", "qing"), ("海", "海", "hai"),
    ("淀", "澱", "dian"), ("阳", "陽", "yang"), ("朝", "朝", "chao"), ("通", "通", "tong"),
    ("州", "州", "zhou"), ("兴", "興", "xing"), ("大", "大", "da"), ("山", "山", "shan"),
    ("河", "河", "he"), ("湖", "湖", "hu"), ("桥", "橋", "qiao"), ("园", "園", "yuan"),
    ("龙", "龍", "long"), ("凤", "鳳", "feng"), ("长", "長", "chang"), ("安", "安", "an"),
    ("宁", "寧", "ning"), ("乐", "樂", "le"), ("广", "廣", "guang"), ("丽", "麗", "li"),
]
_PLACE_KINDS = [  # (class, zh-Hans suffix, zh-Hant suffix, en suffix)
    ("District", "区", "區", "District"), ("Town", "镇", "鎮", "Town"),
    ("Subdistrict", "街道", "街道", "Subdistrict"), ("SciencePark", "科技园", "科技園", "Science Park"),
]
_AGENCY_KINDS = [
    ("委员会", "委員會", "Commission"), ("局", "局", "Bureau"), ("办公室", "辦公室", "Office"),
    ("中心", "中心", "Centre"),
]
_INITIATIVE_KINDS = ["Programme", "Policy", "Project", "Task"]
_INITIATIVE_WORDS = [
    ("推进", "推進", "Advancing"), ("建设", "建設", "Building"), ("发展", "發展", "Developing"),
    ("改革", "改革", "Reforming"), ("提升", "提升", "Upgrading"), ("优化", "優化", "Optimising"),
]
_TOPICS = [
    ("数字经济", "數字經濟", "the digital economy"), ("科技创新", "科技創新", "science and technology innovation"),
    ("绿色低碳", "綠色低碳", "green and low-carbon growth"), ("城市更新", "城市更新", "urban renewal"),
    ("营商环境", "營商環境", "the business environment"), ("公共服务", "公共服務", "public services"),
    ("交通网络", "交通網絡", "the transport network"), ("生态环境", "生態環境", "the environment"),
]
_INDICATOR_WORDS = [
    ("地区生产总值", "地區生產總值", "Gross regional product", UNIT + "CCY_CNY"),
    ("增长率", "增長率", "Growth rate", UNIT + "PERCENT"),
    ("常住人口", "常住人口", "Resident population", UNIT + "NUM"),
    ("建设用地", "建設用地", "Construction land", UNIT + "KiloM2"),
    ("人均可支配收入", "人均可支配收入", "Per-capita disposable income", BJKG + "YuanPerPerson"),
    ("固定资产投资", "固定資產投資", "Fixed-asset investment", UNIT + "CCY_CNY"),
    ("新增就业", "新增就業", "New jobs", UNIT + "NUM"),
    ("绿化面积", "綠化面積", "Green area", UNIT + "M2"),
]
_STATUSES = [BJKG + "Actual", BJKG + "Target", BJKG + "PolicyParameter"]
_QUALIFIERS = [BJKG + "Exact", BJKG + "Approximately", BJKG + "AtLeast", BJKG + "AtMost"]
FIRST_YEAR, LAST_YEAR = 2000, 2024


def _iri(value: str) -> str:
    return f"<{value}>"


def _lit(text: str, lang: str | None = None, datatype: str | None = None) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    if lang:
        return f'"{escaped}"@{lang}'
    if datatype:
        return f'"{escaped}"^^<{datatype}>'
    return f'"{escaped}"'


@dataclass
class Plan:
    """How many of each thing to make for a target size (about 1 triple in 10k of slack)."""

    places: int
    agencies: int
    indicators: int
    documents: int
    initiatives: int
    observations: int

    @classmethod
    def for_triples(cls, target: int) -> Plan:
        # Measured triples per item (with its inferred triples): place ≈ 16 + depth,
        # agency ≈ 12, initiative ≈ 30, observation ≈ 14. Observations take about half.
        unit = max(1.0, (target - 1100) / 806)  # 1100: the ontology graph
        return cls(places=max(12, int(unit * 1.6)), agencies=max(6, int(unit * 1.0)),
                   indicators=max(8, min(400, int(unit * 0.4))), documents=max(2, int(unit * 0.25)),
                   initiatives=max(10, int(unit * 15)), observations=max(20, int(unit * 34)))


class Writer:
    """Collects N-Quads lines per graph and counts them."""

    def __init__(self, out) -> None:
        self.out = out
        self.count = 0

    def add(self, s: str, p: str, o: str, g: str) -> None:
        self.out.write(f"{s} {p} {o} {g} .\n")
        self.count += 1


def _name(rng: random.Random, n: int) -> tuple[str, str, str]:
    chars = [rng.choice(_CHARS) for _ in range(n)]
    return ("".join(c[0] for c in chars), "".join(c[1] for c in chars),
            "".join(c[2] for c in chars))


def _labels(w: Writer, s: str, g: str, hans: str, hant: str, en: str, pinyin: str | None = None) -> None:
    label = _iri(RDFS + "label")
    w.add(s, label, _lit(hans, "zh-Hans"), g)
    w.add(s, label, _lit(hant, "zh-Hant"), g)
    w.add(s, label, _lit(en, "en"), g)
    if pinyin:
        w.add(s, label, _lit(pinyin, "zh-Latn-pinyin"), g)


def generate(target: int, out, *, seed: int = 20240121, ontology: Path | None = None) -> dict:
    """Write about `target` quads to the text stream `out`; returns counts and sample IRIs."""
    rng = random.Random(seed)
    plan = Plan.for_triples(target)
    w = Writer(out)
    ref = _iri(GRAPH + "reference")
    inf = _iri(GRAPH + "inferred")
    a = _iri(RDF + "type")
    p = {name: _iri(iri) for name, iri in {
        "within": BJKG + "within", "contains": BJKG + "contains", "notation": SKOS + "notation",
        "sameAs": "http://www.w3.org/2002/07/owl#sameAs", "subOrg": ORG + "subOrganizationOf",
        "hasSubOrg": ORG + "hasSubOrganization", "locatedIn": BJKG + "locatedIn",
        "inScheme": SKOS + "inScheme", "prefLabel": SKOS + "prefLabel", "start": SCHEMA + "startDate",
        "end": SCHEMA + "endDate", "partOf": BJKG + "partOf", "hasPart": BJKG + "hasPart",
        "involvesPlace": BJKG + "involvesPlace", "placeInvolvedIn": BJKG + "placeInvolvedIn",
        "involvesAgency": BJKG + "involvesAgency", "agencyInvolvedIn": BJKG + "agencyInvolvedIn",
        "leadAgency": BJKG + "leadAgency", "leads": BJKG + "leads", "quote": BJKG + "quote",
        "derived": PROV + "wasDerivedFrom", "year": BJKG + "year", "subject": RDF + "subject",
        "predicate": RDF + "predicate", "object": RDF + "object", "indicator": BJKG + "indicator",
        "refArea": SDMX_DIM + "refArea", "refPeriod": SDMX_DIM + "refPeriod",
        "value": SDMX_MEASURE + "obsValue", "unit": SDMX_ATTR + "unitMeasure",
        "status": BJKG + "status", "qualifier": BJKG + "qualifier", "statedAs": BJKG + "statedAs",
        "dataSet": QB + "dataSet", "min": SCHEMA + "minValue", "max": SCHEMA + "maxValue",
        "sfWithin": GEO + "sfWithin", "sfContains": GEO + "sfContains",
        "datePublished": SCHEMA + "datePublished", "sha256": SCHEMA + "sha256",
        "publisher": SCHEMA + "publisher", "aboutPlace": BJKG + "aboutPlace",
    }.items()}
    cls = lambda name: _iri(BJKG + name)  # noqa: E731

    # ---------------------------------------------------------------- places
    places: list[str] = []
    parents: dict[str, str | None] = {}
    china, beijing = _iri(ID + "place/china"), _iri(ID + "place/beijing")
    for node, hans, hant, en, kind, parent in (
            (china, "中国", "中國", "China", "Country", None),
            (beijing, "北京市", "北京市", "Beijing", "Municipality", china)):
        w.add(node, a, cls(kind), ref)
        w.add(node, a, cls("Place"), inf)
        _labels(w, node, ref, hans, hant, en, "Beijing" if node == beijing else "Zhongguo")
        if parent:
            w.add(node, p["within"], parent, ref)
        parents[node] = parent
        places.append(node)
    districts: list[str] = []
    for i in range(plan.places - 2):
        node = _iri(f"{ID}place/p-{i:05d}")
        kind, suffix_hans, suffix_hant, suffix_en = _PLACE_KINDS[0 if i < max(4, plan.places // 10)
                                                                 else 1 + i % 3]
        parent = beijing if kind == "District" else rng.choice(districts)
        if kind == "District":
            districts.append(node)
        hans, hant, pinyin = _name(rng, 2)
        w.add(node, a, cls(kind), ref)
        w.add(node, a, cls("Place"), inf)
        _labels(w, node, ref, hans + suffix_hans, hant + suffix_hant,
                f"{pinyin.title()} {suffix_en}", pinyin.title())
        w.add(node, p["notation"], _lit(f"11{i:04d}", datatype=BJKG + "GBT2260Code"), ref)
        w.add(node, p["within"], parent, ref)
        parents[node] = parent
        places.append(node)
    for node in places:  # inferred: transitive within, contains, GeoSPARQL twins
        ancestor = parents[node]
        while ancestor is not None:
            w.add(node, p["sfWithin"], ancestor, inf)
            w.add(ancestor, p["contains"], node, inf)
            w.add(ancestor, p["sfContains"], node, inf)
            if ancestor != parents[node]:
                w.add(node, p["within"], ancestor, inf)
            ancestor = parents[ancestor]

    # ---------------------------------------------------------------- agencies
    agencies: list[str] = []
    for i in range(plan.agencies):
        node = _iri(f"{ID}agency/a-{i:05d}")
        hans, hant, pinyin = _name(rng, 2)
        k_hans, k_hant, k_en = _AGENCY_KINDS[i % len(_AGENCY_KINDS)]
        w.add(node, a, cls("GovernmentAgency"), ref)
        w.add(node, a, cls("Agency"), inf)
        w.add(node, a, _iri(ORG + "Organization"), inf)
        _labels(w, node, ref, f"北京市{hans}{k_hans}", f"北京市{hant}{k_hant}",
                f"Beijing {pinyin.title()} {k_en}")
        w.add(node, p["locatedIn"], rng.choice(places[1:]), ref)
        if agencies and i % 3:
            parent = rng.choice(agencies[: max(1, len(agencies) // 4)])
            w.add(node, p["subOrg"], parent, ref)
            w.add(parent, p["hasSubOrg"], node, inf)
        agencies.append(node)

    # ---------------------------------------------------------------- indicators, periods
    indicators: list[tuple[str, str]] = []
    scheme = _iri(BJKG + "IndicatorScheme")
    for i in range(plan.indicators):
        node = _iri(f"{ID}indicator/i-{i:04d}")
        hans, hant, en, unit = _INDICATOR_WORDS[i % len(_INDICATOR_WORDS)]
        n = f"{i // len(_INDICATOR_WORDS) + 1}"
        w.add(node, a, cls("Indicator"), ref)
        w.add(node, a, _iri(SKOS + "Concept"), inf)
        w.add(node, p["inScheme"], scheme, ref)
        _labels(w, node, ref, f"{hans}（{n}）", f"{hant}（{n}）", f"{en} ({n})")
        indicators.append((node, unit))
    periods = []
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        node = _iri(f"{ID}period/{year}")
        w.add(node, a, cls("Period"), ref)
        _labels(w, node, ref, f"{year}年", f"{year}年", str(year))
        w.add(node, p["start"], _lit(f"{year}-01-01", datatype=XSD + "date"), ref)
        w.add(node, p["end"], _lit(f"{year}-12-31", datatype=XSD + "date"), ref)
        periods.append(node)

    # ---------------------------------------------------------------- documents and their graphs
    documents = []
    for i in range(plan.documents):
        slug = f"d-{i:04d}"
        node, graph = _iri(f"{ID}document/{slug}"), _iri(f"{GRAPH}{slug}")
        year = FIRST_YEAR + i % (LAST_YEAR - FIRST_YEAR + 1)
        w.add(node, a, cls("SourceDocument"), graph)
        _labels(w, node, graph, f"{year}年北京市政府工作报告（{i}）", f"{year}年北京市政府工作報告（{i}）",
                f"Report on the work of the Beijing government, {year} ({i})")
        w.add(node, p["datePublished"], _lit(f"{year}-01-{1 + i % 28:02d}", datatype=XSD + "date"), graph)
        w.add(node, p["sha256"], _lit(f"{rng.getrandbits(256):064x}"), graph)
        w.add(node, p["publisher"], rng.choice(agencies), graph)
        documents.append((node, graph, year))

    # ---------------------------------------------------------------- initiatives
    initiatives: list[str] = []
    for i in range(plan.initiatives):
        node = _iri(f"{ID}initiative/n-{i:06d}")
        doc, graph, year = documents[i % len(documents)]
        kind = _INITIATIVE_KINDS[i % len(_INITIATIVE_KINDS)]
        v_hans, v_hant, v_en = rng.choice(_INITIATIVE_WORDS)
        t_hans, t_hant, t_en = rng.choice(_TOPICS)
        place = rng.choice(places[2:])
        place_hans, place_hant, place_pinyin = _name(rng, 2)
        hans = f"{v_hans}{place_hans}{t_hans}（{i}）"
        w.add(node, a, cls(kind), graph)
        w.add(node, a, cls("Initiative"), inf)
        _labels(w, node, graph, hans, f"{v_hant}{place_hant}{t_hant}（{i}）",
                f"{v_en} {t_en} in {place_pinyin.title()} ({i})")
        w.add(node, p["year"], _lit(str(year), datatype=XSD + "gYear"), graph)
        quote = f"{hans}，{rng.choice(_TOPICS)[0]}取得新进展"
        w.add(node, p["quote"], _lit(quote, "zh-Hans"), graph)
        w.add(node, p["derived"], doc, graph)
        if initiatives and i % 5:
            parent = initiatives[rng.randrange(max(1, len(initiatives) // 3))]
            w.add(node, p["partOf"], parent, graph)
            w.add(parent, p["hasPart"], node, inf)
        lead = rng.choice(agencies)
        w.add(node, p["involvesPlace"], place, graph)
        w.add(place, p["placeInvolvedIn"], node, inf)
        w.add(node, p["leadAgency"], lead, graph)
        w.add(lead, p["leads"], node, inf)
        for agency in {rng.choice(agencies) for _ in range(1 + i % 2)}:
            w.add(node, p["involvesAgency"], agency, graph)
            w.add(agency, p["agencyInvolvedIn"], node, inf)
        # the relation with its own quote becomes an assertion (as in the real graph)
        assertion = _iri(f"{ID}assertion/n-{i:06d}-place")
        w.add(assertion, a, cls("Assertion"), graph)
        w.add(assertion, p["subject"], node, graph)
        w.add(assertion, p["predicate"], p["involvesPlace"], graph)
        w.add(assertion, p["object"], place, graph)
        w.add(assertion, p["derived"], doc, graph)
        w.add(assertion, p["quote"], _lit(quote[:24], "zh-Hans"), graph)
        initiatives.append(node)

    # ---------------------------------------------------------------- observations
    dataset = _iri(f"{ID}dataset/observations")
    w.add(dataset, a, _iri(QB + "DataSet"), ref)
    w.add(dataset, _iri(QB + "structure"), cls("ObservationStructure"), ref)
    for i in range(plan.observations):
        node = _iri(f"{ID}observation/o-{i:07d}")
        doc, graph, _ = documents[rng.randrange(len(documents))]
        indicator, unit = indicators[rng.randrange(len(indicators))]
        area = places[1] if i % 4 == 0 else rng.choice(places[1:])
        period = periods[rng.randrange(len(periods))]
        status, qualifier = rng.choice(_STATUSES), rng.choice(_QUALIFIERS)
        value = f"{rng.randrange(1, 10_000_000)}.{rng.randrange(10)}"
        w.add(node, a, _iri(QB + "Observation"), graph)
        w.add(node, p["indicator"], indicator, graph)
        w.add(node, p["refArea"], area, graph)
        w.add(node, p["refPeriod"], period, graph)
        w.add(node, p["value"], _lit(value, datatype=XSD + "decimal"), graph)
        w.add(node, p["unit"], _iri(unit), graph)
        w.add(node, _iri(BJKG + "status"), _iri(status), graph)
        w.add(node, _iri(BJKG + "qualifier"), _iri(qualifier), graph)
        if qualifier.endswith("AtLeast"):
            w.add(node, p["min"], _lit(value, datatype=XSD + "decimal"), graph)
        elif qualifier.endswith("AtMost"):
            w.add(node, p["max"], _lit(value, datatype=XSD + "decimal"), graph)
        stated = f"{value}"
        w.add(node, p["statedAs"], _lit(stated, "zh-Hans"), graph)
        w.add(node, p["quote"], _lit(f"全年指标达到{stated}", "zh-Hans"), graph)
        w.add(node, p["derived"], doc, graph)
        w.add(node, p["dataSet"], dataset, graph)

    ontology_quads = 0
    if ontology is not None and ontology.is_dir():
        ontology_quads = _write_ontology(ontology, w)
    return {"quads": w.count, "ontology_quads": ontology_quads, "seed": seed, "plan": plan.__dict__,
            "samples": samples(plan)}


def samples(plan: Plan) -> dict[str, str]:
    """IRIs the query mix is aimed at (they exist at every size)."""
    return {
        "initiative": f"{ID}initiative/n-{min(7, plan.initiatives - 1):06d}",
        "place": f"{ID}place/p-{0:05d}",
        "region": f"{ID}place/p-{1:05d}",
        "indicator": f"{ID}indicator/i-{1:04d}",
        "area": f"{ID}place/beijing",
        "agency": f"{ID}agency/a-{0:05d}",
    }


def _write_ontology(folder: Path, w: Writer) -> int:
    import pyoxigraph as ox

    graph = ox.NamedNode(GRAPH + "ontology")
    seen: set[str] = set()
    for path in sorted(folder.glob("*.ttl")):
        for triple in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE):
            if isinstance(triple.subject, ox.BlankNode) or isinstance(triple.object, ox.BlankNode):
                continue  # the real build has none either
            seen.add(f"{triple.subject} {triple.predicate} {triple.object} {graph} .\n")
    for line in sorted(seen):
        w.out.write(line)
    w.count += len(seen)
    return len(seen)


def parse_size(text: str) -> int:
    """'10k' → 10000, '1M' → 1000000, '2500' → 2500."""
    if text in SIZES:
        return SIZES[text]
    text = text.strip()
    factor = {"k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    return int(float(number) * factor)


def write(size: str, path: Path, *, seed: int = 20240121, ontology: Path | None = None) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        info = generate(parse_size(size), out, seed=seed, ontology=ontology)
    tmp.replace(path)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="10k", help="10k, 100k, 1M or a number of triples")
    parser.add_argument("--seed", type=int, default=20240121)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-ontology", action="store_true")
    args = parser.parse_args(argv)
    ontology = None if args.no_ontology else Path(__file__).resolve().parent.parent / "ontology"
    info = write(args.size, args.out, seed=args.seed, ontology=ontology)
    print(f"generate: {info['quads']} quads → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
