"""`mimecast-source fetch`: read one collection with the real client, records as NDJSON on stdout.

It lets an operator check credentials and see real data before creating a source. Progress goes to
stderr; the exit code says how it ended: 0 read, 2 a configuration error (Mimecast's own words),
3 Mimecast failed. A short rate limit is waited out and the read goes on from the last page.
"""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import click
import httpx
from pydantic import ValidationError

from core.clock import Clock, SystemClock
from core.errors import RateLimited, SourceError, ThirdPartyConfigError
from core.mimecast.auth import MemoryTokenCache, Session, TokenFlow
from core.mimecast.batchfiles import BatchFileReader
from core.mimecast.client import MimecastClient
from core.mimecast.fetcher import Fetcher
from core.mimecast.records import parse_time
from core.mimecast.streams import Collection, PagingKind, StreamSpec, spec_for
from core.mimecast.windows import initial_cursor, reach_gap
from core.models import Credentials, Cursor, Page, Record
from worker.settings import Settings

EXIT_CONFIG, EXIT_UPSTREAM = 2, 3
# SIEM batch files come in publication order, not time order: a file of an earlier period may
# follow a later one by some minutes. A read bounded by --until stops at the first chunk whose
# records all lie this far past it.
BATCH_UNTIL_SLACK = timedelta(hours=1)
RATE_LIMIT_WAIT_MAX = 60.0
RATE_LIMIT_RETRIES = 5
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """ISO 8601 (UTC unless an offset is given), or a time ago such as 90m, 6h or 2d."""
    if value is None:
        return None
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = relative.groups()
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither ISO 8601 nor a time ago such as 90m, 6h or 2d"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass
class Tally:
    pages: int = 0
    records: int = 0
    gaps: int = 0
    quarantined: int = 0


@dataclass(frozen=True)
class Bounds:
    """What to print: records in `[since, until)` (SIEM batch files only; windows are bounded already)."""

    since: datetime | None
    until: datetime | None
    limit: int | None

    def keep(self, spec: StreamSpec, record: Record) -> bool:
        if spec.paging is not PagingKind.BATCH:
            return True
        time = parse_time(record.raw.get("timestamp"))
        if time is None:
            return True
        return (self.since is None or time >= self.since) and (self.until is None or time < self.until)

    def past(self, spec: StreamSpec, page: Page) -> bool:
        """A SIEM batch chunk whose every record lies well past `until`: nothing earlier follows."""
        if spec.paging is not PagingKind.BATCH or self.until is None or not page.records:
            return False
        times = [parse_time(record.raw.get("timestamp")) for record in page.records]
        return all(time is not None and time >= self.until + BATCH_UNTIL_SLACK for time in times)


def _say(text: str) -> None:
    click.echo(text, err=True)


def _print(records: list[Record]) -> None:
    if records:
        sys.stdout.write("".join(json.dumps(r.raw, ensure_ascii=False) + "\n" for r in records))
        sys.stdout.flush()


def _page(spec: StreamSpec, page: Page, bounds: Bounds, tally: Tally) -> bool:
    """Print one page and report it; True when the read should stop here."""
    records = [record for record in page.records if bounds.keep(spec, record)]
    done = bounds.past(spec, page)
    if bounds.limit is not None and tally.records + len(records) >= bounds.limit:
        records, done = records[: bounds.limit - tally.records], True
    _print(records)
    tally.pages += 1
    tally.records += len(records)
    for gap in page.gaps:
        tally.gaps += 1
        _say(f"gap: {gap.what}: {gap.reason}")
    for line in page.quarantined:
        tally.quarantined += 1
        _say(f"quarantined: {line.source} at {line.position}: {line.reason}")
    if records:
        _say(f"page {tally.pages}: {len(records)} records ({tally.records} in all)")
    return done


def read(fetcher: Fetcher, spec: StreamSpec, cursor: Cursor, bounds: Bounds, clock: Clock) -> Tally:
    """Pages from `cursor` until Mimecast has nothing more, or the bounds are reached."""
    tally, waits = Tally(), 0
    while True:
        try:
            with closing(fetcher.pages(spec, cursor)) as pages:
                for page in pages:
                    cursor = page.end
                    if _page(spec, page, bounds, tally):
                        return tally
            return tally
        except RateLimited as limited:
            waits += 1
            if waits > RATE_LIMIT_RETRIES or limited.wait_seconds > RATE_LIMIT_WAIT_MAX:
                raise
            _say(f"rate limited by Mimecast: waiting {limited.wait_seconds:.0f} s")
            clock.sleep(limited.wait_seconds)


def _credentials(settings: Settings) -> Credentials:
    if not settings.mimecast_client_id or settings.mimecast_client_secret is None:
        raise ThirdPartyConfigError("set MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET")
    return Credentials(settings.mimecast_client_id, settings.mimecast_client_secret.get_secret_value())


def _collect(spec: StreamSpec, bounds: Bounds, clock: Clock) -> Tally:
    settings = Settings()
    credentials = _credentials(settings)
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    with MimecastClient(settings.mimecast_url, clock, timeout=timeout) as client:
        flow = TokenFlow(MemoryTokenCache(clock), client.request_token, clock)
        fetcher = Fetcher(Session(client, flow, credentials), BatchFileReader(client), clock)
        now = clock.now()
        skipped = 0
        if bounds.since is not None and (gap := reach_gap(spec, bounds.since, now)) is not None:
            _say(f"gap: {gap.what}: {gap.reason}")
            skipped = 1
        cursor = initial_cursor(spec, now, since=bounds.since, until=bounds.until)
        tally = read(fetcher, spec, cursor, bounds, clock)
        tally.gaps += skipped  # the summary counts every `gap:` line printed
        return tally


@click.command()
@click.option("--collection", type=click.Choice([c.value for c in Collection]), required=True)
@click.option("--since", callback=moment, help="Oldest record to read [default: the stream's lookback].")
@click.option("--until", callback=moment, help="Read records older than this only [default: now].")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after this many records.")
@click.option("--siem-streaming", is_flag=True, help="Read SIEM through the 24-hour streaming endpoint.")
def fetch(
    collection: str, since: datetime | None, until: datetime | None, limit: int | None, siem_streaming: bool
) -> None:
    """Print a collection's records as NDJSON, with the credentials and gateway of the environment.

    MIMECAST_CLIENT_ID and MIMECAST_CLIENT_SECRET are the API 2.0 application's keys;
    MIMECAST_GATEWAY (global, us, uk) or MIMECAST_BASE_URL says where Mimecast is.
    """
    if since is not None and until is not None and until <= since:
        raise click.BadParameter("--until must be later than --since", param_hint="--until")
    try:
        tally = _collect(
            spec_for(collection, siem_streaming=siem_streaming), Bounds(since, until, limit), SystemClock()
        )
    except (ThirdPartyConfigError, ValidationError) as error:
        _say(f"configuration error: {error}")
        sys.exit(EXIT_CONFIG)
    except SourceError as error:
        _say(f"Mimecast failed: {error}")
        sys.exit(EXIT_UPSTREAM)
    except BrokenPipeError:
        # Whoever read stdout has gone (`| head`): stop quietly, as a Unix filter does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    _say(
        f"{collection}: {_many(tally.records, 'record')} in {_many(tally.pages, 'page')}, "
        f"{_many(tally.gaps, 'gap')}, {_many(tally.quarantined, 'quarantined line')}"
    )


def _many(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
