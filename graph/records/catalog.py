"""Read the curated records under `graph/` into one checked catalogue.

The YAML files are the source of truth; this module only reads them, checks their
shape, resolves every reference and collects every error with its file and line, so a
curator sees all problems of a change at once. RDF is made elsewhere (`rdfgen`).

Run `python -m bjkg.graph.records check [FILE…]` to check records without building.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bjkg.graph.records.numbers import NumberError, parse_amount
from bjkg.graph.records.yamlsrc import Located, RecordError, load

REFERENCE_DOC = "document/reference-identifiers"
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
ID_RE = re.compile(rf"^(?P<kind>[a-z]+)/(?P<slug>{SLUG})$")
KINDS = ("place", "agency", "person", "post", "initiative", "indicator", "theme",
         "document", "report", "meeting", "observation")

# section key → kind of entity it holds
SECTIONS = {"places": "place", "agencies": "agency", "people": "person", "posts": "post",
            "indicators": "indicator", "themes": "theme", "initiatives": "initiative",
            "documents": "document", "reports": "report", "meetings": "meeting"}

TYPES = {
    "place": ("Country", "Municipality", "Province", "PrefectureCity", "District", "County",
              "NewArea", "SciencePark", "Zone", "Region", "Site"),
    "agency": ("Government", "PartyOrgan", "PeoplesCongress", "CPPCC", "NationalLaboratory",
               "ResearchInstitute", "University", "Exchange", "Enterprise",
               "InternationalOrganization", "MediaOutlet", "Organization"),
    "initiative": ("Strategy", "Pillar", "WorkArea", "Programme", "Policy", "Project", "Task",
                   "Proposal"),
    "report": ("GovernmentWorkReport", "PartyCongressReport"),
}

COMMON_KEYS = {"id", "type", "zh", "en", "alt", "alt_en", "pinyin", "description_en",
               "description_zh", "source", "quote", "note"}

# Relation fields of entity records: field → (predicate name, kinds allowed as object)
RELATIONS = {
    "within": ("within", ("place",)),
    "part_of": ("partOf", ("initiative", "report")),
    "advances": ("advances", ("initiative",)),
    "places": ("involvesPlace", ("place",)),
    "agencies": ("involvesAgency", ("agency",)),
    "lead": ("leadAgency", ("agency",)),
    "themes": ("hasTheme", ("theme",)),
    "proposed_by": ("proposedBy", ("person",)),
    "sub_organization_of": ("subOrganizationOf", ("agency",)),
    "located_in": ("locatedIn", ("place",)),
    "post_in": ("postIn", ("agency",)),
    "broader": ("broader", ("indicator", "theme")),
    "delivered_at": ("deliveredAt", ("meeting",)),
    "delivered_by": ("deliveredBy", ("person",)),
    "location": ("location", ("place",)),
    "organizer": ("organizer", ("agency",)),
    "cooperates_with": ("cooperatesWith", ("place", "agency")),
}
KIND_KEYS = {
    "place": {"gb2260", "wikidata", "geonames", "geonames_close", "within", "cooperates_with"},
    "agency": {"sub_organization_of", "located_in", "wikidata", "cooperates_with"},
    "person": set(),
    "post": {"post_in"},
    "indicator": {"unit", "broader"},
    "theme": {"broader"},
    "initiative": {"year", "ordinal", "part_of", "advances", "places", "agencies", "lead", "themes",
                   "proposed_by", "period"},
    "document": {"file"},
    "report": {"year", "delivered_at", "delivered_by", "part_of"},
    "meeting": {"date", "location", "organizer"},
}

# statements: predicate → (subject kinds, object kinds)
PREDICATES = {
    "partOf": (("initiative",), ("initiative", "report")),
    "advances": (("initiative",), ("initiative",)),
    "involvesPlace": (("initiative",), ("place",)),
    "involvesAgency": (("initiative",), ("agency",)),
    "leadAgency": (("initiative",), ("agency",)),
    "hasTheme": (("initiative",), ("theme",)),
    "within": (("place",), ("place",)),
    "subOrganizationOf": (("agency",), ("agency",)),
    "locatedIn": (("agency",), ("place",)),
    "proposedBy": (("initiative",), ("person",)),
    "cooperatesWith": (("place", "agency"), ("place", "agency")),
}

DOCUMENT_KEYS = {"id", "file", "sha256", "title", "title_en", "zh", "en", "script", "genre", "publisher",
                 "authors", "date_published", "date_note", "about", "quote", "note"}
STATEMENT_KEYS = {"subject", "predicate", "object", "quote", "source", "note"}
HOLDING_KEYS = {"person", "post", "quote", "source", "note"}
OBSERVATION_KEYS = {"id", "indicator", "text", "quote", "status", "period", "area",
                    "initiative", "place", "agency", "theme", "qualifier", "unit", "note"}
STATUSES = ("actual", "target", "policy-parameter")
PERIOD_RE = re.compile(r"^(?P<y1>\d{4})(?:-(?P<m1>\d{2})(?:-(?P<d1>\d{2}))?)?"
                       r"(?:/(?P<y2>\d{4})-(?P<m2>\d{2})(?:-(?P<d2>\d{2}))?)?$")


@dataclass
class Evidence:
    """Where a fact comes from: a document id and a verbatim quote (None for reference data)."""
    doc: str
    quote: str | None
    where: str
    # Where the quote begins in its document (characters of the folded text, see
    # `quotes.check_quotes`), so pages can show a document's quotes in reading order;
    # None until the quote has been found (no corpus: never).
    offset: int | None = None


@dataclass
class Entity:
    id: str
    kind: str
    type: str | None
    zh: str
    en: str
    graph_doc: str | None          # document whose graph holds the entity; None = reference
    evidence: Evidence | None      # the entity's own quote
    where: str
    alt: list[str] = field(default_factory=list)
    alt_en: list[str] = field(default_factory=list)
    pinyin: str | None = None
    description_en: str | None = None
    description_zh: str | None = None
    attrs: dict = field(default_factory=dict)   # kind-specific scalar fields
    note: str | None = None


@dataclass
class Relation:
    subject: str
    predicate: str
    object: str
    evidence: Evidence | None
    where: str


@dataclass
class Holding:
    person: str
    post: str
    evidence: Evidence
    where: str


@dataclass
class Observation:
    id: str
    indicator: str
    text: str
    value: str
    unit: str
    qualifier: str
    min_value: str | None
    max_value: str | None
    status: str
    period: str | None
    area: str | None
    links: dict            # "initiative"/"place"/"agency" → list of ids
    evidence: Evidence
    where: str
    note: str | None = None


@dataclass
class Document:
    id: str
    file: str
    sha256: str
    title: str | None          # as printed; None when the document prints no title
    title_en: str | None
    zh: str                    # label: the title, or a description when there is none
    en: str
    script: str
    genre: str | None
    publisher: str | None
    authors: list[str]
    date_published: str | None
    date_note: str | None
    about: list[str]
    evidence: Evidence | None
    where: str
    record_file: str
    note: str | None = None


@dataclass
class Catalog:
    entities: dict[str, Entity] = field(default_factory=dict)
    documents: dict[str, Document] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    holdings: list[Holding] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)

    def defined(self, ident: str) -> bool:
        return ident in self.entities or ident in self.documents or any(
            o.id == ident for o in self.observations)

    def quotes(self):
        """Every evidence with a quote, for the quote check."""
        for item in (*self.entities.values(), *self.documents.values()):
            if item.evidence and item.evidence.quote:
                yield item.evidence
        for item in (*self.relations, *self.holdings, *self.observations):
            if item.evidence and item.evidence.quote:
                yield item.evidence


class Errors(list):
    """Collects RecordErrors so that all problems are reported at once."""

    def add(self, where: str, message: str) -> None:
        self.append(RecordError(where, message))

    def raise_if_any(self) -> None:
        if self:
            raise RecordsInvalid(self)


class RecordsInvalid(Exception):
    def __init__(self, errors: list[RecordError]):
        self.errors = sorted(errors, key=lambda e: _sort_key(e.where))
        shown = "\n  ".join(str(e) for e in self.errors[:200])
        more = f"\n  … and {len(self.errors) - 200} more" if len(self.errors) > 200 else ""
        super().__init__(f"{len(self.errors)} error(s) in the curated records:\n  {shown}{more}")


def _sort_key(where: str):
    file, _, line = where.rpartition(":")
    return (file, int(line) if line.isdigit() else 0)


# ---------------------------------------------------------------- reading

def record_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(reference files, source files) under `root/graph`, sorted for determinism."""
    graph = root / "graph"
    reference = sorted((graph / "reference").glob("*.yaml"))
    reference += sorted((graph / "drafts").glob("*.yaml")) if (graph / "drafts").is_dir() else []
    sources = sorted((graph / "sources").glob("*.yaml"))
    return reference, sources


