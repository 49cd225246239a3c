"""Realistic, synthetic Mimecast records (spec 5.5, 6.2, 7.2, 8.2) built only from their arguments.

No I/O, no clock, no global random state: the same `random.Random` state always yields the same records.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

# Value tables stay packed (one table per line) so the record builders below remain easy to scan.
# fmt: off
SIEM_TYPES: tuple[str, ...] = ("receipt", "process", "delivery", "av", "spam", "internal email protect",
    "impersonation protect", "url protect", "attachment protect", "journal")
DIRECTIONS: tuple[str, ...] = ("Inbound", "Outbound", "Internal")
RECEIPT_ACTIONS: tuple[str, ...] = ("Acc", "Rej")
PROCESS_ACTIONS: tuple[str, ...] = ("Acc", "Hld", "Sdbx", "Rej", "Rty", "Bnc")
HOLD_REASON_CODES: tuple[str, ...] = ("Spm", "Pol", "Imp")
IMPERSONATION_ACTIONS: tuple[str, ...] = ("Hold", "Bounce", "None")
URL_ACTIONS: tuple[str, ...] = ("Block", "Allow", "Warn")
DLP_ROUTES: tuple[str, ...] = ("inbound", "outbound", "internal")
DLP_ACTIONS: tuple[str, ...] = ("block", "notification", "hold", "bcc")
AUDIT_CATEGORIES: tuple[str, ...] = ("authentication_logs", "account_logs", "case_review_logs",
    "reporting_logs")
HOLD_ROUTES: tuple[str, ...] = ("INBOUND", "OUTBOUND", "INTERNAL")

_FIRST = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Oscar")
_LAST = ("Smith", "Jones", "Garcia", "Chen", "Okafor", "Novak", "Larsen", "Patel")
_EXT_LOCALS = ("billing", "news", "sales", "support", "ana.ruiz", "kim.lee", "noreply", "tom.berg")
_EXT_DOMAINS = ("example.com", "example.net", "example.org", "shop.example.com", "partners.example.net")
_SUBJECTS = ("Quarterly report", "Invoice 4471", "RE: Meeting notes", "FW: Project timeline",
    "Weekly newsletter", "Lunch on Friday?", "Your order has shipped", "Password expiry notice",
    "Contract draft v3", "Action required: verify your account", "Customer list Q2", "Holiday schedule")
_FILES = (("report.pdf", "pdf"), ("invoice.xlsx", "xlsx"), ("scan_0042.zip", "zip"), ("photo.jpg", "jpg"),
    ("setup.exe", "exe"))
_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")
_TLS = (("TLSv1.3", "TLS_AES_256_GCM_SHA384"), ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (None, None))
_VIRUSES = ("Win.Trojan.Agent-1234", "Eicar-Test-Signature", "Doc.Dropper.Emotet-9876")
_URL_HOSTS = ("login-verify.example.org", "cdn.example.net", "docs.example.com", "account-update.example.net")
_URL_CATEGORIES = {True: ("Phishing & Fraud", "Malware", "Compromised"), False: ("Business", "News")}
_POLICY_DEFS = ("Default Impersonation Definition", "Executive Impersonation", "Supplier Impersonation")
_IP_FLAGS = ("newDomain", "customNameMatch", "internalUserName", "replyMismatch", "similarInternalDomain",
    "similarCustomExternalDomain", "similarMimecastExternalDomain", "customThreatDictionary",
    "mimecastThreatDictionary")
_REJECTIONS = (("550", "Envelope blocked - User Entry", "Manual Envelope Rejection"),
    ("554", "Message rejected - RBL listed sender", "RBL Rejection"),
    ("550", "Invalid recipient", "Invalid Recipient"))
_REJECTION_FIELDS = ("rejectionCode", "rejectionInfo", "rejectionType")
_REJECTED_NULLS = dict.fromkeys(("messageId", "senderHeader", "spamDetectionLevel", "spamInfo", "spamScore",
    "subject"))
_DLP_POLICIES = ("Block credit card numbers", "Notify on customer data", "Hold confidential documents")
_APPS = ("Web", "Mimecast for Outlook", "Mimecast Mobile", "API")
# fmt: on
_INTERNAL = tuple((f"{f} {la}", f"{f.lower()}.{la.lower()}@corp.example") for f in _FIRST for la in _LAST)
_EXTERNAL = tuple((loc.replace(".", " ").title(), f"{loc}@{d}") for loc in _EXT_LOCALS for d in _EXT_DOMAINS)
_INBOUND_EXTRAS = ("av", "spam", "impersonation protect", "url protect", "attachment protect")
_OTHER_EXTRAS = ("av", "internal email protect", "url protect", "attachment protect")
_BEFORE_PROCESS = ("av", "spam", "impersonation protect", "attachment protect")
_AFTER_DELIVERY = ("url protect", "internal email protect")


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


# The JSON-in-string fields come from a few fixed documents, serialised once rather than per event.
_SPAM_DETAILS = tuple(
    _json(
        {
            check: {"allow": True, "info": info}
            for check, info in zip(("spf", "dkim", "dmarc"), infos, strict=True)
        }
    )
    for infos in (("ALLOW", "UNKNOWN", "ALLOW"), ("ALLOW", "ALLOW", "ALLOW"), ("SOFTFAIL", "UNKNOWN", "NONE"))
)
_ANALYSIS = {
    True: _json(
        {
            "CredentialTheftEvidence": ["The website uses an unencrypted connection"],
            "CredentialTheftTags": ["NO_CERTIFICATE"],
        }
    ),
    False: _json({"CredentialTheftEvidence": [], "CredentialTheftTags": []}),
}


@dataclass(slots=True)
class _Mail:
    """What every event of one message agrees on; `routed` and `sizes` are field groups shared by events."""

    head: dict[str, Any]
    direction: str
    sender: str
    sender_domain: str
    internal_sender: str
    recipients: str
    message_id: str
    subject: str
    sender_ip: str
    files: list[tuple[str, str]]
    routed: dict[str, Any]
    sizes: dict[str, Any]


def _ip(rng: random.Random) -> str:
    return f"{rng.choice(_NETS)}{rng.randrange(1, 255)}"


def _mail(rng: random.Random, head: dict[str, Any], direction: str, needs_file: bool) -> _Mail:
    inbound = direction == "Inbound"
    sender = rng.choice(_EXTERNAL if inbound else _INTERNAL)[1]
    pool = _EXTERNAL if direction == "Outbound" else _INTERNAL
    recipients = ",".join(
        rng.choice(pool)[1] for _ in range(1 if rng.random() < 0.8 else rng.randrange(2, 4))
    )
    domain = sender.partition("@")[2]
    message_id = f"<{rng.getrandbits(64):016x}@mail.{domain}>"
    subject = rng.choice(_SUBJECTS)
    files = [
        rng.choice(_FILES) for _ in range(rng.randrange(1, 3) if needs_file or rng.random() < 0.3 else 0)
    ]
    attached = sum(rng.randrange(2_000, 2_000_000) for _ in files)
    sizes = {
        "emailSize": str(attached + rng.randrange(1_500, 60_000)),
        "numberAttachments": str(len(files)),
        "totalSizeAttachments": str(attached),
    }
    routed = {
        "messageId": message_id,
        "recipients": recipients,
        "route": direction,
        "senderEnvelope": sender,
        "subject": subject,
    }
    internal = "false" if inbound else "true"
    return _Mail(
        head,
        direction,
        sender,
        domain,
        internal,
        recipients,
        message_id,
        subject,
        _ip(rng),
        files,
        routed,
        sizes,
    )


def _receipt(rng: random.Random, m: _Mail, rejected: bool, spam: bool, virus: bool) -> dict[str, Any]:
    version, cipher = rng.choice(_TLS) if m.direction == "Inbound" else (None, None)
    action = "Rej" if rejected else "Acc"
    event = {
        **m.head,
        "type": "receipt",
        "subtype": action,
        "action": action,
        "direction": m.direction,
        "messageId": m.message_id,
        "numberAttachments": m.sizes["numberAttachments"],
        "receiptErrors": None,
        "recipients": m.recipients,
        "rejectionCode": None,
        "rejectionInfo": None,
        "rejectionType": None,
        "senderEnvelope": m.sender,
        "senderHeader": m.sender,
        "senderIp": m.sender_ip,
        "spamDetectionLevel": "7",
        "spamInfo": "[]",
        "spamProcessingDetail": rng.choice(_SPAM_DETAILS) if m.direction == "Inbound" else None,
        "spamScore": str(rng.randrange(30, 100) if spam else rng.randrange(0, 25)),
        "subject": m.subject,
        "tlsCipher": cipher,
        "tlsVersion": version,
        "virusFound": rng.choice(_VIRUSES) if virus else None,
    }
    if rejected:  # as captured: a rejected receipt knows no message id, subject or spam verdict
        event.update(_REJECTED_NULLS)
        event.update(zip(_REJECTION_FIELDS, rng.choice(_REJECTIONS), strict=True))
    return event


def _process(m: _Mail, action: str, hold_reason: str | None) -> dict[str, Any]:
    names = ",".join(f'"{name}"' for name, _ in m.files) or None
    return {
        **m.head,
        "type": "process",
        "subtype": action,
        "action": action,
        "attachments": names,
        "holdReason": hold_reason,
        "messageId": m.message_id,
        "senderEnvelope": m.sender,
        "subject": m.subject,
        **m.sizes,
    }


def _delivery(rng: random.Random, m: _Mail, delivered: bool) -> dict[str, Any]:
    version, cipher = rng.choice(_TLS)
    first_domain = m.recipients.partition(",")[0].partition("@")[2]
    ok = "true" if delivered else "false"
    return {
        **m.head,
        "type": "delivery",
        "subtype": ok,
        "Hostname": f"mx.{first_domain}" if m.direction == "Outbound" else "mx1.corp.example",
        "delivered": ok,
        "deliveryAttempts": "1" if delivered else str(rng.randrange(2, 6)),
        "deliveryErrors": None if delivered else "451 4.4.1 Connection timed out",
        "deliveryTime": str(rng.randrange(300, 5_000)),
        "destinationIp": _ip(rng),
        "direction": m.direction,
        "rejectionCode": None,
        "rejectionInfo": None,
        "rejectionType": None,
        "tlsCipher": cipher,
        "tlsUsed": "No" if version is None else "Yes",
        "tlsVersion": version,
        **m.routed,
        **m.sizes,
    }


def _hashes(rng: random.Random, m: _Mail) -> dict[str, Any]:
    name, extension = m.files[0]
    md5, sha1, sha256 = rng.getrandbits(128), rng.getrandbits(160), rng.getrandbits(256)
    return {
        "fileExtension": extension,
        "fileName": name,
        "md5": f"{md5:032x}",
        "sha1": f"{sha1:040x}",
        "sha256": f"{sha256:064x}",
    }


def _scan(rng: random.Random, m: _Mail, kind: str) -> dict[str, Any]:
    """One event of an optional type; `subtype` is null where real captures show null."""
    head = {**m.head, "type": kind, "subtype": None}
    if kind == "attachment protect":
        return {**head, **_hashes(rng, m), "senderDomainInternal": m.internal_sender}
    sender = {"senderDomain": m.sender_domain, "senderIp": m.sender_ip}
    if kind == "av":
        virus = rng.choice(_VIRUSES)
        extra = {
            "emailSize": m.sizes["emailSize"],
            "senderDomainInternal": m.internal_sender,
            "virusFound": virus,
        }
        return {**head, **_hashes(rng, m), **m.routed, **sender, **extra}
    if kind == "spam":
        tags = {"taggedExternal": "true", "taggedMalicious": "false"} if rng.random() < 0.2 else {}
        return {**head, **m.routed, **sender, "senderHeader": m.sender, **tags}
    if kind == "internal email protect":
        bad = rng.random() < 0.7
        return {
            **head,
            **m.routed,
            "monitoredDomainSource": None,
            "scanResults": "Blocked URL Category" if bad else "Clean",
            "similarDomain": None,
            "urlCategory": rng.choice(_URL_CATEGORIES[bad]),
        }
    if kind == "impersonation protect":
        hits = [flag for flag in _IP_FLAGS if rng.random() < 0.2] or [rng.choice(_IP_FLAGS)]
        action = rng.choice(IMPERSONATION_ACTIONS)
        return {
            **head,
            "subtype": action,
            "action": action,
            **{flag: "true" if flag in hits else "false" for flag in _IP_FLAGS},
            "itemsDetected": str(len(hits)),
            "policyDefinition": rng.choice(_POLICY_DEFS),
            "senderIp": m.sender_ip,
            "taggedExternal": "true",
            "taggedMalicious": "true" if action != "None" else "false",
            **m.routed,
        }
    action = rng.choice(URL_ACTIONS)
    bad = action != "Allow"
    return {
        **head,
        "subtype": action,
        "action": action,
        "analysis": _ANALYSIS[bad],
        "blockReason": "malicious" if bad else None,
        **m.routed,
        "route": m.direction.lower(),  # lower case in the captured url-protect line, unlike the other types
        "senderDomain": m.sender_domain,
        "sourceIp": _ip(rng),
        "url": f"http://{rng.choice(_URL_HOSTS)}/{rng.getrandbits(32):08x}",
        "urlCategory": rng.choice(_URL_CATEGORIES[bad]),
    }


def siem_message(
    rng: random.Random, *, account_id: str, aggregate_id: str, processing_id: str
) -> list[dict[str, Any]]:
    """The SIEM events of one email, in batch-file naming (`type`, `subtype`), in the order they happen."""
    head = {"accountId": account_id, "aggregateId": aggregate_id, "processingId": processing_id}
    roll = rng.random()
    direction = "Inbound" if roll < 0.6 else "Outbound" if roll < 0.85 else "Internal"
    roll = rng.random()
    count = 0 if roll < 0.75 else 1 if roll < 0.94 else 2
    extras = rng.sample(_INBOUND_EXTRAS if direction == "Inbound" else _OTHER_EXTRAS, count) if count else []
    m = _mail(rng, head, direction, "av" in extras or "attachment protect" in extras)
    rejected = direction == "Inbound" and rng.random() < 0.04
    events = [_receipt(rng, m, rejected, "spam" in extras, "av" in extras)]
    if rejected:
        return events
    scans = [_scan(rng, m, kind) for kind in _BEFORE_PROCESS if kind in extras]
    events.extend(scans)
    reason = None
    if "av" in extras:
        action = "Rej"
    elif "spam" in extras:
        action, reason = "Hld", "Spm"
    elif any(scan.get("action") == "Hold" for scan in scans):
        action, reason = "Hld", "Imp"
    elif "attachment protect" in extras:
        action = "Sdbx"
    else:
        roll = rng.random()
        action = "Acc" if roll < 0.93 else "Hld" if roll < 0.96 else "Rty" if roll < 0.99 else "Bnc"
        reason = "Pol" if action == "Hld" else None
    events.append(_process(m, action, reason))
    if action in ("Acc", "Sdbx", "Rty"):
        events.append(_delivery(rng, m, delivered=action != "Rty"))
        events.extend(_scan(rng, m, kind) for kind in _AFTER_DELIVERY if kind in extras)
    if rng.random() < 0.1:
        journal = {"direction": direction, "recipients": m.recipients, "senderEnvelope": m.sender}
        events.append({**head, "type": "journal", "subtype": None, **journal})
    return events


_STREAM_NAMES = {"type": "eventType", "subtype": "subType"}
_BATCH_ONLY = frozenset(("_offset", "_partition"))


def siem_streaming_form(event: dict[str, Any]) -> dict[str, Any]:
    """The same event as the streaming endpoint names it: `eventType`/`subType`, no `_offset`/`_partition`."""
    return {_STREAM_NAMES.get(key, key): value for key, value in event.items() if key not in _BATCH_ONLY}


def dlp_log(rng: random.Random, *, event_time: str, message_id: str) -> dict[str, Any]:
    """One DLP log record (spec 6.2): senderAddress, recipientAddress, subject, eventTime, route, policy,
    action, messageId; `eventTime` and `messageId` are the arguments as given."""
    route = rng.choice(DLP_ROUTES)
    return {
        "senderAddress": rng.choice(_EXTERNAL if route == "inbound" else _INTERNAL)[1],
        "recipientAddress": rng.choice(_EXTERNAL if route == "outbound" else _INTERNAL)[1],
        "subject": rng.choice(_SUBJECTS),
        "eventTime": event_time,
        "route": route,
        "policy": rng.choice(_DLP_POLICIES),
        "action": rng.choice(DLP_ACTIONS),
        "messageId": message_id,
    }


_LOGON = (
    "authentication for {user}, Date: {date}, Time: {time} GMT, IP: {ip}, Application: {app}, Method: Cloud"
)
_AUDIT_KINDS = (
    ("User Logged On", "authentication_logs", "Successful " + _LOGON),
    (
        "Logon Authentication Failed",
        "authentication_logs",
        "Failed " + _LOGON + ", Reason: Incorrect password",
    ),
    ("Completed Directory Sync", "account_logs", "Directory sync completed for Corp AD, Users added: {n}"),
    ("Policy Updated", "account_logs", "Anti-Spoofing policy updated by {user}, IP: {ip}"),
    ("Case Review Completed", "case_review_logs", "Case {n} reviewed by {user}, Status: Closed"),
    ("Report Exported", "reporting_logs", "Report Threat Dashboard exported by {user}, IP: {ip}"),
)
AUDIT_TYPES: tuple[str, ...] = tuple(kind for kind, _, _ in _AUDIT_KINDS)


def audit_event(rng: random.Random, *, event_id: str, event_time: str) -> dict[str, Any]:
    """One audit event (spec 7.2): id, auditType, user, eventTime, eventInfo, category."""
    kind, category, template = rng.choice(_AUDIT_KINDS)
    user = rng.choice(_INTERNAL)[1]
    when = {"date": event_time[:10], "time": event_time[11:19]}
    info = template.format(user=user, ip=_ip(rng), app=rng.choice(_APPS), n=rng.randrange(1, 500), **when)
    return {
        "id": event_id,
        "auditType": kind,
        "user": user,
        "eventTime": event_time,
        "eventInfo": info,
        "category": category,
    }


def _reason(text: str, *policies: str) -> tuple[str, str, str, tuple[str, ...]]:
    constant = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
    return text, constant.upper(), constant.lower(), policies


HOLD_REASONS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    _reason(
        "Message Hold Applied - Spam Signature policy", "Relaxed Spam Detection", "Default Spam Scanning"
    ),
    _reason("Message Hold Applied - Content Examination policy", "Hold credit card numbers"),
    _reason("Message Hold Applied - Attachment Management policy", "Hold executable attachments"),
    _reason("Message Hold Applied - Impersonation Protection policy", "Default Impersonation Protection"),
    _reason("Message Hold Applied - Anti-Spoofing policy", "Block spoofed internal senders"),
)


def held_message(rng: random.Random, *, hold_id: str, date_received: str) -> dict[str, Any]:
    """One held message (spec 8.2) with real JSON types: hasAttachments bool, size int."""
    reason, reason_id, reason_code, policies = rng.choice(HOLD_REASONS)
    route = rng.choice(HOLD_ROUTES)
    sender_name, sender = rng.choice(_EXTERNAL if route == "INBOUND" else _INTERNAL)
    to_name, to = rng.choice(_EXTERNAL if route == "OUTBOUND" else _INTERNAL)
    return {
        "id": hold_id,
        "reason": reason,
        "reasonId": reason_id,
        "reasonCode": reason_code,
        "from": {"emailAddress": sender, "displayableName": ""},
        "fromHeader": {"emailAddress": sender, "displayableName": sender_name},
        "to": {"emailAddress": to, "displayableName": to_name},
        "subject": rng.choice(_SUBJECTS),
        "route": route,
        "hasAttachments": rng.random() < 0.3,
        "size": rng.randrange(2_000, 5_000_000),
        "dateReceived": date_received,
        "policyInfo": rng.choice(policies),
    }
