"""What each managed destination type promises beyond the shared contract, against real servers:
the wire format a user's server receives, configuration refusals reported as such (token refused,
TLS verification failed, no such bucket), and the retry rules (Retry-After, HEC busy, acks).
"""

from __future__ import annotations

import gc
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from core.errors import FirstPartyGenericError
from core.sinks.contract import MISCONFIGURED, UNAVAILABLE, Sink
from core.sinks.endpoint import EndpointSink
from core.sinks.s3 import S3Sink
from core.sinks.specs import check
from core.sinks.splunk import SplunkHecSink
from core.sinks.syslog import SyslogSink
from tests.support.destination_adapters import MotoS3, S3Destination
from tests.support.http_receivers import HecReceiver, NdjsonReceiver
from tests.support.rsyslog import Rsyslog
from tests.support.tls import Authority, make_ca
from tests.unit.sinks.builders import batch

TOKEN = "hec-token"
OPENED: list[Sink] = []
S = TypeVar("S", bound=Sink)


@pytest.fixture(autouse=True)
def closing() -> Iterator[None]:
    """Every sink a test opens is closed after it (an unclosed pooled socket would warn)."""
    yield
    close_opened()


def close_opened() -> None:
    while OPENED:
        OPENED.pop().close()
    gc.collect()  # a socket left open is reported against this test, not a later one


def kept(sink: S) -> S:
    OPENED.append(sink)
    return sink


@pytest.fixture
def ca(tmp_path: Path) -> Authority:
    return make_ca(tmp_path / "ca")


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(TOKEN) as receiver:
        yield receiver
        close_opened()  # clients first: a pooled connection the server cuts is left unclosed


def hec_sink(url: str, **config: object) -> SplunkHecSink:
    return SplunkHecSink(
        "splunk", check("splunkHec", {"url": url, "token": TOKEN, **config}), sleep=lambda _: None
    )


# Splunk HEC


def test_hec_events_carry_time_host_source_sourcetype_index_and_the_metadata_as_fields(
    hec: HecReceiver,
) -> None:
    sink = hec_sink(hec.url, index="mail")
    sink.write(batch(2))
    sink.close()
    first = hec.events[0]
    assert (first["host"], first["source"], first["sourcetype"], first["index"]) == (
        "hosted-1",
        "Mimecast",
        "mimecast:siem",
        "mail",
    )
    assert isinstance(first["time"], float)
    assert first["event"] == {"type": "receipt", "n": 0, "subject": "message 0", "pad": ""}
    assert first["fields"]["recordId"] == "siem-000000"
    assert first["fields"]["batchId"] == "batch-1"
    assert first["fields"]["_siemEventID"] == "receipt"
    assert hec.seen[0].headers["authorization"] == f"Splunk {TOKEN}"


def test_a_refused_hec_token_is_a_misconfiguration_that_never_shows_the_token(hec: HecReceiver) -> None:
    sink = kept(SplunkHecSink("splunk", {"url": hec.url, "token": "wrong-token"}, sleep=lambda _: None))
    with pytest.raises(FirstPartyGenericError) as caught:
        sink.write(batch(1))
    assert (caught.value.code, caught.value.status) == (MISCONFIGURED, 403)
    assert "splunkHec destination 'splunk'" in str(caught.value)
    assert "check config.token" in str(caught.value)
    assert "wrong-token" not in str(caught.value)


def test_hec_server_busy_with_a_short_retry_after_is_retried_inside_the_write(hec: HecReceiver) -> None:
    hec.answer(503, times=2, retry_after="0")
    sink = hec_sink(hec.url)
    sink.write(batch(2))
    sink.close()
    assert [s.status for s in hec.seen] == [503, 503, 200]
    assert len(hec.events) == 2


