"""Changes a browser sends on another site's behalf are refused; scripts and the page itself pass."""

from __future__ import annotations

import pytest

from api.routes.page import cross_site

HOST = {"host": "collect.example:8080"}


@pytest.mark.parametrize(
    ("method", "headers", "refused"),
    [
        ("POST", {}, False),  # curl, the SDK, Terraform: no browser headers at all
        ("POST", {"sec-fetch-site": "same-origin"}, False),  # the Collection page's own calls
        ("POST", {"sec-fetch-site": "cross-site"}, True),
        ("PUT", {"sec-fetch-site": "same-site"}, True),
        ("DELETE", {"sec-fetch-site": "cross-site", "origin": "http://collect.example:8080"}, True),
        ("GET", {"sec-fetch-site": "cross-site"}, False),  # reads change nothing
        ("POST", {"origin": "http://collect.example:8080"}, False),  # an older browser, same origin
        ("POST", {"origin": "http://evil.example"}, True),
        ("POST", {"origin": "null"}, True),
    ],
)
def test_cross_site_changes_are_told_apart(method: str, headers: dict[str, str], refused: bool) -> None:
    assert cross_site(method, {**HOST, **headers}) is refused
