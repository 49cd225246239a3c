"""A destination resource (name, type, config with its secrets) -> the sink that writes to it."""

from __future__ import annotations

from typing import Any

from core.clock import Clock
from core.sinks.contract import Sink
from core.sinks.endpoint import EndpointSink
from core.sinks.file import FileSink
from core.sinks.http import HttpSink
from core.sinks.s3 import S3Sink
from core.sinks.splunk import SplunkHecSink
from core.sinks.syslog import SyslogSink


def open_destination(name: str, kind: str, config: dict[str, Any], *, clock: Clock | None = None) -> Sink:
    """The sink of a checked config (`specs.check`) with its secrets joined back in."""
    if kind == "file":
        return FileSink(config["path"], clock=clock)
    if kind == "sumo":
        return HttpSink(config["url"])
    if kind == "splunkHec":
        return SplunkHecSink(name, config, clock=clock)
    if kind == "syslog":
        return SyslogSink(name, config, clock=clock)
    if kind == "s3":
        return S3Sink(name, config, clock=clock)
    if kind == "http":
        return EndpointSink(name, config)
    raise ValueError(f"destination {name!r}: unknown type {kind!r}")