def _unread_record_files(root: Path) -> list[Path]:
    """YAML files in the record folders under a name `record_files` does not read (`.yml`,
    `.YAML`): their records would be silently missing from the graph."""
    graph = root / "graph"
    found = []
    for folder in ("reference", "drafts", "sources"):
        if (graph / folder).is_dir():
            found += [path for path in sorted((graph / folder).iterdir())
                      if path.suffix.lower() in (".yaml", ".yml") and path.suffix != ".yaml"]
    return found


def read_catalog(root: Path) -> Catalog:
    """Read and check every record file; raise RecordsInvalid listing all errors."""
    reference, sources = record_files(root)
    catalog, errors = Catalog(), Errors()
    for path in _unread_record_files(root):
        display = str(path.relative_to(root))
        errors.add(f"{display}:1", f"record files are read only when named *.yaml: this one would be "
                                   f"left out of the build; rename it to {path.stem}.yaml")
    for path in [*reference, *sources]:
        display = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        try:
            data = load(path, display)
        except RecordError as exc:
            errors.append(exc)
            continue
        if path.name == "script-overrides.yaml":
            _read_overrides(data, catalog, errors)
        elif path.parent.name == "sources":
            _read_source_file(data, catalog, errors)
        else:
            _read_reference_file(data, catalog, errors)
    if errors:
        # A file that did not load would make every reference into it look unknown:
        # report what is wrong now, not its echoes.
        _pending_kind_checks.clear()
        errors.raise_if_any()
    _resolve(catalog, errors)
    errors.raise_if_any()
    return catalog


