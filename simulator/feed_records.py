"""Threat-intel STIX objects (spec-more 7.2) and Cloud Integrated records (8), built only from
their arguments: no I/O, no clock, no global random state."""

from __future__ import annotations

import random
import uuid
from typing import Any

from simulator.records import _EXTERNAL, _INTERNAL, _SUBJECTS

CI_TYPES: tuple[str, ...] = ("entities", "mailflow", "urlclick")
_LABELS = ("virus", "trojan", "ransomware", "worm", "spyware")
_THREAT_STATES = ("DELIVERY_IN_PROGRESS", "BLOCKED", "DELIVERED")
_THREAT_TYPES = ("NO_DETECTIONS", "MALWARE", "POLICIES_DISABLED")
_CSV_COLUMNS = (
    "Timestamp", "SenderAddress", "FileName", "FileSize", "FileMimeType", "SHA256", "MD5", "SendingIP",
)  # fmt: skip


def stix_id(rng: random.Random, kind: str) -> str:
    return f"{kind}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def stix_triple(rng: random.Random, *, created: str, sha256: str) -> list[dict[str, Any]]:
    """malware, indicator, relationship: one detection, three objects with one timestamp. In API 2.0
    data `malware.name` is empty."""
    malware = stix_id(rng, "malware")
    indicator = stix_id(rng, "indicator")
    stamp = {"created": created, "modified": created}
    return [
        {"type": "malware", "id": malware, **stamp, "name": "", "labels": [rng.choice(_LABELS)]},
        {
            "type": "indicator",
            "id": indicator,
            **stamp,
            "labels": ["malicious-activity"],
            "pattern": f"[file:hashes.'SHA-256' = '{sha256}']",
            "valid_from": created,
        },
        {
            "type": "relationship",
            "id": stix_id(rng, "relationship"),
            **stamp,
            "relationship_type": "indicates",
            "source_ref": indicator,
            "target_ref": malware,
        },
    ]


def csv_row(rng: random.Random, indicator: dict[str, Any]) -> str:
    """The indicator as a row of the feed's pipe-separated CSV form (columns of `CSV_HEADER`)."""
    sha256 = str(indicator["pattern"]).split("'")[-2]
    values = (
        str(indicator["created"]),
        rng.choice(_EXTERNAL)[1],
        rng.choice(("invoice.zip", "setup.exe", "scan_0042.doc")),
        str(rng.randrange(2_000, 2_000_000)),
        "application/octet-stream",
        sha256,
        f"{rng.getrandbits(128):032x}",
        "null" if rng.random() < 0.1 else f"203.0.113.{rng.randrange(1, 255)}",
    )
    return "|".join(values)


CSV_HEADER = "|".join(_CSV_COLUMNS)


def ci_record(
    rng: random.Random, *, kind: str, account_id: str, partition: int, offset: int, timestamp: int
) -> dict[str, Any]:
    """One Cloud Integrated record of type `entities`, `mailflow` or `urlclick` (the last one's fields
    are Elastic's field list: nobody has captured one)."""
    stamp = timestamp // 1000
    aggregate = f"{rng.getrandbits(100):025x}_{stamp}"
    record: dict[str, Any] = {
        "_offset": offset,
        "_partition": partition,
        "accountId": account_id,
        "aggregateId": aggregate,
        "messageId": f"<{rng.getrandbits(32):08x}@corp.example>",
        "processingId": f"{rng.getrandbits(256):064x}_{stamp}",
        "timestamp": timestamp,
        "type": kind,
    }
    if kind == "entities":
        threat = rng.choice(_THREAT_TYPES)
        record.update(
            attachments=[rng.choice(("Sandbox Test.xlsx", "invoice.pdf"))] if rng.random() < 0.4 else [],
            direction=rng.choice(("INBOUND", "Inbound")),
            historicalMail=False,
            policiesApplied=[{"action": "BLOCK", "mode": "ACTIVE", "name": "Default O365 Mail policy"}],
            recipients=[rng.choice(_INTERNAL)[1]],
            senderEnvelope=rng.choice(_EXTERNAL)[1],
            senderHeader="",
            senderIp=f"81.2.69.{rng.randrange(1, 255)}",
            source="OFFICE_365_MAIL",
            subject=rng.choice(_SUBJECTS),
            subtype=threat,
            tags=None if threat == "NO_DETECTIONS" else [threat],
            threatState=rng.choice(_THREAT_STATES),
            threatType=threat,
        )
    elif kind == "mailflow":
        record.update(
            authResults=[
                {"aligned": True, "result": "pass", "type": "SPF"},
                {"aligned": False, "result": rng.choice(("pass", "fail")), "type": "DKIM"},
                {"aligned": None, "result": rng.choice(("pass", "fail")), "type": "DMARC"},
            ],
            subtype=None,
        )
    else:
        record.update(
            originalUrl=f"https://login-verify.example.org/{rng.getrandbits(32):08x}",
            redirectUrl="",
            sourceIp=f"198.51.100.{rng.randrange(1, 255)}",
            action="BLOCK",
            subtype=None,
        )
    return record
