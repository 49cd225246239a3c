"""How fast the simulator serves: SIEM batch files and the /api routes, cold (first build) and warm.

The simulator must never be the bottleneck of a benchmark of the collector, so this prints records
per second served, side by side for the first pass (records generated and files built) and a second
pass over the same data (cached).
"""

from __future__ import annotations

import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.simulator import SimulatorProcess

SIEM_RECORDS = 200_000
API_RECORDS = 20_000
BACKLOG_HOURS = 24


def _siem_pass(client: httpx.Client, files: httpx.Client) -> tuple[int, int]:
    """List every published file and download it (without the bearer); (records, calls)."""
    records, calls, token = 0, 0, None
    while True:
        params = {"pageSize": "100", **({"nextPage": token} if token else {})}
        page = client.get("/siem/v1/batch/events/cg", params=params).raise_for_status().json()
        calls += 1
        for url in dict.fromkeys(item["url"] for item in page["value"]):
            body = files.get(url).raise_for_status().content
            records += gzip.decompress(body).count(b"\n")
        token = page["@nextPage"]
        if page["isCaughtUp"]:
            return records, calls


def _api_pass(client: httpx.Client, path: str, window: dict[str, str]) -> tuple[int, int]:
    records, calls, token = 0, 0, None
    while True:
        pagination = {"pageSize": 500, **({"pageToken": token} if token else {})}
        body = {"meta": {"pagination": pagination}, **({} if token else {"data": [window]})}
        page = client.post(path, json=body).raise_for_status().json()
        calls += 1
        data = page["data"]
        records += len(data[0]["dlpLogs"]) if path.endswith("get-logs") else len(data)
        token = page["meta"]["pagination"].get("next")
        if not token:
            return records, calls


def main() -> None:
    minutes = BACKLOG_HOURS * 60
    rates = {
        "siem": -(-SIEM_RECORDS // minutes),
        "dlp": -(-API_RECORDS // minutes),
        "auditEvent": -(-API_RECORDS // minutes),
    }
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimulatorProcess(
            Path(tmp),
            backlog_hours=BACKLOG_HOURS,
            collection_rates=rates,
            events_per_minute=20,
            quota_batch=(100_000, 900),
            quota_api=(100_000, 60),
            batch_lag_minutes=0,
            batch_jitter_minutes=0,
        )
        sim.start()
        try:
            client = httpx.Client(
                base_url=sim.url, headers={"Authorization": f"Bearer {sim.token()}"}, timeout=300
            )
            files = httpx.Client(timeout=300)
            window = {"from": "2000-01-01T00:00:00+0000", "to": "2100-01-01T00:00:00+0000"}
            audit_window = {"startDateTime": window["from"], "endDateTime": window["to"]}
            runs: dict[str, Callable[[], tuple[int, int]]] = {
                "siem batch files": lambda: _siem_pass(client, files),
                "dlp /api": lambda: _api_pass(client, "/api/dlp/get-logs", window),
                "audit /api": lambda: _api_pass(client, "/api/audit/get-audit-events", audit_window),
                "hold list /api": lambda: _api_pass(client, "/api/gateway/get-hold-message-list", {}),
            }
            print("simulator: records per second served (one client, loopback)")
            header = ("route", "records", "calls", "cold rec/s", "warm rec/s", "warm/cold")
            print("{:<18}{:>10}{:>8}{:>14}{:>14}{:>11}".format(*header))
            for name, run in runs.items():
                figures = []
                for _ in range(2):
                    began = time.perf_counter()
                    records, calls = run()
                    figures.append(records / (time.perf_counter() - began))
                cold, warm = figures
                print(f"{name:<18}{records:>10}{calls:>8}{cold:>14,.0f}{warm:>14,.0f}{warm / cold:>10.1f}x")
        finally:
            sim.stop()


if __name__ == "__main__":
    main()