def _read_overrides(data: Located, catalog: Catalog, errors: Errors) -> None:
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        errors.add(data.where("overrides"), "`overrides` must map a wrong label to the right one")
        return
    for wrong, right in overrides.items():
        catalog.overrides[str(wrong)] = str(right)


def _read_reference_file(data: Located, catalog: Catalog, errors: Errors) -> None:
    for key in data:
        if key not in SECTIONS:
            errors.add(data.where(key), f"unknown section {key!r}; expected one of "
                       f"{', '.join(SECTIONS)}")
            continue
        for item in _items(data, key, errors):
            _read_entity(item, SECTIONS[key], None, catalog, errors)


def _read_source_file(data: Located, catalog: Catalog, errors: Errors) -> None:
    doc_rec = data.get("document")
    if not isinstance(doc_rec, Located):
        errors.add(data.where("document"), "a source file needs a `document:` mapping")
        return
    doc = _read_document(doc_rec, catalog, errors)
    if doc is None:
        return
    for key in data:
        if key == "document":
            continue
        if key in SECTIONS:
            for item in _items(data, key, errors):
                _read_entity(item, SECTIONS[key], doc.id, catalog, errors)
        elif key == "statements":
            for item in _items(data, key, errors):
                _read_statement(item, doc.id, catalog, errors)
        elif key == "holdings":
            for item in _items(data, key, errors):
                _read_holding(item, doc.id, catalog, errors)
        elif key == "observations":
            for item in _items(data, key, errors):
                _read_observation(item, doc.id, catalog, errors)
        else:
            errors.add(data.where(key), f"unknown section {key!r}; expected document, "
                       f"statements, holdings, observations or {', '.join(SECTIONS)}")


def _items(data: Located, key: str, errors: Errors):
    items = data[key]
    if items is None:
        return []
    if not isinstance(items, list):
        errors.add(data.where(key), f"`{key}` must be a list")
        return []
    good = []
    for item in items:
        if isinstance(item, Located):
            good.append(item)
        else:
            errors.add(f"{getattr(items, 'file', data.file)}:{getattr(items, 'line', data.line)}",
                       f"each entry of `{key}` must be a mapping, got {item!r}")
    return good


