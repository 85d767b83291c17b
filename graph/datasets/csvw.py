"""CSV on the Web: turn a table into RDF with a W3C CSVW metadata file (csv2rdf, minimal mode).

Why CSVW rather than ad-hoc code: the mapping is data (a JSON file next to the manifest),
written in a W3C Recommendation that other tools read (the “Generating RDF from Tabular
Data on the Web” algorithm), so a reviewer checks a table's meaning without reading Python.
This module implements the part of it bjkg's tables need, exactly as specified, and
refuses every other feature by name instead of guessing:

- one table (`url`, `tableSchema`, `dialect` with `delimiter`, `header`, `encoding`,
  `skipRows`, `trim`);
- columns with `name`, `titles` (checked against the header row), `datatype` (string,
  decimal, integer, double, boolean, date, or a derived datatype with `base`, `format`,
  `minimum`, `maximum` and an `@id`, which becomes the literal's datatype IRI), `lang`,
  `null`, `required`, `virtual`, `suppressOutput`, `aboutUrl`, `propertyUrl`, `valueUrl`;
- `primaryKey` (checked unique), `aboutUrl` inherited from the schema;
- URI templates (RFC 6570) with simple, `+` and `#` expansion and the prefix modifier
  (`{adcode:6}`), prefixed names from the CSVW default context (`rdfs:label`).

Two choices keep the output inside bjkg's rules: every row needs an `aboutUrl` (no blank
nodes) and every column a `propertyUrl` (no predicates minted from column names). Relative
URLs resolve against the build's base IRI, as if the metadata were published there, so
`id/division/{adcode:6}` becomes `<base>id/division/110112` under any `--base`.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote, urljoin

import pyoxigraph as ox

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
CSVW_CONTEXT = "http://www.w3.org/ns/csvw"

# The prefixes of the CSVW default context (the RDFa 1.1 initial context) that a mapping
# may use in propertyUrl/valueUrl/datatype @id.
PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": XSD,
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcterms": "http://purl.org/dc/terms/",
    "dc": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "qb": "http://purl.org/linked-data/cube#",
    "time": "http://www.w3.org/2006/time#",
    "void": "http://rdfs.org/ns/void#",
    "schema": "http://schema.org/",
    "csvw": "http://www.w3.org/ns/csvw#",
}

# Built-in datatypes this reader checks and writes (name → XSD IRI).
_BUILTIN = {"string": XSD + "string", "decimal": XSD + "decimal", "integer": XSD + "integer",
            "double": XSD + "double", "number": XSD + "double", "boolean": XSD + "boolean",
            "date": XSD + "date", "anyURI": XSD + "anyURI"}
_NUMERIC = {"decimal", "integer", "double", "number"}

_TABLE_KEYS = {"@context", "@id", "@type", "url", "tableSchema", "dialect", "notes",
               "suppressOutput"}
_SCHEMA_KEYS = {"@id", "@type", "columns", "primaryKey", "aboutUrl", "propertyUrl", "valueUrl",
                "null", "lang", "required", "datatype"}
_COLUMN_KEYS = {"@id", "@type", "name", "titles", "datatype", "lang", "null", "required",
                "virtual", "suppressOutput", "aboutUrl", "propertyUrl", "valueUrl"}
_DIALECT_KEYS = {"@type", "delimiter", "header", "encoding", "skipRows", "trim"}
_DATATYPE_KEYS = {"@id", "@type", "base", "format", "minimum", "maximum"}
_INHERITED = ("aboutUrl", "propertyUrl", "valueUrl", "null", "lang", "required", "datatype")
_ANNOTATION = re.compile(r"^[a-z][a-z0-9]*:")  # common properties such as dc:title, rdfs:comment


class CsvwError(Exception):
    """The metadata or the table is not what the mapping says; the message names file and line."""


@dataclass
class Column:
    name: str
    titles: list[str]
    virtual: bool = False
    suppress: bool = False
    datatype: str = "string"          # built-in base name
    datatype_iri: str = XSD + "string"
    fmt: re.Pattern | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    lang: str | None = None
    null: list[str] = field(default_factory=lambda: [""])
    required: bool = False
    about_url: str | None = None
    property_url: str | None = None
    value_url: str | None = None


@dataclass
class Table:
    """A parsed metadata document: the table's URL and its columns."""
    url: str
    columns: list[Column]
    primary_key: list[str]
    delimiter: str = ","
    header: bool = True
    encoding: str = "utf-8"
    skip_rows: int = 0
    trim: bool = True
    metadata_path: Path | None = None


