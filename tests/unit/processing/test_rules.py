"""rules: Include, Exclude, Mask and Hash over each message's JSON text (spec: "Processing rules")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from core.processing.jsontext import message_text
from core.processing.rules import (
    FilterType,
    Outcome,
    RuleError,
    Verdict,
    compile_rules,
    validate_rules,
)

RECORD: dict[str, Any] = {
    "type": "receipt",
    "recipients": "alice@corp.example",
    "senderIp": "198.51.100.7",
    "spamScore": 3,
    "subject": 'say "hi"\tnow',
    "virusFound": None,
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rule(kind: str, regexp: str, name: str = "r", mask: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "filterType": kind, "regexp": regexp}
    if mask is not None:
        found["mask"] = mask
    return found


def run(*rules: dict[str, Any], record: dict[str, Any] = RECORD) -> Outcome:
    return compile_rules(list(rules)).apply(message_text(record))


def test_a_record_becomes_compact_json_text_with_its_keys_in_received_order() -> None:
    assert message_text({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'


def test_no_rules_keep_the_text_unchanged() -> None:
    outcome = run()
    assert (outcome.verdict, outcome.text, outcome.reason) == (Verdict.KEPT, message_text(RECORD), None)


FILTERS = [
    # (sentence, rules, verdict, deciding rule)
    (
        "an exclude rule that matches drops the message",
        [rule("Exclude", ".*receipt.*", "x")],
        Verdict.EXCLUDED,
        "x",
    ),
    ("an exclude rule that does not match keeps it", [rule("Exclude", ".*delivery.*")], Verdict.KEPT, None),
    ("a regexp must match the whole text, not a part", [rule("Exclude", "receipt")], Verdict.KEPT, None),
    (
        "with an include rule a non-matching message is dropped",
        [rule("Include", ".*delivery.*")],
        Verdict.NOT_INCLUDED,
        None,
    ),
    (
        "a message matching any include rule is kept",
        [rule("Include", ".*delivery.*"), rule("Include", ".*receipt.*")],
        Verdict.KEPT,
        None,
    ),
    (
        "exclude wins over include whatever the order",
        [rule("Include", ".*receipt.*"), rule("Exclude", ".*alice.*", "no-alice")],
        Verdict.EXCLUDED,
        "no-alice",
    ),
    (
        "include and exclude see the text before any mask",
        [rule("Mask", '.*"recipients":"([^"]*)".*'), rule("Include", ".*alice.*")],
        Verdict.KEPT,
        None,
    ),
]


@pytest.mark.parametrize(("sentence", "rules", "verdict", "decider"), FILTERS, ids=[f[0] for f in FILTERS])
def test_include_and_exclude_decide_which_messages_leave(
    sentence: str, rules: list[dict[str, Any]], verdict: Verdict, decider: str | None
) -> None:
    # Given the rules; When they run over the record's text
    outcome = run(*rules)
    # Then the verdict and the deciding rule are as stated, and a dropped message has no text
    assert (outcome.verdict, outcome.rule) == (verdict, decider)
    assert (outcome.text is None) == (verdict is not Verdict.KEPT)


REWRITES = [
    # (sentence, rules, field, expected value of that field afterwards)
    (
        "mask replaces a group inside a string with #",
        [rule("Mask", '.*"recipients":"([^"]*)".*')],
        "recipients",
        "#",
    ),
    (
        "mask uses its own mask string",
        [rule("Mask", '.*"recipients":"([^"]*)".*', mask="***")],
        "recipients",
        "***",
    ),
    (
        "an empty mask string means the default #",
        [rule("Mask", '.*"recipients":"([^"]*)".*', mask="")],
        "recipients",
        "#",
    ),
    (
        "mask replaces only the group, not the whole value",
        [rule("Mask", '.*"recipients":"([^@"]*)@.*')],
        "recipients",
        "#@corp.example",
    ),
    (
        "each group is masked",
        [rule("Mask", r'.*"senderIp":"(\d+)\.(\d+)\.\d+\.\d+".*')],
        "senderIp",
        "#.#.100.7",
    ),
    (
        "nested groups are masked once, as the outer one",
        [rule("Mask", '.*"recipients":"((alice)@corp)[^"]*".*')],
        "recipients",
        "#.example",
    ),
    (
        "a group that did not take part is left alone",
        [rule("Mask", '.*"recipients":"(bob)?[^"]*".*')],
        "recipients",
        "alice@corp.example",
    ),
    (
        "a number captured whole becomes the mask as a string",
        [rule("Mask", '.*"spamScore":(\\d+).*')],
        "spamScore",
        "#",
    ),
    (
        "null captured whole becomes the mask as a string",
        [rule("Mask", '.*"virusFound":(null).*')],
        "virusFound",
        "#",
    ),
    (
        "a string captured with its quotes stays a string",
        [rule("Mask", '.*"recipients":("[^"]*").*')],
        "recipients",
        "#",
    ),
    (
        "a group cutting an escape in two is widened to the whole escape",
        [rule("Mask", '.*"subject":"([^"]*)".*')],
        "subject",
        '#hi"\tnow',
    ),
    (
        "a group of escapes is masked as the characters they stand for",
        [rule("Mask", r'.*"subject":"((?:[^"\\]|\\.)*)".*')],
        "subject",
        "#",
    ),
    (
        "hash replaces a group with the SHA-256 of its value",
        [rule("Hash", '.*"recipients":"([^"]*)".*')],
        "recipients",
        sha("alice@corp.example"),
    ),
    (
        "hash of an escaped string is the hash of the characters, not the escapes",
        [rule("Hash", r'.*"subject":"((?:[^"\\]|\\.)*)".*')],
        "subject",
        sha('say "hi"\tnow'),
    ),
    (
        "hash of a number captured whole is the hash of its text",
        [rule("Hash", '.*"spamScore":(\\d+).*')],
        "spamScore",
        sha("3"),
    ),
    (
        "rules run in order, each on the previous one's output",
        [rule("Mask", '.*"recipients":"([^@"]*)@.*', mask="X"), rule("Hash", '.*"recipients":"([^"]*)".*')],
        "recipients",
        sha("X@corp.example"),
    ),
    (
        "a rewrite rule that does not match changes nothing",
        [rule("Mask", '.*"nothere":"([^"]*)".*')],
        "recipients",
        "alice@corp.example",
    ),
]


@pytest.mark.parametrize(("sentence", "rules", "key", "expected"), REWRITES, ids=[r[0] for r in REWRITES])
def test_mask_and_hash_rewrite_captured_values_and_keep_the_text_json(
    sentence: str, rules: list[dict[str, Any]], key: str, expected: str
) -> None:
    # Given the rules; When they run over the record's text
    outcome = run(*rules)
    # Then the message is kept as a JSON object with only that field changed
    assert outcome.verdict is Verdict.KEPT
    assert outcome.text is not None
    record = json.loads(outcome.text)
    assert record[key] == expected
    assert {k: v for k, v in record.items() if k != key} == {k: v for k, v in RECORD.items() if k != key}


UNSAFE = [
    ("a group holding a key and its value", '.*("recipients":"[^"]*").*'),
    ("a group from inside one string into the next", '.*"recipients":"alice(@corp.example","senderIp).*'),
    ("a group holding a separator", '.*"spamScore":(3,).*'),
    ("a group holding the whole message", "(.*)"),
]


@pytest.mark.parametrize(("sentence", "regexp"), UNSAFE, ids=[u[0] for u in UNSAFE])
@pytest.mark.parametrize("kind", ["Mask", "Hash"])
def test_a_rewrite_that_would_break_the_json_withholds_the_message(
    sentence: str, regexp: str, kind: str
) -> None:
    # Given a rule whose group straddles JSON syntax
    # When it runs
    outcome = run(rule(kind, regexp, "bad"))
    # Then the message is withheld: neither broken JSON nor the clear value leaves (fail closed)
    assert (outcome.verdict, outcome.text, outcome.rule) == (Verdict.UNSAFE, None, "bad")
    assert outcome.reason == "rule 'bad' would break the message's JSON; withheld"


def test_compiled_rules_are_shared_for_equal_rule_lists() -> None:
    rules = [rule("Include", ".*")]
    assert compile_rules(rules) is compile_rules([dict(rules[0])])


@dataclass(frozen=True)
class StoredRule:
    name: str
    filter_type: str
    regexp: str
    mask: str | None = None


def test_stored_rule_values_are_accepted_as_well_as_json() -> None:
    rules = validate_rules([StoredRule("m", "Mask", "(a)"), rule("Exclude", "b")])
    assert [(r.name, r.filter_type, r.mask) for r in rules] == [
        ("m", FilterType.MASK, "#"),
        ("r", FilterType.EXCLUDE, None),
    ]


def test_no_rules_at_all_is_valid() -> None:
    assert validate_rules(None) == ()
    assert not compile_rules([])


INVALID = [
    # (sentence, rules, field, message fragment)
    ("a rule needs a name", [{"filterType": "Include", "regexp": "a"}], "filters[0].name", "needs a name"),
    (
        "the type must be one of the four",
        [rule("Forward", "a", "f")],
        "filters[0].filterType",
        "'Forward' is not one of Include, Exclude, Mask, Hash",
    ),
    (
        "the type is case-sensitive as in the product",
        [rule("include", "a")],
        "filters[0].filterType",
        "'include'",
    ),
    ("a regexp is required", [rule("Include", "")], "filters[0].regexp", "needs a regexp"),
    (
        "a regexp must be RE2",
        [rule("Include", "(?<=a)b", "look")],
        "filters[0].regexp",
        "rule 'look': not a valid RE2 expression: invalid perl operator: (?<=",
    ),
    (
        "backreferences are not RE2",
        [rule("Exclude", r"(a)\1")],
        "filters[0].regexp",
        "not a valid RE2 expression",
    ),
    (
        "a broken regexp is named with its position",
        [rule("Include", "a"), rule("Exclude", "(", "second")],
        "filters[1].regexp",
        "rule 'second': not a valid RE2 expression: missing ): (",
    ),
    (
        "a mask rule needs a capture group",
        [rule("Mask", ".*secret.*")],
        "filters[0].regexp",
        "needs a capture group",
    ),
    (
        "a hash rule needs a capture group",
        [rule("Hash", ".*secret.*")],
        "filters[0].regexp",
        "needs a capture group",
    ),
    ("a mask may not hold a quote", [rule("Mask", "(a)", mask='"')], "filters[0].mask", "may not hold"),
    ("a mask may not hold a backslash", [rule("Mask", "(a)", mask="\\")], "filters[0].mask", "may not hold"),
    ("a mask may not hold a newline", [rule("Mask", "(a)", mask="a\nb")], "filters[0].mask", "may not hold"),
    (
        "a mask must be text",
        [{"name": "m", "filterType": "Mask", "regexp": "(a)", "mask": 1}],
        "filters[0].mask",
        "must be a string",
    ),
    ("a regexp has a length limit", [rule("Include", "a" * 5000)], "filters[0].regexp", "longer than 4096"),
]


@pytest.mark.parametrize(("sentence", "rules", "field", "fragment"), INVALID, ids=[i[0] for i in INVALID])
def test_an_unusable_rule_is_refused_naming_the_rule_and_field(
    sentence: str, rules: list[dict[str, Any]], field: str, fragment: str
) -> None:
    # Given a rule list with one bad rule; When it is validated
    with pytest.raises(RuleError) as caught:
        validate_rules(rules)
    # Then the error names the field (for the API's 400) and says what is wrong
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{field}: ")