def _check_keys(item: Located, allowed: set[str], what: str, errors: Errors) -> None:
    for key in item:
        if key not in allowed:
            errors.add(item.where(key), f"unknown field {key!r} in {what}; allowed: "
                       f"{', '.join(sorted(allowed))}")


def _text(item: Located, key: str, errors: Errors, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(item.where(key), f"`{key}` is required")
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        errors.add(item.where(key), f"`{key}` must be text")
        return None
    return value


MIN_QUOTE = 2  # characters of a quote at least: the shapes' sh:minLength on bjkg:quote


def _quote(item: Located, errors: Errors, required: bool) -> str | None:
    """`quote`, refused here with its file and line when shorter than the shapes allow (a
    one-character quote proves nothing, and SHACL would only name the entity)."""
    quote = _text(item, "quote", errors, required=required)
    if quote is not None and len(quote.strip()) < MIN_QUOTE:
        errors.add(item.where("quote"), f"a quote of {len(quote.strip())} character(s) proves nothing: "
                                        f"quote at least {MIN_QUOTE} (a clause of the source)")
    return quote


def _str_list(item: Located, key: str, errors: Errors) -> list[str]:
    value = item.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.add(item.where(key), f"`{key}` must be a list of text")
        return []
    return list(value)


def _check_id(item: Located, key: str, kinds: tuple[str, ...], errors: Errors) -> str | None:
    ident = _text(item, key, errors)
    if ident is None:
        return None
    match = ID_RE.match(ident)
    if not match:
        errors.add(item.where(key), f"{ident!r} is not an id of the form <kind>/<slug> "
                   "(lower-case ascii, digits and hyphens)")
        return None
    if match["kind"] not in kinds:
        errors.add(item.where(key), f"{ident!r} should be a {' or '.join(kinds)} id")
        return None
    return ident


def _evidence(item: Located, default_doc: str | None, errors: Errors,
              required: bool) -> Evidence | None:
    """The record's own evidence: `quote` (+ `source` outside a source file)."""
    doc = _text(item, "source", errors, required=False) or default_doc
    quote = _quote(item, errors, required=False)
    if doc is None:
        if quote:
            errors.add(item.where("quote"), "a quote needs `source: <document id>` here")
        elif required:
            errors.add(item.where(), "needs `source` and `quote` (or "
                       f"`source: {REFERENCE_DOC}` for identifiers.md facts)")
        return None
    if quote is None and doc != REFERENCE_DOC:
        if required or "source" in item:
            errors.add(item.where("quote"), f"`quote` is required (verbatim text from {doc})")
        return None
    return Evidence(doc=doc, quote=quote, where=item.where("quote") if quote else item.where())


def _read_entity(item: Located, kind: str, doc: str | None, catalog: Catalog,
                 errors: Errors) -> None:
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    _check_keys(item, allowed, f"a {kind}", errors)
    ident = _check_id(item, "id", (kind,), errors)
    zh, en = _text(item, "zh", errors), _text(item, "en", errors)
    typ = _text(item, "type", errors, required=kind in TYPES)
    if typ and kind in TYPES and typ not in TYPES[kind]:
        errors.add(item.where("type"), f"unknown {kind} type {typ!r}; use one of "
                   f"{', '.join(TYPES[kind])}")
    if typ and kind not in TYPES:
        errors.add(item.where("type"), f"a {kind} takes no `type`")
    evidence = _evidence(item, doc, errors, required=doc is not None)
    if ident is None or zh is None or en is None:
        return
    if _duplicate(ident, item.where("id"), catalog, errors):
        return
    entity = Entity(id=ident, kind=kind, type=typ, zh=zh, en=en, graph_doc=doc,
                    evidence=evidence, where=item.where("id"),
                    alt=_str_list(item, "alt", errors), alt_en=_str_list(item, "alt_en", errors),
                    pinyin=_text(item, "pinyin", errors, required=False),
                    description_en=_text(item, "description_en", errors, required=False),
                    description_zh=_text(item, "description_zh", errors, required=False),
                    note=_text(item, "note", errors, required=False))
    for key in KIND_KEYS[kind]:
        if key not in item:
            continue
        if key in RELATIONS:
            _read_relations(item, key, ident, evidence, catalog, errors)
        else:
            value = _text(item, key, errors, required=False)
            if value is not None:
                entity.attrs[key] = value
    _check_attrs(entity, item, errors)
    catalog.entities[ident] = entity


def _check_attrs(entity: Entity, item: Located, errors: Errors) -> None:
    attrs = entity.attrs
    if "gb2260" in attrs and not re.fullmatch(r"\d{6}", attrs["gb2260"]):
        errors.add(item.where("gb2260"), "a GB/T 2260 code is six digits, written in quotes")
    if "wikidata" in attrs and not re.fullmatch(r"Q\d+", attrs["wikidata"]):
        errors.add(item.where("wikidata"), "a Wikidata id looks like Q956")
    for key in ("geonames", "geonames_close"):
        if key in attrs and not re.fullmatch(r"\d+", attrs[key]):
            errors.add(item.where(key), "a GeoNames id is digits, written in quotes")
    for key in ("year",):
        if key in attrs and not re.fullmatch(r"\d{4}", attrs[key]):
            errors.add(item.where(key), "a year is four digits")
    if "ordinal" in attrs and not re.fullmatch(r"\d+", attrs["ordinal"]):
        errors.add(item.where("ordinal"), "an ordinal is a whole number")
    if "date" in attrs and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", attrs["date"]):
        errors.add(item.where("date"), "a date is written YYYY-MM-DD")
    if "period" in attrs and not PERIOD_RE.match(attrs["period"]):
        errors.add(item.where("period"), "a period is 2023, 2022-01/2022-11 or 2024-01-21")
    if "unit" in attrs:
        from bjkg.graph.records.numbers import UNITS
        if attrs["unit"] not in UNITS:
            errors.add(item.where("unit"), f"unknown unit; use one of {', '.join(UNITS)}")
    if entity.kind == "document" and "file" not in attrs:
        errors.add(item.where(), "a reference document needs `file`")


def _read_relations(item: Located, key: str, subject: str, own: Evidence | None,
                    catalog: Catalog, errors: Errors) -> None:
    predicate, kinds = RELATIONS[key]
    values = item[key]
    if values is None:
        return
    if not isinstance(values, list):
        values = [values]
    for index, value in enumerate(values):
        if isinstance(value, str):
            where = values.where_item(index) if hasattr(values, "item_lines") else item.where(key)
            target, evidence = value, own
        elif isinstance(value, Located):
            _check_keys(value, {"id", "quote", "source", "note"}, f"`{key}` entry", errors)
            target = _text(value, "id", errors)
            where = value.where("id")
            evidence = _evidence(value, own.doc if own else None, errors, required=False) or own
            if evidence is own and "quote" not in value and "source" in value:
                evidence = _evidence(value, None, errors, required=True)
        else:
            errors.add(item.where(key), f"`{key}` entries are ids or mappings with `id`")
            continue
        if target is None:
            continue
        catalog.relations.append(Relation(subject, predicate, target, evidence, where))
        _pending_kind_checks.append((target, kinds, where))


def _read_document(item: Located, catalog: Catalog, errors: Errors) -> Document | None:
    _check_keys(item, DOCUMENT_KEYS, "the document", errors)
    ident = _check_id(item, "id", ("document",), errors)
    file = _text(item, "file", errors)
    sha = _text(item, "sha256", errors)
    title = _text(item, "title", errors, required=False)
    title_en = _text(item, "title_en", errors, required=False)
    zh = _text(item, "zh", errors, required=title is None) or title
    en = _text(item, "en", errors, required=title_en is None) or title_en
    script = _text(item, "script", errors)
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        errors.add(item.where("sha256"), "sha256 must be 64 lower-case hex digits")
    if script and script not in ("zh-Hans", "zh-Hant"):
        errors.add(item.where("script"), "script is zh-Hans or zh-Hant")
    date = _text(item, "date_published", errors, required=False)
    if date and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?([+-]\d{2}:\d{2}|Z)?)?", date):
        errors.add(item.where("date_published"), "date_published is YYYY-MM-DD or an ISO date-time")
    if None in (ident, file, sha, zh, en, script):
        return None
    if _duplicate(ident, item.where("id"), catalog, errors):
        return None
    doc = Document(id=ident, file=file, sha256=sha, title=title, title_en=title_en, zh=zh, en=en,
                   script=script, genre=_text(item, "genre", errors, required=False),
                   publisher=_text(item, "publisher", errors, required=False),
                   authors=_str_list(item, "authors", errors), date_published=date,
                   date_note=_text(item, "date_note", errors, required=False),
                   about=_str_list(item, "about", errors), evidence=None,
                   where=item.where("id"), record_file=item.file,
                   note=_text(item, "note", errors, required=False))
    quote = _quote(item, errors, required=bool(doc.publisher or doc.authors
                                                        or doc.date_published))
    doc.evidence = Evidence(ident, quote, item.where("quote")) if quote else None
    for target, kinds, key in ([(doc.publisher, ("agency",), "publisher")] if doc.publisher else []) + \
            [(a, ("person", "agency"), "authors") for a in doc.authors] + \
            [(r, ("report",), "about") for r in doc.about]:
        _pending_kind_checks.append((target, kinds, item.where(key)))
    catalog.documents[ident] = doc
    return doc


