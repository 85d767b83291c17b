"""A column of strings packed into one string (`Packed`): the prepared tables that every
HTTP worker holds for a build (the search index, the label table) keep their strings so."""
from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable


class Packed:
    """A column of strings as one string and where each starts: two objects instead of one
    per string (a Python str costs ≈50 bytes before its first character), so an index of
    70,000 labels takes ≈15 MB in each HTTP worker instead of ≈85 MB. Read by position;
    `find` looks a string up by bisection when the column is sorted."""

    __slots__ = ("text", "starts")

    def __init__(self, strings: Iterable[str]) -> None:
        strings = list(strings)
        self.text = "".join(strings)
        starts, at = array("q", [0]), 0
        for string in strings:
            at += len(string)
            starts.append(at)
        self.starts = starts

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __getitem__(self, number: int) -> str:
        return self.text[self.starts[number]:self.starts[number + 1]]

    def length(self, number: int) -> int:
        return self.starts[number + 1] - self.starts[number]

    def find(self, string: str) -> int:
        """The position of `string` in a sorted column, or -1."""
        number = bisect_left(range(len(self)), string, key=self.__getitem__)
        return number if number < len(self) and self[number] == string else -1

    def __getstate__(self):
        return self.text, self.starts

    def __setstate__(self, state) -> None:
        self.text, self.starts = state
