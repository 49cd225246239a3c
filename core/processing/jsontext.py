"""A record's JSON text, and replacing parts of it without ever making it invalid JSON. Pure.

`replace_spans` is what Mask and Hash rules do with a regexp's capture groups. A span within a
string value is replaced in place (a span that cuts an escape like `\\"` in two grows to the whole
escape first); a span that is one whole JSON value (a number, `true`, a quoted string, an object)
becomes a JSON string; any other span straddles JSON syntax and cannot be replaced safely.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import contains, itemgetter

from core.models import JsonObject

Span = tuple[int, int]

_UTF8_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_ASCII_TEXT = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
_STRING_LITERAL = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


_FIRST, _LAST = itemgetter(0), itemgetter(-1)


def one_object_lines(texts: Sequence[str]) -> bool:
    """Whether each text starts with `{`, ends with `}` and holds no line break: checked list-wide,
    in C (`map`), since it runs over every record of a page. A cheap guard, not a parse."""
    try:
        ends = "".join(map(_FIRST, texts)) + "".join(map(_LAST, texts))
    except IndexError:  # an empty text
        return False
    return (
        ends == "{" * len(texts) + "}" * len(texts)
        and not any(map(contains, texts, repeat("\n")))
        and not any(map(contains, texts, repeat("\r")))
    )


def message_text(raw: JsonObject) -> str:
    """The JSON text rules see and destinations receive: keys as received, no spaces, UTF-8."""
    text = _UTF8_TEXT(raw)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: keep it as an escape so the text stays UTF-8
        text = _ASCII_TEXT(raw)
    return text


def outer_spans(spans: Iterable[Span]) -> list[Span]:
    """Non-empty spans, sorted, nested or overlapping ones merged into the outermost."""
    merged: list[Span] = []
    for start, end in sorted(span for span in spans if span[0] >= 0 and span[1] > span[0]):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def replace_spans(text: str, spans: Iterable[Span], replace: Callable[[str], str]) -> str | None:
    """`text` (a JSON object) with each span replaced by `replace(value)`, or None if that is unsafe.

    `value` is the span's decoded content: the characters of a string, or a whole value's JSON text.
    The replacement must not hold `"`, `\\` or control characters (masks are validated; hashes are hex).
    """
    literals = _Literals(text)
    out = text
    for start, end in reversed(outer_spans(literals.widened(span) for span in outer_spans(spans))):
        if literals.inside(start, end):
            replacement = replace(json.loads(f'"{text[start:end]}"'))
        else:
            if not literals.whole(start, end):
                return None
            try:
                parsed = json.loads(text[start:end])
            except ValueError:
                return None
            value = parsed if isinstance(parsed, str) else text[start:end]
            replacement = json.dumps(replace(value), ensure_ascii=False)
        out = out[:start] + replacement + out[end:]
    try:
        valid = isinstance(json.loads(out), dict)
    except ValueError:
        valid = False
    return out if valid else None


class _Literals:
    """Where the string literals of a JSON text are, quotes included."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans = [match.span() for match in _STRING_LITERAL.finditer(text)]
        self.starts = [start for start, _ in self.spans]

    def at(self, position: int) -> Span | None:
        index = bisect.bisect_right(self.starts, position) - 1
        if index >= 0 and position < self.spans[index][1]:
            return self.spans[index]
        return None

    def inside(self, start: int, end: int) -> bool:
        """[start, end) lies within one literal's content, quotes excluded."""
        literal = self.at(start)
        return literal is not None and literal[0] < start and end < literal[1]

    def whole(self, start: int, end: int) -> bool:
        """[start, end) neither begins nor ends inside a literal (its quotes may bound it)."""
        first, last = self.at(start), self.at(end - 1)
        return (first is None or first[0] == start) and (last is None or last[1] == end)

    def widened(self, span: Span) -> Span:
        """A span inside a literal, grown to whole escape sequences at both ends."""
        start, end = span
        literal = self.at(start)
        if literal is None or not (literal[0] < start and end < literal[1]):
            return span
        return self._escape_at(literal[0], start)[0], self._escape_at(literal[0], end)[1]

    def _escape_at(self, literal_start: int, position: int) -> Span:
        """The escape (`\\n`, `\\u00e9` ...) `position` falls strictly inside; else (position, position)."""
        text = self.text
        for back in range(1, 6):
            at = position - back
            if at <= literal_start:
                break
            if text[at] != "\\":
                continue
            run = 1
            while text[at - run] == "\\":
                run += 1
            if run % 2 == 1:  # `at` starts an escape
                length = 6 if text[at + 1] == "u" else 2
                return (at, at + length) if position < at + length else (position, position)
        return position, position