def _read_statement(item: Located, doc: str, catalog: Catalog, errors: Errors) -> None:
    _check_keys(item, STATEMENT_KEYS, "a statement", errors)
    subject = _text(item, "subject", errors)
    predicate = _text(item, "predicate", errors)
    obj = _text(item, "object", errors)
    evidence = _evidence(item, doc, errors, required=True)
    if predicate and predicate not in PREDICATES:
        errors.add(item.where("predicate"), f"unknown predicate {predicate!r}; use one of "
                   f"{', '.join(PREDICATES)}")
        return
    if None in (subject, predicate, obj) or evidence is None:
        return
    subject_kinds, object_kinds = PREDICATES[predicate]
    _pending_kind_checks.append((subject, subject_kinds, item.where("subject")))
    _pending_kind_checks.append((obj, object_kinds, item.where("object")))
    catalog.relations.append(Relation(subject, predicate, obj, evidence, item.where()))


def _read_holding(item: Located, doc: str, catalog: Catalog, errors: Errors) -> None:
    _check_keys(item, HOLDING_KEYS, "a holding", errors)
    person = _text(item, "person", errors)
    post = _text(item, "post", errors)
    evidence = _evidence(item, doc, errors, required=True)
    if None in (person, post) or evidence is None:
        return
    _pending_kind_checks.append((person, ("person",), item.where("person")))
    _pending_kind_checks.append((post, ("post",), item.where("post")))
    catalog.holdings.append(Holding(person, post, evidence, item.where()))


