"""Managed destinations end to end: a collector routed to S3 (moto's server), Splunk HEC (with
indexer acknowledgement) and syslog (rsyslogd over TLS) gets the simulator's ground truth into
all three, through a HEC outage and kill -9 of workers mid-forward: exactly once in S3, at least
once with record ids to de-duplicate by in HEC and syslog. Every process is real.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    ALL_COLLECTIONS,
    COLLECTIONS,
    Deployment,
    count_ids,
    deploy,
    duplicates,
    missing,
    wait_caught_up,
)
from tests.e2e.test_crashes import kill_mid_forward
from tests.support.destination_adapters import MotoS3
from tests.support.http_receivers import HecReceiver
from tests.support.rsyslog import Rsyslog
from tests.support.stack import wait_for
from tests.support.tls import make_ca

pytestmark = pytest.mark.timeout(300)
BUCKET = "mimecast-e2e"
_EVENT_COLLECTIONS = {"dlp": "dlp", "audit": "auditEvent", "hold": "holdMessageList"}


def collection_of(metadata: dict[str, str]) -> str:
    """The collection a record came from, told by `_siemEventID` (the source sets `_siemForward`)."""
    return _EVENT_COLLECTIONS.get(metadata.get("_siemEventID", ""), "siem")


def in_s3(moto: MotoS3) -> dict[str, Counter[str]]:
    counted: dict[str, Counter[str]] = {collection: Counter() for collection in ALL_COLLECTIONS}
    for _, body in moto.objects(BUCKET):
        for collection, ids in object_ids(body).items():
            counted[collection].update(ids)
    return counted


@functools.lru_cache(maxsize=4096)
def object_ids(body: bytes) -> dict[str, Counter[str]]:
    """The truth ids of one S3 object's records, read once per content (the test polls the bucket)."""
    lines = (json.loads(line) for line in gzip.decompress(body).decode("utf-8").splitlines())
    return count_ids((line["dataCollection"], line["message"]) for line in lines)


def unique(pairs: list[tuple[str, dict[str, str], Any]]) -> dict[str, Counter[str]]:
    """Ground-truth ids of what arrived, de-duplicated by the record id each message carries."""
    seen: dict[str, tuple[dict[str, str], Any]] = {}
    for record_id, metadata, record in pairs:
        seen.setdefault(record_id, (metadata, record))
    return count_ids((collection_of(metadata), record) for metadata, record in seen.values())


def in_hec(receiver: HecReceiver) -> dict[str, Counter[str]]:
    return unique([(e["fields"]["recordId"], e["fields"], e["event"]) for e in list(receiver.events)])


def in_syslog(server: Rsyslog) -> dict[str, Counter[str]]:
    return unique([(m.params["recordId"], m.params, m.record) for m in server.messages(settle=0.2)])


def health_of(deployment: Deployment) -> dict[str, str]:
    listed = deployment.client.get("/destinations").json()["destinations"]
    return {found["name"]: found["health"]["status"] for found in listed}


def create_destination(deployment: Deployment, name: str, kind: str, config: dict[str, Any]) -> None:
    made = deployment.client.post(
        "/destinations", json={"destination": {"name": name, "type": kind, "config": config}}
    )
    assert made.status_code == 201, made.text


def test_ground_truth_reaches_s3_exactly_once_and_hec_and_syslog_at_least_once(tmp_path: Path) -> None:
    moto = MotoS3()
    moto.start()
    moto.client.create_bucket(Bucket=BUCKET)
    ca = make_ca(tmp_path / "ca")
    hec = HecReceiver(ack=True)
    hec.start()
    syslog = Rsyslog(tmp_path / "rsyslog", ca)
    syslog.start()
    try:
        with deploy(
            tmp_path, simulator={"events_per_minute": 40}, settings={"MAX_RECORDS_PER_CHUNK": "100"}
        ) as deployment:
            create_destination(
                deployment,
                "archive",
                "s3",
                {
                    "bucket": BUCKET,
                    "prefix": "mimecast",
                    "endpointUrl": moto.endpoint,
                    "accessKeyId": "testing",
                    "secretAccessKey": "testing",
                },
            )
            create_destination(
                deployment, "splunk", "splunkHec", {"url": hec.url, "token": hec.token, "ack": True}
            )
            create_destination(
                deployment,
                "siem-syslog",
                "syslog",
                {"host": "127.0.0.1", "port": syslog.port, "tls": {"caFile": str(ca.ca_file)}},
            )
            collector, source = deployment.create_source(destinations=["archive", "splunk", "siem-syslog"])
            wait_for(lambda: hec.events, timeout=60, what="the first events in HEC")
            assert missing(in_s3(moto), deployment.expected()), "the drain is still under way"

            # A HEC outage: writes fail (and every destination of the batch is retried), nothing moves on.
            hec.stop()
            wait_for(
                lambda: health_of(deployment)["splunk"] == "failing",
                timeout=30,
                what="the HEC destination reported failing",
            )
            for generation in range(2):
                kill_mid_forward(deployment, generation)
            hec.start()

            s3 = wait_caught_up(deployment, lambda: in_s3(moto), timeout=150)
            assert duplicates(s3) == {}, "S3 holds a record twice"
            wait_caught_up(deployment, lambda: in_hec(hec), timeout=60)
            wait_caught_up(deployment, lambda: in_syslog(syslog), timeout=60)
            everything = deployment.everything()
            for collection in COLLECTIONS:
                assert set(s3[collection]) <= everything[collection], collection
            assert deployment.state(collector, source)["state"] == "Collecting"
            wait_for(
                lambda: set(health_of(deployment).values()) == {"ok"}, timeout=30, what="every destination ok"
            )
            metrics = deployment.client.get(deployment.api.url + "/metrics").text
            assert 'mimecast_source_destination_records_total{destination="archive",type="s3"}' in metrics
            assert (
                'destination_failures_total{destination="splunk",kind="destination.unreachable",type="splunkHec"}'
                in metrics
            )
            for worker in deployment.workers:
                worker.stop()
    finally:
        syslog.stop()
        hec.stop()
        moto.stop()