def test_hec_with_acks_waits_for_the_indexers_and_fails_retryably_when_they_do_not_answer(
    hec: HecReceiver,
) -> None:
    hec.ack = True
    sink = hec_sink(hec.url, ack=True, ackTimeoutSeconds=0.3)
    sink.write(batch(2))
    acks = [s for s in hec.seen if s.path.startswith("/services/collector/ack")]
    assert acks
    assert json.loads(acks[-1].body) == {"acks": [0]}
    assert hec.seen[0].headers["x-splunk-request-channel"] == acks[0].path.split("channel=")[1]
    hec.hold_acks = True
    with pytest.raises(FirstPartyGenericError) as caught:
        sink.write(batch(2, "batch-2"))
    sink.close()
    assert caught.value.code == UNAVAILABLE
    assert "not acknowledged" in str(caught.value)


def test_hec_that_requires_acks_when_the_destination_has_them_off_says_to_turn_them_on(
    hec: HecReceiver,
) -> None:
    hec.ack = True
    sink = hec_sink(hec.url)
    with pytest.raises(FirstPartyGenericError) as caught:
        sink.write(batch(1))
    sink.close()
    assert caught.value.code == MISCONFIGURED
    assert "set config.ack to match" in str(caught.value)


def test_hec_over_tls_verifies_the_certificate_and_a_ca_file_makes_it_trusted(ca: Authority) -> None:
    with HecReceiver(TOKEN, tls=ca) as secured:
        untrusting = hec_sink(secured.url)
        with pytest.raises(FirstPartyGenericError) as caught:
            untrusting.write(batch(1))
        untrusting.close()
        assert caught.value.code == MISCONFIGURED
        assert "TLS verification failed" in str(caught.value)
        trusting = hec_sink(secured.url, caFile=str(ca.ca_file))
        trusting.write(batch(1))
        trusting.close()
        assert len(secured.events) == 1


# syslog


def test_syslog_messages_are_rfc5424_with_the_configured_app_name_facility_and_structured_data(
    tmp_path: Path, ca: Authority
) -> None:
    with Rsyslog(tmp_path / "rsyslog", ca) as server:
        config = {"host": "127.0.0.1", "port": server.port, "tls": {"caFile": str(ca.ca_file)}}
        sink = SyslogSink("siem", check("syslog", {**config, "appName": "mimecast", "facility": "local4"}))
        sink.write(batch(2))
        first = server.messages()[0]
    assert first.priority == 20 * 8 + 6  # local4.info
    assert (first.app_name, first.msgid, first.sd_id) == ("mimecast", "siem", "meta@32473")
    assert first.params["recordId"] == "siem-000000"
    assert first.params["_source"] == "Mimecast"
    assert first.msg.startswith("\ufeff")
    assert first.record["subject"] == "message 0"


def test_syslog_tls_against_an_unknown_ca_is_a_misconfiguration(tmp_path: Path, ca: Authority) -> None:
    with Rsyslog(tmp_path / "rsyslog", ca) as server:
        sink = SyslogSink("siem", check("syslog", {"host": "127.0.0.1", "port": server.port}))
        with pytest.raises(FirstPartyGenericError) as caught:
            sink.write(batch(1))
    assert caught.value.code == MISCONFIGURED
    assert "syslog destination 'siem'" in str(caught.value)
    assert "set tls.caFile" in str(caught.value)


def test_syslog_presents_its_client_certificate_to_a_server_that_requires_one(
    tmp_path: Path, ca: Authority
) -> None:
    with Rsyslog(tmp_path / "rsyslog", ca, client_certificates=True) as server:
        tls = {"caFile": str(ca.ca_file)}
        address = {"host": "127.0.0.1", "port": server.port}
        without = SyslogSink("siem", check("syslog", {**address, "tls": tls}))
        with pytest.raises(FirstPartyGenericError) as refused:
            without.write(batch(1))  # the server refuses a client with no certificate: not "delivered"
        assert refused.value.code == MISCONFIGURED
        assert "tls.certFile" in str(refused.value)
        mutual = {**tls, "certFile": str(ca.client_cert_file), "keyFile": str(ca.client_key_file)}
        SyslogSink("siem", check("syslog", {**address, "tls": mutual})).write(batch(2))
        assert [m.params["recordId"] for m in server.messages()] == ["siem-000000", "siem-000001"]