# --------------------------------------------------------------------------- metadata

def read_metadata(path: Path) -> Table:
    """Parse and check a CSVW metadata file (one table)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CsvwError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
    where = f"{path}"

    def fail(message: str, needle: str | None = None) -> CsvwError:
        line = _line_of(path, needle) if needle else None
        return CsvwError(f"{where}{f':{line}' if line else ''}: {message}")

    if not isinstance(doc, dict):
        raise fail("the metadata must be a JSON object describing one table")
    context = doc.get("@context")
    first = context[0] if isinstance(context, list) and context else context
    if first != CSVW_CONTEXT:
        raise fail(f'"@context" must be "{CSVW_CONTEXT}" (or a list starting with it)', "@context")
    if "tables" in doc:
        raise fail("table groups are not supported: describe one table per metadata file", "tables")
    _unknown(doc, _TABLE_KEYS, fail, "table")
    if not isinstance(doc.get("url"), str):
        raise fail('the table needs a "url"')
    schema = doc.get("tableSchema")
    if not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
        raise fail('the table needs a "tableSchema" with "columns"', "tableSchema")
    _unknown(schema, _SCHEMA_KEYS, fail, "tableSchema")
    dialect = doc.get("dialect", {})
    _unknown(dialect, _DIALECT_KEYS, fail, "dialect")
    inherited = {key: schema[key] for key in _INHERITED if key in schema}
    columns = [_column(raw, inherited, fail, index)
               for index, raw in enumerate(schema["columns"], start=1)]
    names = [c.name for c in columns]
    for name in names:
        if names.count(name) > 1:
            raise fail(f"column name {name!r} is used twice", f'"{name}"')
    key = schema.get("primaryKey", [])
    key = [key] if isinstance(key, str) else list(key)
    for name in key:
        if name not in names:
            raise fail(f"primaryKey names no column: {name!r}", "primaryKey")
    table = Table(url=doc["url"], columns=columns, primary_key=key, metadata_path=path,
                  delimiter=dialect.get("delimiter", ","), header=dialect.get("header", True),
                  encoding=dialect.get("encoding", "utf-8"),
                  skip_rows=int(dialect.get("skipRows", 0)), trim=dialect.get("trim", True) is not False)
    virtual_seen = False
    for column in columns:
        if column.virtual:
            virtual_seen = True
            if not column.value_url:
                raise fail(f"virtual column {column.name!r} needs a valueUrl", f'"{column.name}"')
        elif virtual_seen:
            raise fail(f"column {column.name!r} follows a virtual column; virtual columns come last")
        if not column.suppress and not column.about_url:
            raise fail(f"column {column.name!r} has no aboutUrl: bjkg makes no blank nodes, give "
                       "the tableSchema or the column an aboutUrl", f'"{column.name}"')
        if not column.suppress and not column.property_url:
            raise fail(f"column {column.name!r} has no propertyUrl: name the predicate",
                       f'"{column.name}"')
    return table


def _unknown(obj: dict, allowed: set[str], fail, what: str) -> None:
    for key in obj:
        if key not in allowed and not _ANNOTATION.match(key):
            raise fail(f'{what}: "{key}" is not supported by bjkg\'s CSVW reader', f'"{key}"')


def _column(raw: dict, inherited: dict, fail, index: int) -> Column:
    if not isinstance(raw, dict):
        raise fail(f"column {index} must be an object")
    _unknown(raw, _COLUMN_KEYS, fail, f"column {index}")
    props = {**inherited, **{k: v for k, v in raw.items() if k in _INHERITED}}
    titles = raw.get("titles", [])
    titles = [titles] if isinstance(titles, str) else list(titles)
    name = raw.get("name") or (titles[0] if titles else None)
    if not name:
        raise fail(f"column {index} needs a name (or titles)")
    column = Column(name=name, titles=titles, virtual=bool(raw.get("virtual", False)),
                    suppress=bool(raw.get("suppressOutput", False)), lang=props.get("lang"),
                    required=bool(props.get("required", False)),
                    about_url=props.get("aboutUrl"), property_url=props.get("propertyUrl"),
                    value_url=props.get("valueUrl"))
    null = props.get("null", [""])
    column.null = [null] if isinstance(null, str) else list(null)
    datatype = props.get("datatype", "string")
    if isinstance(datatype, str):
        datatype = {"base": datatype}
    if not isinstance(datatype, dict):
        raise fail(f"column {name!r}: datatype must be a name or an object", f'"{name}"')
    _unknown(datatype, _DATATYPE_KEYS, fail, f"column {name!r} datatype")
    base = datatype.get("base", "string")
    if base not in _BUILTIN:
        raise fail(f"column {name!r}: datatype {base!r} is not supported (use one of "
                   f"{', '.join(sorted(_BUILTIN))})", f'"{name}"')
    column.datatype = base
    column.datatype_iri = expand_name(datatype["@id"]) if "@id" in datatype else _BUILTIN[base]
    if "format" in datatype:
        if base != "string":
            raise fail(f"column {name!r}: a format pattern is supported on strings only", f'"{name}"')
        try:
            column.fmt = re.compile(datatype["format"])
        except re.error as exc:
            raise fail(f"column {name!r}: format is not a regular expression: {exc}") from None
    for bound in ("minimum", "maximum"):
        if bound in datatype:
            if base not in _NUMERIC:
                raise fail(f"column {name!r}: {bound} needs a numeric datatype", f'"{name}"')
            setattr(column, bound, Decimal(str(datatype[bound])))
    if column.lang and base != "string":
        raise fail(f"column {name!r}: lang applies to strings only", f'"{name}"')
    return column


def expand_name(value: str) -> str:
    """A prefixed name of the default context (`rdfs:label`) as an IRI; other values as given."""
    prefix, colon, local = value.partition(":")
    if colon and prefix in PREFIXES and not local.startswith("//"):
        return PREFIXES[prefix] + local
    return value


def _line_of(path: Path, needle: str) -> int | None:
    """The first line of `path` that contains `needle` (for error messages)."""
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                return number
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- URI templates

_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARSPEC = re.compile(r"^([A-Za-z0-9_]+|_[a-z]+)(?::([1-9][0-9]{0,3}))?$")
_UNRESERVED = "-._~"
_RESERVED = ":/?#[]@!$&'()*+,;="


def expand_template(template: str, values: dict[str, str | None]) -> str:
    """RFC 6570 expansion with the operators CSVW tables need: `{v}`, `{+v}`, `{#v}` and
    the prefix modifier `{v:N}`; undefined (null) variables expand to nothing."""
    def expand(match: re.Match) -> str:
        expression = match.group(1)
        operator = expression[:1] if expression[:1] in "+#" else ""
        if expression[:1] in "./;?&=,!@|":
            raise CsvwError(f"URI template operator {expression[0]!r} is not supported: {template}")
        parts = []
        for spec in expression[len(operator):].split(","):
            m = _VARSPEC.match(spec)
            if not m:
                raise CsvwError(f"cannot read the URI template expression {{{expression}}} "
                                f"in {template!r}")
            value = values.get(m.group(1))
            if value is None:
                continue
            if m.group(2):
                value = value[:int(m.group(2))]
            safe = _UNRESERVED + (_RESERVED if operator else "")
            parts.append(quote(value, safe=safe))
        if not parts:
            return ""
        return ("#" if operator == "#" else "") + ",".join(parts)

    return _EXPRESSION.sub(expand, template)


# --------------------------------------------------------------------------- rows

def table_triples(table: Table, data: bytes, *, base: str, source: str,
                  progress: Callable[[int], None] | None = None) -> Iterator[ox.Triple]:
    """The triples of csv2rdf's minimal mode for `data` (the CSV bytes), row by row.

    `source` names the CSV in error messages; `base` is the IRI relative URLs resolve against.
    Checks each cell against its column (datatype, format, bounds, required) and the
    primary key, and stops at the first bad cell with its row, line and column.
    """
    table_url = urljoin(base, table.url)
    try:
        text = data.decode(table.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CsvwError(f"{source}: cannot decode as {table.encoding}: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=table.delimiter)
    real = [c for c in table.columns if not c.virtual]
    keys: dict[tuple, int] = {}
    row_number = 0
    for _ in range(table.skip_rows):
        next(reader, None)
    if table.header:
        header = next(reader, None)
        if header is None:
            raise CsvwError(f"{source}: the table is empty (no header row)")
        _check_header(table, header, source, reader.line_num)
    for cells in reader:
        line = reader.line_num
        if progress:
            progress(line)
        if not cells:
            continue
        row_number += 1
        if len(cells) != len(real):
            raise CsvwError(f"{source}:{line}: row {row_number} has {len(cells)} cells, the "
                            f"metadata describes {len(real)} columns")
        raw = {c.name: (cell.strip() if table.trim else cell) for c, cell in zip(real, cells)}
        values: dict[str, str | None] = {}
        for column in real:
            value = raw[column.name]
            if value in column.null:
                if column.required:
                    raise CsvwError(f"{source}:{line}: row {row_number}, column {column.name!r}: "
                                    "a value is required")
                values[column.name] = None
            else:
                values[column.name] = _check_cell(column, value, source, line, row_number)
        if table.primary_key:
            key = tuple(values.get(name) for name in table.primary_key)
            if key in keys:
                raise CsvwError(f"{source}:{line}: row {row_number} repeats the primary key "
                                f"{key} of line {keys[key]}")
            keys[key] = line
        variables = {**values, "_row": str(row_number), "_sourceRow": str(line)}
        for column in table.columns:
            if column.suppress:
                continue
            value = None if column.virtual else values[column.name]
            if not column.virtual and value is None:
                continue
            cell_vars = {**variables, "_name": column.name}
            subject = ox.NamedNode(_url(column.about_url, cell_vars, table_url, source, line))
            predicate = ox.NamedNode(_url(column.property_url, cell_vars, table_url, source, line))
            if column.value_url:
                obj = ox.NamedNode(_url(column.value_url, cell_vars, table_url, source, line))
            elif column.lang:
                obj = ox.Literal(value, language=column.lang)
            else:
                obj = ox.Literal(value, datatype=ox.NamedNode(column.datatype_iri))
            yield ox.Triple(subject, predicate, obj)


def _check_header(table: Table, header: list[str], source: str, line: int) -> None:
    """CSVW's compatibility check: the header's titles match the columns' titles, in order."""
    real = [c for c in table.columns if not c.virtual]
    if len(header) != len(real):
        raise CsvwError(f"{source}:{line}: the header has {len(header)} columns, the metadata "
                        f"describes {len(real)}")
    for position, (title, column) in enumerate(zip(header, real), start=1):
        title = title.strip().lstrip("\ufeff")
        if column.titles and title not in column.titles:
            raise CsvwError(f"{source}:{line}: column {position} is titled {title!r}; the "
                            f"metadata expects {column.titles}")


