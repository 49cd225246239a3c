"""`mimecast-source sources progress SOURCE_ID [--follow]`: how far each collection is, in a terminal.

Per collection: records forwarded, the rate over the last minutes, the lag, and while a backfill
runs (the lag falling) an estimate of when it catches up. The figures come from the API's
`.../progress` and `.../progress/history`; the estimates are pure functions of them. `--follow`
redraws the table in place (rich's Live display) until Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from cli.management import EXIT_CODES, Api, api_options, connect, emit

RATE_MINUTES = 5  # the rate is the mean of the last minutes
TREND_MINUTES = 15  # the lag's trend is read over this many minutes
CAUGHT_UP_SECONDS = 900  # a lag below this is a stream keeping up (polls every 5 minutes)
NONE = "-"


@dataclass(frozen=True)
class Row:
    """One collection's line of the view."""

    collection: str
    collected: bool
    forwarded: int
    per_minute: float
    lag: int | None
    lag_basis: str | None
    eta: float | None
    trend: str  # "catching up", "caught up", "falling behind", "steady", "not collected yet", NONE

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "collected": self.collected,
            "recordsForwarded": self.forwarded,
            "recordsPerMinute": round(self.per_minute, 1),
            "lagSeconds": self.lag,
            "lagBasis": self.lag_basis,
            "etaSeconds": None if self.eta is None else round(self.eta),
            "trend": self.trend,
        }


def rate(forwarded: list[int], minutes: int = RATE_MINUTES) -> float:
    """Records per minute over the last `minutes` whole minutes of a per-minute series (the last
    entry, the minute under way, is left out: it would read low). Pure."""
    recent = forwarded[-minutes - 1 : -1]
    return sum(recent) / len(recent) if recent else 0.0


def lag_trend(lags: list[int | None], minutes: int = TREND_MINUTES) -> tuple[str, float | None]:
    """(trend, seconds until the lag is gone) from a per-minute lag series. Pure.

    The lag falls by (speed - 1) seconds every second while a backfill outruns the clock; the
    estimate is the latest lag divided by how fast it fell over the last `minutes` minutes.
    """
    points = [(index, lag) for index, lag in enumerate(lags[-minutes:]) if lag is not None]
    if not points:
        return NONE, None
    last_at, last = points[-1]
    if last < CAUGHT_UP_SECONDS:
        return "caught up", None
    first_at, first = points[0]
    if last_at == first_at:
        return "steady", None
    falling = (first - last) / ((last_at - first_at) * 60)  # lag seconds lost per second
    if falling > 0.001:
        return "catching up", last / falling
    if falling < -0.5:
        return "falling behind", None
    return "steady", None


def rows(progress: dict[str, Any], history: dict[str, Any]) -> list[Row]:
    """The view's rows from the API's two answers. Pure."""
    series = {one["collection"]: one for one in history.get("collections", [])}
    made = []
    for item in progress.get("progress", []):
        name = item["collection"]
        found = series.get(name, {})
        trend, eta = lag_trend(list(found.get("lagSeconds", [])))
        if not item.get("collected"):
            trend = "not collected yet"
        made.append(
            Row(
                collection=name,
                collected=bool(item.get("collected")),
                forwarded=int(item.get("recordsForwarded") or 0),
                per_minute=rate(list(found.get("forwarded", []))),
                lag=item.get("lagSeconds"),
                lag_basis=item.get("lagBasis"),
                eta=eta,
                trend=trend,
            )
        )
    return made


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def table(name: str, shown: list[Row], now: str) -> Table:
    view = Table(title=f"{name} · {now}", title_justify="left", expand=False)
    for heading, justify in (
        ("Collection", "left"),
        ("Records", "right"),
        ("Per minute", "right"),
        ("Lag", "right"),
        ("ETA", "right"),
        ("", "left"),
    ):
        view.add_column(heading, justify=justify)  # type: ignore[arg-type]
    for row in shown:
        lag = duration(row.lag) + (" since commit" if row.lag_basis == "commit" else "")
        view.add_row(
            row.collection,
            f"{row.forwarded:,}",
            f"{row.per_minute:,.1f}",
            lag,
            duration(row.eta) if row.eta is not None else NONE,
            row.trend,
        )
    return view


def _snapshot(api: Api, collector_id: str, source_id: str) -> tuple[dict[str, Any], list[Row]]:
    base = f"/collectors/{collector_id}/sources/{source_id}/progress"
    progress = api.call("GET", base)
    history = api.call("GET", f"{base}/history?minutes={max(RATE_MINUTES + 1, TREND_MINUTES)}")
    return progress, rows(progress, history)


@click.command(epilog=EXIT_CODES)
@click.argument("source_id")
@click.option("--follow", "-F", is_flag=True, help="Redraw the view in place until Ctrl-C.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=5.0,
    show_default=True,
    help="Seconds between redraws.",
)
@api_options
def progress(source_id: str, follow: bool, interval: float, as_json: bool, **options: Any) -> None:
    """Records, rate, lag and, while a backfill runs, an ETA for each collection of a source."""
    api = connect(options)
    collector_id, source = api.find(source_id)
    name = str(source.get("config", {}).get("name", source_id))
    answer, shown = _snapshot(api, collector_id, source_id)
    console = Console()
    if not follow:
        if as_json:
            emit(_json(source_id, answer, shown))
        else:
            console.print(table(name, shown, str(answer.get("now", ""))))
        return
    # Ctrl-C or SIGTERM ends the view, whatever the dispositions this process inherited.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if as_json:  # one JSON line per redraw, for scripts
            while True:
                click.echo(json.dumps(_json(source_id, answer, shown)))
                time.sleep(interval)
                answer, shown = _snapshot(api, collector_id, source_id)
        with Live(
            table(name, shown, str(answer.get("now", ""))), console=console, auto_refresh=False
        ) as live:
            while True:
                time.sleep(interval)
                answer, shown = _snapshot(api, collector_id, source_id)
                live.update(table(name, shown, str(answer.get("now", ""))), refresh=True)
    except KeyboardInterrupt:
        return


def _json(source_id: str, answer: dict[str, Any], shown: list[Row]) -> dict[str, Any]:
    return {"source": source_id, "now": answer.get("now"), "collections": [row.to_json() for row in shown]}
