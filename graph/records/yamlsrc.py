"""YAML loading that remembers where each value came from.

Every error about curated data must name the file and line, so the loader keeps the
line of each mapping and of each key, and refuses duplicate keys (PyYAML would silently
keep the last one and lose data).
"""
from __future__ import annotations

from pathlib import Path

import yaml


class RecordError(Exception):
    """A curated record is wrong; `where` is `file:line`."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class Located(dict):
    """A YAML mapping with the file, its own line and the line of each key."""

    file: str = "?"
    line: int = 0
    key_lines: dict

    def where(self, key: str | None = None) -> str:
        line = self.key_lines.get(key, self.line) if key else self.line
        return f"{self.file}:{line}"


class LocatedList(list):
    file: str = "?"
    line: int = 0
    item_lines: list

    def where_item(self, index: int) -> str:
        return f"{self.file}:{self.item_lines[index]}"


# libyaml's parser (PyYAML's C binding) reads the records six times faster than the pure
# Python one, with the same lines in its errors; the Python parser's wording is more
# specific ("found character '\t'…"), so a file that fails is parsed again with it.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _loader_for(file: str, base=_FAST_LOADER):
    class Loader(base):
        pass

    def construct_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        mapping = Located()
        mapping.file, mapping.line, mapping.key_lines = file, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in mapping:
                raise RecordError(f"{file}:{key_node.start_mark.line + 1}",
                                  f"duplicate key {key!r} (first at line {mapping.key_lines[key]})")
            mapping[key] = loader.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(loader, node, deep=False):
        seq = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
        seq.file, seq.line = file, node.start_mark.line + 1
        seq.item_lines = [child.start_mark.line + 1 for child in node.value]
        return seq

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    # Dates and times stay strings: the build decides how to read them.
    Loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def load(path: Path, display: str | None = None) -> Located:
    """Parse one YAML file into `Located` mappings; syntax errors name file and line."""
    name = display or str(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:  # named at the line of the first bad byte
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RecordError(f"{name}:{line}", f"not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start}: 0x{raw[exc.start]:02x})") from None
    try:
        try:
            data = yaml.load(text, Loader=_loader_for(name))  # noqa: S506 - SafeLoader subclass
        except yaml.MarkedYAMLError:
            data = yaml.load(text, Loader=_loader_for(name, yaml.SafeLoader))  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct began (the line to fix); the
        # problem mark is where the parser gave up, often a line later.
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else 1
        detail = exc.problem or str(exc)
        if exc.context_mark and exc.problem_mark and exc.problem_mark.line != exc.context_mark.line:
            detail += f" (noticed at line {exc.problem_mark.line + 1})"
        raise RecordError(f"{name}:{line}", f"YAML syntax error: {detail}") from None
    if data is None:
        data = Located()
        data.file, data.line, data.key_lines = name, 1, {}
    if not isinstance(data, Located):
        raise RecordError(f"{name}:1", "expected a mapping at the top level")
    return data
