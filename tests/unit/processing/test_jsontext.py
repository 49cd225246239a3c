"""one_object_lines: the list-wide guard says what checking each text on its own says."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.processing.jsontext import one_object_lines


def each_alone(texts: list[str]) -> bool:
    """The rule, text by text: starts with `{`, ends with `}`, no line break."""
    return all(
        text.startswith("{") and text.endswith("}") and "\n" not in text and "\r" not in text
        for text in texts
    )


# Texts made mostly of the characters the guard looks at, so the edge cases come up often.
texts = st.text(alphabet=st.sampled_from(["{", "}", "\n", "\r", "a", " ", '"']), max_size=6)


@settings(max_examples=600)
@given(st.lists(texts | st.sampled_from(["{}", '{"a":1}', "{", "}", ""]), max_size=6))
def test_the_list_wide_guard_agrees_with_each_text_checked_alone(items: list[str]) -> None:
    assert one_object_lines(items) == each_alone(items)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], True),
        (["{}"], True),
        (['{"a":1}', "{}"], True),
        (["{"], False),
        (["{", "}"], False),  # together they look like one object split over two lines
        (["{}", "", "{}"], False),
        (["{}\n{}"], False),
        (["{}", "{}\r"], False),
        ([" {}"], False),
    ],
)
def test_examples(items: list[str], expected: bool) -> None:
    assert one_object_lines(items) is expected
