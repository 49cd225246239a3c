"""The file destination (the default): NDJSON files, one per batch, written exactly once.

Layout under the root directory:

    <root>/<source id>/<collection>/<UTC date>/<batch id>.ndjson   the batch's lines, in order
    <root>/<source id>/<collection>/.batches/<batch id>            symlink to the file above

The symlink is the batch's claim on a date. It is made first and never changes, so a batch retried
after midnight (or after a crash between claim and data) lands in the same file, not a new day's.
Data is written to a hidden temporary file, fsynced, renamed into place and its directory fsynced:
a reader never sees a partial batch file, and a batch written twice appears once.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

from core.clock import Clock, SystemClock
from core.models import JsonObject
from core.sinks.contract import Batch, unreachable
from core.sinks.encoding import ndjson_lines

CLAIMS = ".batches"


class FileSink:
    """Writes each batch to `<root>/<source id>/<collection>/<UTC date>/<batch id>.ndjson`."""

    def __init__(self, root: Path | str, *, clock: Clock | None = None) -> None:
        self.root = Path(root)
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:
        return f"FileSink({str(self.root)!r})"

    def write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        try:
            self._write(batch)
        except OSError as exc:
            raise unreachable(f"file destination {self.root}: {exc.strerror or type(exc).__name__}") from exc

    def batch_path(self, batch: Batch) -> Path | None:
        """Where the batch's file is (or will be), if it has claimed a date."""
        claim = self.root / batch.source_id / batch.collection / CLAIMS / batch.id
        try:
            return claim.parent / os.readlink(claim)
        except FileNotFoundError:
            return None

    def _write(self, batch: Batch) -> None:
        stream_dir = self.root / batch.source_id / batch.collection
        claims = stream_dir / CLAIMS
        _make_dirs(claims)
        claim = claims / batch.id
        wanted = f"../{self._clock.now().astimezone(UTC).date().isoformat()}/{batch.id}.ndjson"
        try:
            os.symlink(wanted, claim)
            _fsync_dir(claims)
        except FileExistsError:
            pass
        target = Path(os.path.normpath(claims / os.readlink(claim)))
        if target.exists():
            _fsync_dir(target.parent)  # a crash may have come between rename and fsync
            return
        _make_dirs(target.parent)
        temporary = target.parent / f".{batch.id}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            with temporary.open("xb") as handle:
                handle.write(ndjson_lines(batch))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def healthcheck(self) -> None:
        """The root exists (or can be made) and takes a file."""
        try:
            _make_dirs(self.root)
            probe = self.root / f".healthcheck.{os.getpid()}.{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise unreachable(f"file destination {self.root}: {exc.strerror or type(exc).__name__}") from exc

    def close(self) -> None:
        pass


def read_destination(root: Path | str) -> Iterator[JsonObject]:
    """Every line under a file destination, parsed: by source, collection, date, then batch id."""
    for path in sorted(Path(root).glob("*/*/*/*.ndjson")):
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)


def _make_dirs(path: Path) -> None:
    """mkdir -p, fsyncing each new directory's parent so the entry survives a power cut."""
    missing: list[Path] = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
        _fsync_dir(directory.parent)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
