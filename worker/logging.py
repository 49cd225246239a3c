"""JSON log lines for every process: one object per line, ids bound per task, secrets masked.

Each line has `time`, `level`, `logger`, `message`, and `source_id`, `collection`, `collector_id`,
`task_id`, `task` when known. A Celery task gets its ids bound in `task_prerun`, from its own
arguments (`source_id`, `collection`, `collector_id`, or a `stream` id `<source>:<collection>`), so
task authors add nothing; a log call may pass `extra={"source_id": ..., "collection": ...}` (or
`source`) to name others. The API's access lines carry the collector and source ids of their path.

Celery's lines leave out task return values and arguments (ours carry records). A redaction
filter on the handler masks what must never be written: values of secret-named fields
(in the message text and in `extra`), bearer and basic credentials, Fernet keys and tokens,
passwords in URLs and the signatures of pre-signed URLs. httpx's line per request is kept for
`LOG_LEVEL=DEBUG`.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

IDS = ("source_id", "collection", "collector_id", "task_id", "task")
MASK = "***"
SECRET_NAMES = re.compile(
    r"(?i)^(client_?secret|secrets?_key|api_access_key|access_?key|password|passwd|authorization"
    r"|access_token|refresh_token|token|mimecast_client_secret|x-sim-token|flower_basic_auth)$"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `clientSecret": "x"`, `client_secret=x`, `'api_access_key': 'x'` ...
    (
        re.compile(
            r"(?i)(\b(?:client_?secret|secrets?_key|api_access_key|access_?key|password|access_token"
            r"|refresh_token)[\"']?\s*[:=]\s*[\"']?)([^\"'&,;\s}]+)"
        ),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {MASK}"),
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), MASK),  # Fernet tokens
    # Fernet keys, also percent-encoded (in a URL path)
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?:=|%3D)(?![A-Za-z0-9_=-])"), MASK),
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]+@"), rf"\1{MASK}@"),  # passwords in URLs
    # The signature (and session token) of a pre-signed URL: anyone holding it can download the
    # tenant's SIEM batch file until it expires (S3, Google Cloud Storage, Azure SAS names).
    (
        re.compile(
            r"(?i)([?&](?:x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)"
            r"|signature|sig)=)[^&\s\"'#]+"
        ),
        rf"\1{MASK}",
    ),
)
# Libraries that log a line per HTTP request at INFO (with its full URL): at DEBUG only.
CHATTY_LOGGERS = ("httpx", "httpcore")
_PATH_IDS = re.compile(r"/collectors/([^/?\s]+)(?:/sources/([^/?\s]+))?")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
_bound: ContextVar[Mapping[str, str]] = ContextVar("log_ids", default={})  # noqa: B039 - never mutated


def redact(text: str) -> str:
    """`text` with anything that looks like a secret replaced by `***`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(name: str, value: Any) -> Any:
    if SECRET_NAMES.match(name):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(key): _clean(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean("", item) for item in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))


class RedactingFilter(logging.Filter):
    """Renders the message once, masked; masks secret-named and secret-looking `extra` values."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD:
                record.__dict__[name] = _clean(name, value)
        return True


class TaskResultFilter(logging.Filter):
    """Celery logs a task's return value and arguments; ours carry records (mail addresses,
    subjects ...), which belong in the destination, not in logs. They are left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("celery."):
            if isinstance(record.args, Mapping) and "return_value" in record.args:
                record.args = {**record.args, "return_value": "(not logged)"}
            data = record.__dict__.get("data")
            if isinstance(data, Mapping):
                hidden = ("return_value", "args", "kwargs")
                record.__dict__["data"] = {key: value for key, value in data.items() if key not in hidden}
        return True


class AccessIdsFilter(logging.Filter):
    """Gives uvicorn's access lines their method, path, status and the ids in the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            _client, method, path, _version, status = args
            record.__dict__.update(method=str(method), path=str(path), status=status)
            found = _PATH_IDS.search(str(path))
            if found:
                record.__dict__["collector_id"] = found.group(1)
                if found.group(2):
                    record.__dict__["source_id"] = found.group(2)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ms), level, logger, message, the ids, extras."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            "time": stamp.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        extras = {name: value for name, value in record.__dict__.items() if name not in _STANDARD}
        if "source" in extras and "source_id" not in extras:
            extras["source_id"] = extras.pop("source")
        for name, value in {**_bound.get(), **extras}.items():
            if value is not None and value != "":
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: int | str | None = None) -> None:
    """Every record of this process, uvicorn's and Celery's included, as JSON lines on stderr."""
    chosen = level if level is not None else os.environ.get("LOG_LEVEL", "INFO")
    handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TaskResultFilter())
    handler.addFilter(AccessIdsFilter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen.upper() if isinstance(chosen, str) else chosen)
    for name, threshold in library_levels(root.level).items():
        logging.getLogger(name).setLevel(threshold)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "flower"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)


def library_levels(level: int) -> dict[str, int]:
    """The level of each chatty library logger under a root `level`: its per-request lines (a
    Mimecast call, a batch-file download: thousands an hour) only when debugging."""
    return {name: max(level, logging.WARNING) if level > logging.DEBUG else level for name in CHATTY_LOGGERS}


def bind(**ids: str | None) -> Token[Mapping[str, str]]:
    """Add ids to every line logged in this context until `unbind(token)`."""
    merged = {**_bound.get(), **{name: value for name, value in ids.items() if value}}
    return _bound.set(merged)


def unbind(token: Token[Mapping[str, str]]) -> None:
    _bound.reset(token)


@contextmanager
def bound(**ids: str | None) -> Iterator[None]:
    token = bind(**ids)
    try:
        yield
    finally:
        unbind(token)


def task_ids(task: Any, args: Any, kwargs: Any) -> dict[str, str]:
    """The source, collection and collector a task works on, read from its own arguments."""
    try:
        arguments = dict(inspect.signature(task.run).bind_partial(*(args or ()), **(kwargs or {})).arguments)
    except (TypeError, ValueError):
        arguments = dict(kwargs or {})
    found = {name: str(arguments[name]) for name in IDS[:3] if isinstance(arguments.get(name), str | int)}
    stream = arguments.get("stream")
    if isinstance(stream, str) and ":" in stream:
        source_id, _, collection = stream.partition(":")
        found.setdefault("source_id", source_id)
        found.setdefault("collection", collection)
    return found


_task_tokens: dict[str, Token[Mapping[str, str]]] = {}


def _on_task_prerun(task_id: str | None = None, task: Any = None, **signal: Any) -> None:
    ids = task_ids(task, signal.get("args"), signal.get("kwargs"))
    token = bind(task_id=task_id, task=getattr(task, "name", None), **ids)
    if task_id:
        _task_tokens[task_id] = token


def _on_task_postrun(task_id: str | None = None, **_: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        with suppress(ValueError):  # set in another context (a thread pool): nothing bound here
            unbind(token)


def _on_setup_logging(loglevel: int | str | None = None, **_: Any) -> None:
    configure(loglevel or None)


def install() -> None:
    """Take over Celery's logging (its `setup_logging` signal) and bind task ids per task."""
    from celery import signals

    signals.setup_logging.connect(_on_setup_logging, weak=False)
    signals.task_prerun.connect(_on_task_prerun, weak=False)
    signals.task_postrun.connect(_on_task_postrun, weak=False)
    configure()
