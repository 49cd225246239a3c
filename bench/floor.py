"""The floor of P1: the least work the product's duties take per record, in plain processes.

P1 compares the deployed pipeline with a loop that copies bytes. The pipeline also owes every
record duties that loop does not do, whatever the implementation: a SIEM line is checked as one
JSON object and the fields of its stable id are read from it; every record gets that id (the
product's rules: a SIEM event's Kafka coordinates or its text, digested; an /api record's own id,
or a digest of its sorted fields), its log type and the source's metadata in the destination's
envelope; and each batch is durable before the next one is taken (a temporary file written and
fsynced, renamed into place, its directory fsynced), so that a crash loses nothing.

This module does those duties and nothing more, as lean as it can, with the libraries the product
already depends on (msgspec, orjson, isal) and none of the product's own code: no Celery, Redis,
lease, checkpoint, claim on a date, quarantine, metrics or health; HTTP with the standard library,
as the reference loop does. With N processes, N forked processes take the three /api collections
and then the SIEM files, as the parent lists them, from one queue: a perfect split, with none of the
pipeline's coordination. So its ratio to the reference loop bounds what the pipeline can reach with
those duties on this machine; the pipeline's own ratio below it is what its engine costs.

Its output has the file destination's layout and lines (ids, envelope), so `bench.backlog`
checks it against the ground truth like the pipeline's.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import msgspec
import orjson
from isal import igzip

from bench import reference

SOURCE_ID = "floor"
METADATA = b'{"_source":"bench","_collector":"bench"}'
BATCH_RECORDS = 5000  # the product's records per batch (`MAX_RECORDS_PER_CHUNK`)
GROUP_BYTES = 1_048_576  # the files of one task, as listed (the pipeline's `CHILD_BYTES`)
WAIT_SECONDS = 600.0  # for each process's totals
OWN_ID = {"auditEvent": "id", "holdMessageList": "id"}  # DLP records have none: a digest


class _Head(msgspec.Struct, rename={"partition": "_partition", "offset": "_offset"}):
    """A SIEM line's id fields; decoding it checks the whole line is one JSON object."""

    type: object = None
    eventType: object = None
    accountId: object = None
    partition: object = None
    offset: object = None


_head = msgspec.json.Decoder(_Head).decode


@dataclass(frozen=True)
class Drained:
    records: int
    batches: int
    seconds: float
    skipped: int  # lines that are not a JSON object (the product quarantines them)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class Destination:
    """Batches written durably in the file destination's layout: <root>/<source>/<collection>/<day>/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.day = time.strftime("%Y-%m-%d", time.gmtime())
        self._made: set[Path] = set()

    def write(self, collection: str, batch_id: str, body: bytes) -> None:
        directory = self.root / SOURCE_ID / collection / self.day
        if directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)
        temporary = directory / f".{batch_id}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, directory / f"{batch_id}.ndjson")
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def _kind(head: _Head) -> str:
    kind = head.type or head.eventType
    return str(kind) if kind else "siem"


def _siem_id(head: _Head, kind: str, line: bytes) -> str:
    if head.partition is not None and head.offset is not None:
        material = f"{head.accountId}\x1f{kind}\x1f{head.partition}\x1f{head.offset}"
        return "siem-" + _digest(material.encode())
    return "siem-" + _digest(line.strip())


def _batch_id(collection: str, start: str, ids: list[str]) -> str:
    material = start + "\n" + "\n".join(ids)
    return f"{collection}-{hashlib.sha256(material.encode()).hexdigest()[:40]}"


class _Middles(dict[str, bytes]):
    """The envelope between a record's id and its text, per collection and log type."""

    def __init__(self, collection: str) -> None:
        super().__init__()
        self.collection = orjson.dumps(collection)

    def __missing__(self, kind: str) -> bytes:
        middle = self[kind] = (
            b'","dataCollection":' + self.collection + b',"logType":' + orjson.dumps(kind)
            + b',"metadata":' + METADATA + b',"message":'
        )  # fmt: skip
        return middle


def _envelope(ids: list[str], middles: Iterable[bytes], texts: Iterable[bytes]) -> bytes:
    encoded = (one.encode() for one in ids)
    return b"".join(chain.from_iterable(zip(repeat(b'{"id":"'), encoded, middles, texts, repeat(b"}\n"))))


def siem_files(http: reference.Connections, out: Destination, urls: list[str]) -> tuple[int, int, int]:
    """A group of batch files (a child of the pipeline's), read in order, their lines in batches that
    end at a file's end once they hold `BATCH_RECORDS` (as the pipeline's do); (records, batches,
    lines skipped)."""
    middles = _Middles("siem")
    records = batches = skipped = 0
    kinds: list[str] = []  # the pending batch's log types, ids and lines
    ids: list[str] = []
    texts: list[bytes] = []
    start = ""

    def flush() -> None:
        nonlocal records, batches
        body = _envelope(ids, map(middles.__getitem__, kinds), texts)
        out.write("siem", _batch_id("siem", start, ids), body)
        records += len(ids)
        batches += 1
        kinds.clear()
        ids.clear()
        texts.clear()

    for url in urls:
        key = urllib.parse.urlsplit(url).path
        lines = [line for line in _gunzip(http.request(url)).split(b"\n") if line.strip()]
        for first in range(0, len(lines), BATCH_RECORDS):
            chunk = lines[first : first + BATCH_RECORDS]
            try:
                heads = list(map(_head, chunk))
            except msgspec.DecodeError:
                kept = [(head, line) for line in chunk if (head := _checked(line)) is not None]
                skipped += len(chunk) - len(kept)
                heads, chunk = [head for head, _ in kept], [line for _, line in kept]
            if not ids:
                start = f"{key}:{first}"
            chunk_kinds = list(map(_kind, heads))
            kinds += chunk_kinds
            ids += map(_siem_id, heads, chunk_kinds, chunk)
            texts += chunk
            if len(ids) >= BATCH_RECORDS:
                flush()
    if ids:
        flush()
    return records, batches, skipped


