"""factory: SINK_URL names the destination; anything else is refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.sinks.factory import DEFAULT_SINK_URL, open_sink
from core.sinks.file import FileSink
from core.sinks.http import HttpSink


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("file:///srv/out", "/srv/out"),
        ("file://var/out", "var/out"),
        ("FILE:///x", "/x"),
        (DEFAULT_SINK_URL, "var/destination"),
    ],
)
def test_file_urls_name_a_directory(url: str, root: str) -> None:
    sink = open_sink(url)
    assert isinstance(sink, FileSink)
    assert sink.root == Path(root)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/receiver", "https://collectors.example.com/receiver/v1/http/TOKEN"]
)
def test_http_urls_open_an_http_sink_whose_repr_hides_the_token(url: str) -> None:
    sink = open_sink(url)
    try:
        assert isinstance(sink, HttpSink)
        assert "TOKEN" not in repr(sink)
        assert "receiver" not in repr(sink)
    finally:
        sink.close()


REFUSED = [
    (
        "syslog://siem.example:514",
        "SINK_URL 'syslog://siem.example:514/…' is not supported: use file://DIR or http(s)://HOST/PATH",
    ),
    ("/var/out", "SINK_URL '/var/out' is not supported"),
    ("", "SINK_URL '' is not supported"),
    ("file://", "SINK_URL 'file://' names no directory"),
    ("htps://collectors.example.com/receiver/v1/http/SECRET", "SINK_URL 'htps://collectors.example.com/…'"),
    ("https:///no-host/SECRET", "is not a usable http(s) URL"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED, ids=[r[0] or "empty" for r in REFUSED])
def test_anything_else_is_refused_naming_the_value_but_not_its_token(url: str, message: str) -> None:
    with pytest.raises(ValueError, match="SINK_URL") as caught:
        open_sink(url)
    assert message in str(caught.value)
    assert "SECRET" not in str(caught.value)
