"""The page pin, decided purely: what a fetch pins, and what a re-read of a pinned page hands out.

Why: a forward writes its batch to the destination, then commits the checkpoint. A worker killed
in between leaves the checkpoint where it was, and the page is read again. The batch id is
deterministic (`decisions.batch_id`: unit, start cursor, record ids), so the same page makes the
same batch and the destination writes it once. But a window's page can change between the two
reads: Mimecast indexes a record late, inside the window (windows end 5 s before the present, so
this is common). The re-read then holds other ids, its batch id differs, and what the killed
worker wrote would come out twice.

So a fetch pins the page it hands to its forward (`pin_of`; `Coordination.handoff` records it in
the checkpoint, in the hand-off's own script), and the next commit clears it. A fetch that reads
from the pinned start cursor (`matching`, `wanted`) reads on until it has seen every pinned id, then hands out
exactly the pinned records, in the pinned order (`held`): the same batch id as the first attempt.

- Records in the re-read that are not pinned (new ones) must not be lost: the commit after the
  pinned batch stays on the same page (start, window and page token unchanged) with the pinned
  ids added to the cursor's remembered ids (`KnownIds`, by their record time, as `paging` would
  remember them). The next fetch reads that page again, drops the pinned ids as delivered, and
  hands out the new ones: a new start cursor text, hence a new batch, handed out once.
- A pinned id missing from the re-read (Mimecast no longer returns that record) cannot be made
  exactly once: the records still there go out in a batch of another id. The fetch logs it.
- A pin whose start is not the cursor read from is stale (the unit moved on) and ignored.
- A re-read that the rate budget cuts short before it has seen every pinned id hands out nothing
  (`decisions.take` raises `Paced`): the unit waits for the budget and reads the page again.

Only windowed pages are pinned: a SIEM batch file is immutable, so its re-read is the same page.
A reset (a backfill) replaces the checkpoint and clears the pin; a plain restart keeps the
checkpoint, and the pin with it, rightly: the page it names may already be at the destination.

What it costs: the pin rides in the hand-off's script (no extra round trip), about 17 bytes per
record (a 16-hex digest and a comma) and a digest of the start cursor, never the cursor text
itself (it can hold thousands of remembered ids); the checkpoint read carries it only while a page
is in flight or after a crash, and only then is the cursor's text digested to compare. The
known-id memory is capped (`StreamSpec.known_cap`, oldest forgotten first): past the cap, a
pinned id could be forgotten and handed out again (a repeat, never a loss).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from core.mimecast.records import record_time
from core.mimecast.streams import Dedupe, StreamSpec
from core.models import Cursor, Page, Record, WindowCursor, cursor_text, digest


@dataclass(frozen=True)
class Pin:
    """The page a fetch handed to its forward, recorded with the hand-off: a digest of the cursor
    text it was read from (`start`; the text itself can be large: it carries the remembered ids)
    and the digests of its record ids (`core.models.digest`), in batch order. Until the next commit
    clears it, a re-read from that cursor hands out exactly these records (`held`).
    `Coordination.handoff` stores it in the unit's checkpoint; digests are 16 hex characters, so
    `ids` is stored comma-joined."""

    start: str
    ids: tuple[str, ...]


def pin_of(page: Page, start: str) -> Pin | None:
    """The pin of a page about to be handed to a forward, `start` its start cursor's text (as the
    batch id has it): None for a page that is not a window's (an immutable SIEM batch file) or
    holds no record (no batch is written)."""
    if not isinstance(page.start, WindowCursor) or not page.records:
        return None
    return Pin(digest(start), tuple(digest(record.id) for record in page.records))


def matching(pin: Pin | None, cursor: Cursor) -> Pin | None:
    """The pin, if it was recorded for a page read from `cursor` (about to be read again); None
    otherwise (no pin, or a stale one: the unit has moved on since). The cursor's text is made only
    when there is a pin: after a crash, or while another forward holds the lease."""
    if pin is None or not pin.ids or pin.start != digest(cursor_text(cursor)):
        return None
    return pin


def wanted(pin: Pin | None) -> frozenset[str]:
    """The id digests a re-read must see before its batch may end (`decisions.take`)."""
    return frozenset(pin.ids) if pin is not None else frozenset()


@dataclass(frozen=True)
class Held:
    """What a fetch hands out: the page (its records and the cursor to commit after them), how
    many pinned records it no longer found, and how many new ones wait for the next batch."""

    page: Page
    missing: int = 0
    extra: int = 0


def held(spec: StreamSpec, page: Page, pin: Pin | None) -> Held:
    """The page to hand out, given the pin of its start (`matching`), if any.

    Without a pin: the page as read. With one: the pinned records found, in the pinned order. If
    nothing else came with them, the page's end is committed as usual; if new records came too,
    the commit stays on the page's start with the pinned ids remembered, so that the next fetch
    reads the page again and hands out only the new ones (`finished` is False: it follows at once).
    """
    if pin is None:
        return Held(page)
    assert isinstance(page.start, WindowCursor)  # only windowed pages are pinned (`pin_of`)
    found = {digest(record.id): record for record in page.records}
    pinned = frozenset(pin.ids)
    kept = tuple(found[key] for key in pin.ids if key in found)
    extra = [record for record in page.records if digest(record.id) not in pinned]
    missing = len(pinned) - len(kept)
    if not extra:
        return Held(replace(page, records=kept), missing)
    start = page.start
    times = {digest(record.id): _remembered_at(spec, start, record) for record in kept}
    again = replace(start, known=start.known.add(times, spec.known_cap)) if times else start
    return Held(replace(page, records=kept, end=again, finished=False), missing, len(extra))


def told(unit: str, outcome: Held) -> list[tuple[int, str]]:
    """What the fetch logs of a pinned re-read (level, text): a warning when pinned records are
    gone (those still there are written again: not exactly once), a note when new ones follow."""
    lines = []
    if outcome.missing:
        lines.append(
            (
                logging.WARNING,
                f"unit {unit}: {outcome.missing} record(s) of the page handed out before are gone from it; "
                f"the {len(outcome.page.records)} still there go out again under a new batch id "
                "(a copy of them may reach the destination)",
            )
        )
    if outcome.extra:
        lines.append(
            (
                logging.INFO,
                f"unit {unit}: the page handed out before goes out again as it was "
                f"({len(outcome.page.records)} record(s)); {outcome.extra} record(s) Mimecast added to it "
                "since follow as the next batch",
            )
        )
    return lines


def _remembered_at(spec: StreamSpec, cursor: WindowCursor, record: Record) -> int:
    """The time to remember a delivered pinned id by: its record's time (so the window's close
    forgets it once no later window can return it, as `paging` does), or the window's end for a
    record without a readable time and for the hold list, which may list a record in any window."""
    end = cursor.end if cursor.end is not None else cursor.start
    time = record_time(spec, record.raw)
    if time is None or spec.dedupe is Dedupe.LISTED:
        return int(end.timestamp())
    return int(time.timestamp())
