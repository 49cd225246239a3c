"""Realistic TTP, archive search and message release log records (spec-more 2 to 6), built only
from their arguments: no I/O, no clock, no global random state.

Value conventions follow the recorded data: `+0000` times, `"Internal IP"` senders, the null sender
`"<>"`, 50-character padded `details`, compound `actionTriggered`, colon keys in `tagMap`, JSON
booleans and integers where Mimecast sends them.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.records import _EXTERNAL, _FILES, _INTERNAL, _SUBJECTS

# fmt: off
TTP_ROUTES: tuple[str, ...] = ("inbound", "outbound", "internal")
URL_SCAN_RESULTS: tuple[str, ...] = ("clean", "malicious")
ATTACHMENT_RESULTS: tuple[str, ...] = ("safe", "malicious", "timeout", "error", "unsafe")
IMPERSONATION_IDENTIFIERS: tuple[str, ...] = ("similar_internal_domain", "newly_observed_domain",
    "internal_user_name", "reply_address_mismatch", "targeted_threat_dictionary", "custom_external_domain",
    "mimecast_external_domain")
_URL_PATHS = ("https://oneclient.sfx.ms/Win/Preview/OneDriveSetup.exe", "https://login-verify.example.org/auth",
    "https://docs.example.com/share/q3.pdf", "http://account-update.example.net/reset",
    "https://cdn.example.net/files/invoice.zip", "https://news.example.org/weekly")
_URL_CATEGORIES = {"malicious": ("Dangerous file extension", "Phishing & Fraud", "Malware"),
    "clean": ("Business", "News", "Computers and Internet Info")}
_TAG_MAPS = (
    {"DangerousFileExt": {"Status": ["CustomerSpecific", "VerdictBlock"], "Inspect:FileExts": ["[exe]"],
        "Inspect:MimeTypes": ["[]"],
        "ContentCheck:DangerousMimetypesUrlFileDownload": ["application/x-msdownload"],
        "ContentCheck:DangerousExtsUrlFileDownload": ["dll"],
        "ContentCheck:ContentScannersBlocked": [".exe"]}},
    {"UrlReputationScan": {"Status": ["Malicious"], "Type": ["url"], "Url": ["login-verify.example.org"],
        "Source": ["Mimecast"]}},
    {"AdvancedPhishing": {"Status": ["Verdict"], "CredentialTheftBrands": ["Microsoft"],
        "CredentialTheftTags": ["NO_CERTIFICATE"]}},
)
_MIME = {"pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "zip": "application/zip",
    "jpg": "image/jpeg", "exe": "application/x-msdownload"}
_SEARCH_DESCRIPTIONS = ("Message Tracking Search", "Threat Remediation search", "Audit [Page 1] - Depth 100",
    "Archive Mailbox")
_HELD_REASONS = ("Default Spam Scanning Definition", "High-Confidence Impersonation Protection",
    "Attachment Management Definition", "Content Examination Policy")
_REJECT_REASONS = ("Message goes against email policies", "Message contains undesirable content",
    "Message is spam")
# fmt: on
EXPIRED = "Expired in queue - rejected by housekeeping"


def _route_people(rng: random.Random, route: str) -> tuple[str, str]:
    sender = rng.choice(_EXTERNAL if route == "inbound" else _INTERNAL)[1]
    recipient = rng.choice(_EXTERNAL if route == "outbound" else _INTERNAL)[1]
    return sender, recipient


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(('192.0.2.', '198.51.100.', '203.0.113.'))}{rng.randrange(1, 255)}"


def message_id(rng: random.Random) -> str:
    return f"<{rng.getrandbits(64):016x}-{rng.randrange(100_000, 999_999)}@mail.example.net>"


def url_click(rng: random.Random, *, date: str, message: str, route: str, user: str) -> dict[str, Any]:
    """One URL Protect log (2.2); `date`, `messageId`, `route` and the user are given, so that
    several records of one message (per recipient, per URL, scan then click) can be built."""
    result = "malicious" if rng.random() < 0.3 else "clean"
    action = ("block" if rng.random() < 0.3 else "warn") if result == "malicious" else "allow"
    record: dict[str, Any] = {
        "userEmailAddress": user,
        "fromUserEmailAddress": rng.choice(_EXTERNAL if route == "inbound" else _INTERNAL)[1],
        "url": rng.choice(_URL_PATHS),
        "ttpDefinition": f"Default {route.title()} URL Protect Definition",
        "subject": rng.choice(_SUBJECTS),
        "action": action,
        "adminOverride": "N/A",
        "userOverride": "None",
        "scanResult": result,
        "category": rng.choice(_URL_CATEGORIES[result]),
        "sendingIp": "Internal IP" if route == "internal" else _ip(rng),
        "userAwarenessAction": rng.choice(("N/A", "Continue", "NA")),
        "date": date,
        "actions": {"allow": "Allow", "warn": "Block", "block": "Block"}[action],
        "route": route,
        "creationMethod": rng.choice(("User Click", "Entry Scan")),
        "emailPartsDescription": [rng.choice(("Body", "Attachment"))],
        "messageId": message,
    }
    if result == "malicious" and rng.random() < 0.7:
        record["tagMap"] = rng.choice(_TAG_MAPS)
    return record


def attachment_log(
    rng: random.Random, *, date: str, message: str, route: str, sender: str, recipient: str, subject: str
) -> dict[str, Any]:
    """One Attachment Protect log (3.2); the message fields are given so that two attachments of
    one message share `messageId` and `date` as in the recorded data."""
    _, extension = rng.choice(_FILES)
    stem = rng.choice(("Sandbox Test", "Q3 figures", "scan_0042", "Invoice 2231", "report"))
    result = rng.choices(ATTACHMENT_RESULTS, weights=(70, 20, 4, 3, 3))[0]
    verdict = result.title()
    seconds = rng.randrange(0, 90)
    return {
        "senderAddress": sender,
        "recipientAddress": recipient,
        "fileName": f"{stem}.{extension}",
        "fileType": _MIME[extension],
        "result": result,
        "actionTriggered": rng.choice(("none, none", "user release, none", "none", "sandbox block, none")),
        "date": date,
        "details": f"{verdict:<50}\r\nTime taken: 0 hrs, {seconds // 60} min, {seconds % 60} sec",
        "route": route,
        "messageId": message,
        "subject": subject,
        "fileHash": f"{rng.getrandbits(256):064x}",
        "definition": f"Default {route.title()} Attachment Protect Definition",
    }


def attachment_message(rng: random.Random, *, date: str) -> list[dict[str, Any]]:
    """The Attachment Protect logs of one message: one per attachment, sometimes two."""
    route = rng.choice(TTP_ROUTES)
    sender, recipient = _route_people(rng, route)
    if route == "inbound" and rng.random() < 0.1:
        sender = "<>"
    fields = {"message": message_id(rng), "route": route, "sender": sender, "recipient": recipient}
    subject = rng.choice(_SUBJECTS)
    count = 2 if rng.random() < 0.2 else 1
    return [attachment_log(rng, date=date, subject=subject, **fields) for _ in range(count)]


def impersonation_log(rng: random.Random, *, log_id: str, event_time: str) -> dict[str, Any]:
    """One Impersonation Protect log (4.2): integer `hits`, boolean tags, results per identifier."""
    hits = rng.sample(IMPERSONATION_IDENTIFIERS, rng.randrange(1, 4))
    recipient_name, recipient = rng.choice(_INTERNAL)
    action = "hold" if len(hits) > 1 else rng.choice(("none", "hold"))
    results: list[dict[str, Any]] = []
    for identifier in hits:
        if identifier == "targeted_threat_dictionary":
            trigger = {"impersonationDomainSource": identifier, "stringSimilarToDomain": "process,please"}
            results.append(trigger)
        else:
            similar = f"{recipient_name} <{recipient}>"
            results.append(
                {
                    "impersonationDomainSource": identifier,
                    "similarDomain": similar,
                    "stringSimilarToDomain": recipient_name,
                    "checkerResult": "hit",
                }
            )
    return {
        "id": log_id,
        "senderAddress": f"{recipient.partition('@')[0]}@c0rp-example.net",
        "recipientAddress": recipient,
        "subject": rng.choice(("Urgent wire", *_SUBJECTS)),
        "definition": f"IP - {len(hits)} hits (Hold for Review / User Hold)",
        "hits": len(hits),
        "identifiers": hits,
        "action": action,
        "taggedExternal": rng.random() < 0.5,
        "taggedMalicious": action == "hold",
        "senderIpAddress": _ip(rng),
        "eventTime": event_time,
        "impersonationResults": results,
        "messageId": message_id(rng),
    }


def archive_search_log(rng: random.Random, *, create_time: str) -> dict[str, Any]:
    """One archive search log (5.2): no id; `emailAddr` sometimes the null sender."""
    analyst = rng.choice(_INTERNAL)[1]
    description = rng.choice(_SEARCH_DESCRIPTIONS)
    record: dict[str, Any] = {
        "createTime": create_time,
        "emailAddr": "<>" if description == "Message Tracking Search" and rng.random() < 0.5 else analyst,
        "source": "archive",
        "searchText": rng.choice(
            (f"[User : {rng.choice(_INTERNAL)[1]}]", "corp.example", rng.choice(_SUBJECTS), "")
        ),
        "searchReason": "" if rng.random() < 0.8 else "Legal hold review",
        "description": description,
    }
    if rng.random() < 0.3:
        record.update(searchPath="/archive/search", isAdmin=rng.random() < 0.5)
    return record


def release_log(rng: random.Random, *, log_id: str, released: str) -> dict[str, Any]:
    """One message release log in the API 2.0 recorded shape (6.2): `operator` object, verdict nested."""
    route = rng.choice(TTP_ROUTES)
    sender, recipient = _route_people(rng, route)
    expired = rng.random() < 0.1
    status = "rejected" if expired or rng.random() < 0.4 else "released"
    reason = rng.choice(_HELD_REASONS)
    score = rng.randrange(0, 20)
    record: dict[str, Any] = {
        "id": log_id,
        "status": status,
        "heldReason": reason,
        "messageInfo": EXPIRED if expired else rng.choice(("Graymail", "")),
        "released": released,
        "operator": {"emailAddress": "housekeeping" if expired else rng.choice(_INTERNAL)[1]},
        "fromEnv": {"emailAddress": sender},
        "fromHdr": {"emailAddress": sender},
        "to": [{"emailAddress": recipient}],
        "subject": rng.choice(_SUBJECTS),
        "attachments": rng.random() < 0.3,
        "route": route,
        "size": rng.randrange(2_000, 3_000_000),
        "policy": reason,
        "spamScore": score,
        "detectionLevel": rng.choice(("relaxed", "moderate", "aggressive")),
        "spamProcessingDetail": {
            "rbl": {"allow": True, "info": ""},
            "greyEmail": False,
            "spf": {"allow": True, "info": "allow"},
            "dkim": {"allow": True, "info": "unknown"},
            "dmarc": {"allow": True, "info": "allow"},
            "verdict": {
                "decision": "spam" if score > 8 else "clean",
                "description": "",
                "risk": "medium" if score > 8 else "negligible",
                "categories": [],
            },
        },
    }
    if status == "rejected":
        record["rejectReason"] = rng.choice(_REJECT_REASONS)
    return record