def _gunzip(data: bytes) -> bytes:
    """A whole gzip file (several members allowed), inflated by ISA-L as the product does."""
    inflated: bytes = igzip.decompress(data)  # type: ignore[no-untyped-call]
    return inflated


def _checked(line: bytes) -> _Head | None:
    try:
        return _head(line)
    except msgspec.DecodeError:
        return None


def api_collection(http: reference.Connections, out: Destination, base: str, bearer: dict[str, str],
                   collection: str) -> tuple[int, int]:  # fmt: skip
    """Every record of one /api collection, in batches of up to `BATCH_RECORDS`; (records, batches)."""
    middle = _Middles(collection)[collection]
    records = batches = 0
    pending: list[Any] = []

    def flush() -> None:
        nonlocal records, batches
        ids = [_api_id(collection, record) for record in pending]
        texts = list(map(orjson.dumps, pending))
        out.write(collection, _batch_id(collection, str(records), ids), _envelope(ids, repeat(middle), texts))
        records += len(pending)
        batches += 1
        pending.clear()

    for record in _records(http, base, bearer, collection):
        pending.append(record)
        if len(pending) == BATCH_RECORDS:
            flush()
    if pending:
        flush()
    return records, batches


def _api_id(collection: str, record: Any) -> str:
    own = record.get(OWN_ID.get(collection, ""))
    if isinstance(own, str) and own:
        return own
    return f"{collection}-{_digest(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))}"


def _records(
    http: reference.Connections, base: str, bearer: dict[str, str], collection: str
) -> Iterator[Any]:
    """The reference loop's /api paging, its pages parsed with orjson instead of json."""
    path, (start, end), nested = reference.API_ROUTES[collection]
    token: str | None = None
    while True:
        body: dict[str, Any] = {
            "meta": {"pagination": {"pageSize": 500, **({"pageToken": token} if token else {})}}
        }
        if token is None:
            body["data"] = [{start: reference.OPEN_WINDOW[0], end: reference.OPEN_WINDOW[1]}]
        headers = {**bearer, "Content-Type": "application/json"}
        answer = orjson.loads(http.request(base + path, "POST", orjson.dumps(body), headers))
        data = answer["data"]
        yield from (data[0][nested] if nested and data else data)
        token = answer["meta"]["pagination"].get("next")
        if not token:
            return


def _file_groups(http: reference.Connections, base: str, bearer: dict[str, str]) -> Iterator[list[str]]:
    """Every listed batch file once (the reference loop's listing), in groups of consecutive files
    of at most `GROUP_BYTES` as listed (one file at least), as the pipeline's children."""
    group: list[str] = []
    size = 0
    for item in reference.listed_files(http, base, bearer):
        listed = int(item.get("size") or 0)
        if group and size + listed > GROUP_BYTES:
            yield group
            group, size = [], 0
        group.append(item["url"])
        size += listed
    if group:
        yield group


def _bearer(http: reference.Connections, base: str, client_id: str, client_secret: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + reference._token(http, base, client_id, client_secret)}


def _work(base: str, bearer: dict[str, str], root: Path, tasks: Any, done: Any) -> None:
    """A process of the floor: take tasks (an /api collection, a group of file URLs) until None."""
    http = reference.Connections()
    out = Destination(root)
    records = batches = skipped = 0
    try:
        while (task := tasks.get()) is not None:
            kind, what = task
            if kind == "api":
                count, made = api_collection(http, out, base, bearer, what)
                records, batches = records + count, batches + made
            else:
                count, made, bad = siem_files(http, out, what)
                records, batches, skipped = records + count, batches + made, skipped + bad
    finally:
        http.close()
        done.put((records, batches, skipped))


def drain(base: str, client_id: str, client_secret: str, root: Path, processes: int) -> Drained:
    """Every record of the simulator at `base` into `root`, by `processes` forked processes."""
    context = multiprocessing.get_context("fork")
    tasks, done = context.Queue(), context.Queue()
    began = time.perf_counter()
    http = reference.Connections()
    try:
        bearer = _bearer(http, base, client_id, client_secret)
        workers = [
            context.Process(target=_work, args=(base, bearer, root, tasks, done)) for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        for collection in reference.API_ROUTES:
            tasks.put(("api", collection))
        for group in _file_groups(http, base, bearer):
            tasks.put(("files", group))
    finally:
        http.close()
        for _ in range(processes):
            tasks.put(None)
    totals = [done.get(timeout=WAIT_SECONDS) for _ in range(processes)]  # a process killed: no hang
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - began
    if any(worker.exitcode for worker in workers):
        raise RuntimeError(f"a floor process failed: exit codes {[worker.exitcode for worker in workers]}")
    return Drained(
        records=sum(each[0] for each in totals),
        batches=sum(each[1] for each in totals),
        seconds=seconds,
        skipped=sum(each[2] for each in totals),
    )