def _read_observation(item: Located, doc: str, catalog: Catalog, errors: Errors) -> None:
    _check_keys(item, OBSERVATION_KEYS, "an observation", errors)
    ident = _check_id(item, "id", ("observation",), errors)
    indicator = _text(item, "indicator", errors)
    text = _text(item, "text", errors)
    status = _text(item, "status", errors)
    period = _text(item, "period", errors, required=False)
    area = _text(item, "area", errors, required=False)
    evidence = _evidence(item, doc, errors, required=True)
    if status and status not in STATUSES:
        errors.add(item.where("status"), f"status is one of {', '.join(STATUSES)}")
        status = None
    if period and not _valid_period(period):
        errors.add(item.where("period"), f"bad period {period!r}: write 2023, "
                   "2022-01/2022-11 or 2024-01-21")
        period = None
    amount = None
    if text:
        try:
            amount = parse_amount(text, unit=_text(item, "unit", errors, required=False),
                                  qualifier=_text(item, "qualifier", errors, required=False))
        except NumberError as exc:
            errors.add(item.where("text"), str(exc))
    if evidence and evidence.quote and text:
        from bjkg.graph.records.textnorm import fold
        if fold(text) not in fold(evidence.quote):
            errors.add(item.where("text"), f"`text` {text!r} does not occur in the quote")
    if None in (ident, indicator, text, status, evidence, amount):
        return
    if _duplicate(ident, item.where("id"), catalog, errors):
        return
    links = {}
    for key in ("initiative", "place", "agency", "theme"):
        values = _str_list(item, key, errors)
        links[key] = values
        for value in values:
            _pending_kind_checks.append((value, (key,), item.where(key)))
    _pending_kind_checks.append((indicator, ("indicator",), item.where("indicator")))
    if area:
        _pending_kind_checks.append((area, ("place",), item.where("area")))
    catalog.observations.append(Observation(
        id=ident, indicator=indicator, text=text, value=amount.lexical, unit=amount.unit,
        qualifier=amount.qualifier,
        min_value=None if amount.min_value is None else amount.lexical,
        max_value=None if amount.max_value is None else amount.lexical,
        status=status, period=period, area=area, links=links, evidence=evidence,
        where=item.where("id"), note=_text(item, "note", errors, required=False)))


