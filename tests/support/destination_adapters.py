"""The destination types of issue 11 as the contract suite sees them: a sink, what the real server
(or protocol receiver) holds, and how to take it down and bring it back.

`held()` is (metadata, record) pairs, de-duplicated the way a user of that destination would:
S3 and the idempotent HTTP endpoint hold each batch once by themselves; syslog and HEC deliver
at least once and are de-duplicated by the record and batch ids they carry.
"""

from __future__ import annotations

import gzip
import json
import logging
import secrets
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from core.sinks.endpoint import EndpointSink
from core.sinks.s3 import S3Sink
from core.sinks.specs import check
from core.sinks.splunk import SplunkHecSink
from core.sinks.syslog import SyslogSink
from tests.support.http_receivers import HecReceiver, NdjsonReceiver
from tests.support.ports import free_port, port_open, wait_until
from tests.support.rsyslog import Rsyslog
from tests.support.tls import Authority

Held = list[tuple[dict[str, str], Any]]
_OWN = {"recordId", "batchId", "logType"}


def _dedup(items: list[tuple[str, str, dict[str, str], Any]]) -> Held:
    seen: set[tuple[str, str]] = set()
    out: Held = []
    for batch_id, record_id, metadata, record in items:
        if (batch_id, record_id) not in seen:
            seen.add((batch_id, record_id))
            out.append((metadata, record))
    return out


class SyslogDestination:
    def __init__(self, directory: Path, ca: Authority) -> None:
        self.server = Rsyslog(directory, ca)
        self.server.start()
        config = check(
            "syslog", {"host": "127.0.0.1", "port": self.server.port, "tls": {"caFile": str(ca.ca_file)}}
        )
        self.sink = SyslogSink("rsyslog", config)

    def held(self) -> Held:
        return _dedup(
            [
                (
                    m.params["batchId"],
                    m.params["recordId"],
                    {k: v for k, v in m.params.items() if k not in _OWN},
                    m.record,
                )
                for m in self.server.messages()
            ]
        )

    def go_down(self) -> None:
        self.server.stop()

    def come_back(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


class HecDestination:
    def __init__(self, *, ack: bool = True) -> None:
        self.receiver = HecReceiver(ack=ack)
        self.receiver.start()
        config = check("splunkHec", {"url": self.receiver.url, "token": self.receiver.token, "ack": ack})
        self.sink = SplunkHecSink("splunk", config)

    def held(self) -> Held:
        return _dedup(
            [
                (
                    event["fields"]["batchId"],
                    event["fields"]["recordId"],
                    {k: v for k, v in event["fields"].items() if k not in _OWN},
                    event["event"],
                )
                for event in self.receiver.events
            ]
        )

    def go_down(self) -> None:
        self.receiver.stop()

    def come_back(self) -> None:
        self.receiver.start()

    def answer_next(self, status: int, times: int = 1) -> None:
        self.receiver.answer(status, times)

    def stop(self) -> None:
        self.receiver.stop()


class EndpointDestination:
    def __init__(self) -> None:
        self.receiver = NdjsonReceiver()
        self.receiver.start()
        config = check("http", {"url": self.receiver.url, "headers": {"Authorization": "Bearer sekrit"}})
        self.sink = EndpointSink("webhook", config)

    def held(self) -> Held:
        return [(line["metadata"], line["message"]) for line in self.receiver.lines]

    def go_down(self) -> None:
        self.receiver.stop()

    def come_back(self) -> None:
        self.receiver.start()

    def answer_next(self, status: int, times: int = 1) -> None:
        self.receiver.answer(status, times)

    def stop(self) -> None:
        self.receiver.stop()


class MotoS3:
    """moto's standalone S3 server on a free port; its data outlives stop() / start()."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None
        self._bodies: dict[tuple[str, str, str], bytes] = {}  # (bucket, key, ETag) -> body
        self.client: Any = boto3.session.Session().client(
            "s3",
            region_name="us-east-1",
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        if self._server is None:
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
            wait_until(lambda: port_open(self.port), what="moto server")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def objects(self, bucket: str) -> list[tuple[str, bytes]]:
        """Every object of the bucket (every page of the listing), by key. A body is fetched once
        for each ETag: tests poll this while a drain writes, and each poll used to fetch every
        object again (most of an end-to-end test's CPU); an object written again with other
        content has another ETag and is fetched again."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        listed = [item for page in pages for item in page.get("Contents", [])]
        found = []
        for item in sorted(listed, key=lambda item: item["Key"]):
            name = (bucket, item["Key"], item["ETag"])
            if name not in self._bodies:
                self._bodies[name] = self.client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found.append((item["Key"], self._bodies[name]))
        return found


class S3Destination:
    def __init__(self, bucket: str | None = None) -> None:
        bucket = bucket or f"mimecast-logs-{secrets.token_hex(4)}"  # moto's store is per process
        self.server = MotoS3()
        self.server.start()
        self.bucket = bucket
        self.server.client.create_bucket(Bucket=bucket)
        config = check(
            "s3",
            {
                "bucket": bucket,
                "prefix": "mimecast",
                "endpointUrl": self.server.endpoint,
                "accessKeyId": "testing",
                "secretAccessKey": "testing",
            },
        )
        self.sink = S3Sink("archive", config)

    def held(self) -> Held:
        out: Held = []
        for _, body in self.server.objects(self.bucket):
            for line in gzip.decompress(body).decode("utf-8").splitlines():
                parsed = json.loads(line)
                out.append((parsed["metadata"], parsed["message"]))
        return out

    def go_down(self) -> None:
        self.server.stop()

    def come_back(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