def test_plain_tcp_syslog_when_tls_is_off(tmp_path: Path) -> None:
    with Rsyslog(tmp_path / "rsyslog", None) as server:
        SyslogSink("siem", check("syslog", {"host": "127.0.0.1", "port": server.port, "tls": False})).write(
            batch(3)
        )
        assert [m.params["recordId"] for m in server.messages()] == [
            "siem-000000",
            "siem-000001",
            "siem-000002",
        ]


# s3


def test_s3_stores_one_gzip_ndjson_object_per_batch_under_a_deterministic_key_once() -> None:
    destination = S3Destination()
    try:
        other_worker = kept(S3Sink("archive", check("s3", {**_s3_config(destination), "prefix": "mimecast"})))
        for sink in (destination.sink, other_worker, destination.sink):
            sink.write(batch(3))
        objects = destination.server.objects(destination.bucket)
        assert len(objects) == 1
        key, body = objects[0]
        parts = key.split("/")
        assert (parts[0], parts[1], parts[2], parts[4]) == ("mimecast", "src-1", "siem", "batch-1.ndjson.gz")
        assert len(parts[3]) == 10  # the UTC date
        lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert [line["id"] for line in lines] == ["siem-000000", "siem-000001", "siem-000002"]
    finally:
        destination.stop()


def test_a_missing_bucket_is_a_misconfiguration_naming_it() -> None:
    destination = S3Destination()
    try:
        sink = kept(S3Sink("archive", check("s3", {**_s3_config(destination), "bucket": "no-such-bucket"})))
        with pytest.raises(FirstPartyGenericError) as caught:
            sink.write(batch(1))
        assert caught.value.code == MISCONFIGURED
        assert "NoSuchBucket" in str(caught.value)
        assert "'no-such-bucket'" in str(caught.value)
    finally:
        destination.stop()


def test_s3_without_keys_uses_the_default_credential_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    destination = S3Destination()
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "from-the-environment")
        config = {
            k: v for k, v in _s3_config(destination).items() if k not in ("accessKeyId", "secretAccessKey")
        }
        kept(S3Sink("archive", check("s3", config))).write(batch(2))
        assert len(destination.server.objects(destination.bucket)) == 1
    finally:
        destination.stop()


def _s3_config(destination: S3Destination) -> dict[str, str]:
    server: MotoS3 = destination.server
    return {
        "bucket": destination.bucket,
        "endpointUrl": server.endpoint,
        "accessKeyId": "k",
        "secretAccessKey": "s",
    }


# http


def test_http_sends_ndjson_with_the_batch_id_as_idempotency_key_and_the_configured_headers() -> None:
    with NdjsonReceiver() as receiver:
        config = check(
            "http", {"url": receiver.url, "headers": {"Authorization": "Bearer xyz"}, "gzip": False}
        )
        sink = kept(EndpointSink("webhook", config))
        sink.write(batch(2))
        sink.write(batch(2))
        first, again = receiver.seen
        assert first.headers["idempotency-key"] == "batch-1" == again.headers["idempotency-key"]
        assert first.headers["authorization"] == "Bearer xyz"
        assert first.headers["content-type"] == "application/x-ndjson"
        assert "content-encoding" not in first.headers
        assert [line["id"] for line in receiver.lines] == ["siem-000000", "siem-000001"]


def test_http_honours_a_short_retry_after_and_fails_on_a_long_one_without_showing_headers() -> None:
    with NdjsonReceiver() as receiver:
        config = check("http", {"url": receiver.url, "headers": {"X-Api-Key": "very-secret"}})
        slept: list[float] = []
        sink = kept(EndpointSink("webhook", config, sleep=slept.append))
        receiver.answer(429, retry_after="2")
        sink.write(batch(1))
        assert slept == [2.0]
        receiver.answer(429, retry_after="3600")
        with pytest.raises(FirstPartyGenericError) as caught:
            sink.write(batch(1, "batch-2"))
        assert (caught.value.code, caught.value.status) == (UNAVAILABLE, 429)
        assert "very-secret" not in str(caught.value)
        assert "/ingest" not in str(caught.value)
