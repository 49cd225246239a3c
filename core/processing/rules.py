"""Processing rules (`config.filters`): Include, Exclude, Mask and Hash over a message's JSON text.

Pure: no I/O here. Each regexp is RE2 and must match the whole message text. Include and Exclude
look at the text as received (Exclude wins; with any Include rule, a message must match one);
then Mask and Hash rules run in their configured order, each on the previous one's output.

A masked or hashed text must stay valid JSON. A capture group inside a string value is replaced
in place; a group that covers one whole JSON value (a number, `true`, a quoted string ...) becomes
a JSON string. A group that straddles JSON syntax cannot be replaced safely: the message is then
withheld with verdict UNSAFE and never forwarded, neither masked wrongly nor in clear (fail closed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol

import re2

from core.processing.jsontext import outer_spans, replace_spans


class FilterType(StrEnum):
    INCLUDE = "Include"
    EXCLUDE = "Exclude"
    MASK = "Mask"
    HASH = "Hash"


DEFAULT_MASK = "#"
_MAX_REGEXP = 4096
_RE2_MAX_MEM = 8 << 20
_UNSAFE_MASK_CHARS = re.compile(r'["\\\x00-\x1f\x7f]')


class RuleLike(Protocol):
    """What a stored rule looks like (e.g. `core.models.ProcessingRule`)."""

    @property
    def name(self) -> str: ...
    @property
    def filter_type(self) -> str: ...
    @property
    def regexp(self) -> str: ...
    @property
    def mask(self) -> str | None: ...


@dataclass(frozen=True)
class Rule:
    """One validated rule; `mask` is the effective mask string (Mask rules only)."""

    name: str
    filter_type: FilterType
    regexp: str
    mask: str | None = None


class RuleError(ValueError):
    """A rule that cannot be used; `field` names it like `filters[2].regexp` for the API's 400."""

    def __init__(self, index: int, key: str, message: str) -> None:
        self.index = index
        self.field = f"filters[{index}].{key}"
        self.message = message
        super().__init__(f"{self.field}: {message}")


class Verdict(StrEnum):
    KEPT = "kept"
    EXCLUDED = "excluded"  # matched an Exclude rule
    NOT_INCLUDED = "not-included"  # Include rules exist and none matched
    UNSAFE = "unsafe"  # a Mask or Hash rule would break the JSON: withheld, never forwarded


@dataclass(frozen=True)
class Outcome:
    """What the rules made of one message: the text to forward, or None and why."""

    text: str | None
    verdict: Verdict
    rule: str | None = None

    @property
    def reason(self) -> str | None:
        if self.verdict is Verdict.KEPT:
            return None
        if self.verdict is Verdict.NOT_INCLUDED:
            return "matched no Include rule"
        if self.verdict is Verdict.EXCLUDED:
            return f"excluded by rule {self.rule!r}"
        return f"rule {self.rule!r} would break the message's JSON; withheld"


def validate_rules(filters: Sequence[RuleLike | Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    """Check every rule (type, name, RE2 regexp, capture groups, mask) or raise RuleError naming it."""
    return compile_rules(filters).rules


def compile_rules(filters: Sequence[RuleLike | Mapping[str, Any]] | None) -> RuleSet:
    """Validate and compile once; equal rule lists share one compiled RuleSet."""
    return _compiled(tuple(_rule(index, item) for index, item in enumerate(filters or ())))


@lru_cache(maxsize=256)
def _compiled(rules: tuple[Rule, ...]) -> RuleSet:
    return RuleSet(rules)


class RuleSet:
    """Compiled rules, applied to each message's JSON text by `apply`."""

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        compiled = [(rule, _compile(index, rule)) for index, rule in enumerate(rules)]
        self._includes = [(r, p) for r, p in compiled if r.filter_type is FilterType.INCLUDE]
        self._excludes = [(r, p) for r, p in compiled if r.filter_type is FilterType.EXCLUDE]
        self._rewrites = [(r, p) for r, p in compiled if r.filter_type in (FilterType.MASK, FilterType.HASH)]

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, text: str) -> Outcome:
        for rule, pattern in self._excludes:
            if pattern.fullmatch(text) is not None:
                return Outcome(None, Verdict.EXCLUDED, rule.name)
        if self._includes and not any(p.fullmatch(text) is not None for _, p in self._includes):
            return Outcome(None, Verdict.NOT_INCLUDED)
        for rule, pattern in self._rewrites:
            match = pattern.fullmatch(text)
            if match is None:
                continue
            spans = outer_spans(match.span(group) for group in range(1, pattern.groups + 1))
            rewritten = replace_spans(text, spans, _replacer(rule))
            if rewritten is None:
                return Outcome(None, Verdict.UNSAFE, rule.name)
            text = rewritten
        return Outcome(text, Verdict.KEPT)


def _rule(index: int, item: RuleLike | Mapping[str, Any]) -> Rule:
    if isinstance(item, Mapping):
        name, kind, regexp, mask = (item.get(k) for k in ("name", "filterType", "regexp", "mask"))
    else:
        name, kind, regexp, mask = item.name, item.filter_type, item.regexp, item.mask
    if not isinstance(name, str) or not name.strip():
        raise RuleError(index, "name", "a rule needs a name")
    allowed = [t.value for t in FilterType]
    if not isinstance(kind, str) or kind not in allowed:
        raise RuleError(index, "filterType", f"rule {name!r}: {kind!r} is not one of {', '.join(allowed)}")
    filter_type = FilterType(kind)
    if not isinstance(regexp, str) or not regexp:
        raise RuleError(index, "regexp", f"rule {name!r} needs a regexp")
    if len(regexp) > _MAX_REGEXP:
        raise RuleError(index, "regexp", f"rule {name!r}: regexp longer than {_MAX_REGEXP} characters")
    effective_mask: str | None = None
    if filter_type is FilterType.MASK:
        if mask is not None and not isinstance(mask, str):
            raise RuleError(index, "mask", f"rule {name!r}: mask must be a string")
        effective_mask = mask or DEFAULT_MASK
        if _UNSAFE_MASK_CHARS.search(effective_mask):
            raise RuleError(
                index, "mask", f"rule {name!r}: mask may not hold '\"', '\\' or control characters"
            )
    return Rule(name=name, filter_type=filter_type, regexp=regexp, mask=effective_mask)


def _compile(index: int, rule: Rule) -> Any:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _RE2_MAX_MEM
    try:
        pattern = re2.compile(rule.regexp, options)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        message = f"rule {rule.name!r}: not a valid RE2 expression: {detail}"
        raise RuleError(index, "regexp", message) from None
    if rule.filter_type in (FilterType.MASK, FilterType.HASH) and pattern.groups == 0:
        raise RuleError(
            index, "regexp", f"rule {rule.name!r}: a {rule.filter_type} rule needs a capture group ( )"
        )
    return pattern


def _replacer(rule: Rule) -> Callable[[str], str]:
    if rule.filter_type is FilterType.MASK:
        mask = rule.mask or DEFAULT_MASK
        return lambda _value: mask
    return lambda value: hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