def _check_cell(column: Column, value: str, source: str, line: int, row: int) -> str:
    """The cell's lexical form after checking it against the column's datatype."""
    where = f"{source}:{line}: row {row}, column {column.name!r}"
    if column.datatype in _NUMERIC:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise CsvwError(f"{where}: {value!r} is not a {column.datatype}") from None
        if column.datatype == "integer" and number != number.to_integral_value():
            raise CsvwError(f"{where}: {value!r} is not an integer")
        if column.minimum is not None and number < column.minimum:
            raise CsvwError(f"{where}: {value} is below the minimum {column.minimum}")
        if column.maximum is not None and number > column.maximum:
            raise CsvwError(f"{where}: {value} is above the maximum {column.maximum}")
    elif column.datatype == "boolean" and value not in ("true", "false", "1", "0"):
        raise CsvwError(f"{where}: {value!r} is not a boolean")
    elif column.datatype == "date" and not re.fullmatch(r"-?[0-9]{4,}-[0-9]{2}-[0-9]{2}", value):
        raise CsvwError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
    if column.fmt is not None and not column.fmt.fullmatch(value):
        raise CsvwError(f"{where}: {value!r} does not match the format {column.fmt.pattern!r}")
    return value


def _url(template: str, variables: dict, table_url: str, source: str, line: int) -> str:
    expanded = expand_name(expand_template(template, variables))
    iri = urljoin(table_url, expanded)
    try:
        ox.NamedNode(iri)
    except ValueError as exc:
        raise CsvwError(f"{source}:{line}: {template!r} gives {iri!r}, not an IRI: {exc}") from None
    return iri