def _valid_period(period: str) -> bool:
    match = PERIOD_RE.match(period)
    if not match:
        return False
    if match["y2"] and not match["m1"]:
        return False
    months = [m for m in (match["m1"], match["m2"]) if m]
    return all(1 <= int(m) <= 12 for m in months)


def _duplicate(ident: str, where: str, catalog: Catalog, errors: Errors) -> bool:
    first = (catalog.entities.get(ident) or catalog.documents.get(ident))
    if first is None:
        first = next((o for o in catalog.observations if o.id == ident), None)
    if first is not None:
        errors.add(where, f"{ident} is defined twice (first at {first.where})")
        return True
    return False


# (id, allowed kinds, where) checked once everything is read
_pending_kind_checks: list[tuple[str, tuple[str, ...], str]] = []


def _resolve(catalog: Catalog, errors: Errors) -> None:
    """Every referenced id must be defined somewhere and be of an allowed kind."""
    known = set(catalog.entities) | set(catalog.documents) | {o.id for o in catalog.observations}
    pending = list(_pending_kind_checks)
    _pending_kind_checks.clear()
    for ident, kinds, where in pending:
        match = ID_RE.match(ident or "")
        if not match:
            errors.add(where, f"{ident!r} is not an id of the form <kind>/<slug>")
        elif match["kind"] not in kinds:
            errors.add(where, f"{ident} should be a {' or '.join(kinds)}")
        elif ident not in known:
            errors.add(where, f"unknown entity {ident}: define it in graph/reference or a "
                       "source file")
    for relation in catalog.relations:
        if relation.evidence and relation.evidence.doc not in catalog.documents \
                and relation.evidence.doc not in catalog.entities:
            errors.add(relation.where, f"unknown source document {relation.evidence.doc}")
    for item in [*catalog.entities.values(), *catalog.holdings, *catalog.observations]:
        ev = item.evidence
        if ev and ev.doc not in catalog.documents and ev.doc not in catalog.entities:
            errors.add(ev.where, f"unknown source document {ev.doc}")
    for entity in catalog.entities.values():
        if entity.kind == "initiative" and entity.type == "Proposal" and not any(
                r.subject == entity.id and r.predicate == "proposedBy" for r in catalog.relations):
            errors.add(entity.where, "a Proposal needs `proposed_by`")


def duplicate_labels(catalog: Catalog) -> list[str]:
    """Warnings for entities of the same kind and type (and year, if given) with the same
    Simplified label: probably one thing defined twice (define it once and reference it by
    id, with a quote, elsewhere). A 2023 task and a 2024 task worded alike differ by year."""
    seen: dict[tuple, Entity] = {}
    warnings = []
    for entity in catalog.entities.values():
        key = (entity.kind, entity.type, entity.zh, entity.attrs.get("year"))
        first = seen.setdefault(key, entity)
        if first is not entity:
            warnings.append(f"{entity.where}: {entity.id} has the label {entity.zh!r} of "
                            f"{first.id} ({first.where}), same {entity.type or entity.kind}: "
                            "one entity defined twice? Define it once and reference it")
    return warnings


def warn_duplicate_labels(catalog: Catalog) -> None:
    for warning in duplicate_labels(catalog):
        print(f"warning: {warning}", file=sys.stderr)
