"""The reference loop of P1: every record of a Mimecast API (the simulator) copied into one file.

Written with the Python standard library only (http.client, gzip, json): no Celery, no Redis and
none of the project's code, so a slow piece shared with the pipeline cannot hide on both sides of
the ratio. `bench.pipeline_vs_reference` checks that this module imports nothing else.

One process, one keep-alive connection per host, pages at the API's maxima: SIEM batch listings of
100 files (a URL listed twice on a page is read once), /api pages of 500 records. Each record is
written as one line, `{"dataCollection": ..., "message": <the record>}`; SIEM batch lines are
copied as they come, /api records are serialized again from the parsed page.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

OPEN_WINDOW = ("2000-01-01T00:00:00+0000", "2100-01-01T00:00:00+0000")
# /api routes: path, the filter's window field names, where the records are in `data`.
API_ROUTES = {
    "dlp": ("/api/dlp/get-logs", ("from", "to"), "dlpLogs"),
    "auditEvent": ("/api/audit/get-audit-events", ("startDateTime", "endDateTime"), None),
    "holdMessageList": ("/api/gateway/get-hold-message-list", ("start", "end"), None),
}


class Connections:
    """One keep-alive HTTP connection per host:port."""

    def __init__(self) -> None:
        self._open: dict[str, http.client.HTTPConnection] = {}

    def request(
        self, url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        parts = urllib.parse.urlsplit(url)
        connection = self._open.get(parts.netloc)
        if connection is None:
            kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            connection = self._open[parts.netloc] = kind(parts.netloc, timeout=300)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {parts.path}: HTTP {response.status}: {content[:300]!r}")
        return content

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()


def _token(http: Connections, base: str, client_id: str, client_secret: str) -> str:
    form = urllib.parse.urlencode(
        {"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"}
    ).encode()
    answer = http.request(
        base + "/oauth/token", "POST", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    token: str = json.loads(answer)["access_token"]
    return token


def listed_files(http: Connections, base: str, bearer: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Every item of the SIEM batch listings, followed to `isCaughtUp`; a URL listed twice, once."""
    seen: set[str] = set()
    next_page: str | None = None
    while True:
        query = {"pageSize": "100", **({"nextPage": next_page} if next_page else {})}
        page = json.loads(
            http.request(f"{base}/siem/v1/batch/events/cg?{urllib.parse.urlencode(query)}", headers=bearer)
        )
        for item in page["value"]:
            key = urllib.parse.urlsplit(item["url"]).path
            if key not in seen:
                seen.add(key)
                yield item
        if page["isCaughtUp"]:
            return
        next_page = page["@nextPage"]


def _siem_lines(http: Connections, base: str, bearer: dict[str, str]) -> Iterator[bytes]:
    """Every line of every published batch file."""
    for item in listed_files(http, base, bearer):
        yield from gzip.decompress(http.request(item["url"])).splitlines()


def _api_records(http: Connections, base: str, bearer: dict[str, str], collection: str) -> Iterator[Any]:
    """Every record of one /api route over an open window, page token after page token."""
    path, (start, end), nested = API_ROUTES[collection]
    token: str | None = None
    while True:
        pagination: dict[str, Any] = {"pageSize": 500, **({"pageToken": token} if token else {})}
        body: dict[str, Any] = {"meta": {"pagination": pagination}}
        if token is None:
            body["data"] = [{start: OPEN_WINDOW[0], end: OPEN_WINDOW[1]}]
        headers = {**bearer, "Content-Type": "application/json"}
        answer = json.loads(http.request(base + path, "POST", json.dumps(body).encode(), headers))
        if answer.get("fail"):
            raise RuntimeError(f"{path}: {answer['fail']}")
        data = answer["data"]
        yield from (data[0][nested] if nested and data else data)
        token = answer["meta"]["pagination"].get("next")
        if not token:
            return


def copy_every_record(base: str, client_id: str, client_secret: str, out: str) -> dict[str, int]:
    """Copy the four collections into the file `out`; the records copied per collection."""
    http = Connections()
    counts = dict.fromkeys(("siem", *API_ROUTES), 0)
    try:
        bearer = {"Authorization": "Bearer " + _token(http, base, client_id, client_secret)}
        with open(out, "wb") as sink:
            for line in _siem_lines(http, base, bearer):
                if line:
                    sink.write(b'{"dataCollection":"siem","message":' + line + b"}\n")
                    counts["siem"] += 1
            for collection in API_ROUTES:
                head = b'{"dataCollection":"' + collection.encode() + b'","message":'
                for record in _api_records(http, base, bearer, collection):
                    text = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
                    sink.write(head + text + b"}\n")
                    counts[collection] += 1
            sink.flush()
            os.fsync(sink.fileno())
    finally:
        http.close()
    return counts
