"""`SINK_URL` -> a sink: `file://DIR` (the default) or `http(s)://...`; anything else is refused."""

from __future__ import annotations

from core.clock import Clock
from core.sinks.contract import Sink
from core.sinks.file import FileSink
from core.sinks.http import HttpSink, redacted

DEFAULT_SINK_URL = "file://var/destination"


def open_sink(url: str, *, clock: Clock | None = None) -> Sink:
    """Build the destination a `SINK_URL` names.

    `file://DIR`: everything after `file://` is the directory, so `file:///srv/out` is absolute and
    `file://var/out` is relative to the working directory.
    """
    scheme, separator, rest = url.strip().partition("://")
    if separator and scheme.lower() == "file":
        if not rest:
            raise ValueError("SINK_URL 'file://' names no directory: use file://DIR")
        return FileSink(rest, clock=clock)
    if separator and scheme.lower() in ("http", "https"):
        try:
            return HttpSink(url.strip())
        except Exception as exc:  # httpx.InvalidURL and friends: say what is wrong without the token
            raise ValueError(
                f"SINK_URL {_shown(url)!r} is not a usable http(s) URL: {type(exc).__name__}"
            ) from None
    raise ValueError(f"SINK_URL {_shown(url)!r} is not supported: use file://DIR or http(s)://HOST/PATH")


def _shown(url: str) -> str:
    """The value as it can be shown: an http(s) URL loses its path, which may hold a token."""
    scheme, separator, rest = url.strip().partition("://")
    if not separator:
        return url
    try:
        return redacted(url.strip())
    except Exception:
        return f"{scheme}://{rest.split('/', 1)[0]}/…"
