"""Every Redis key name in one place. Other rooms add theirs here as they arrive."""

from __future__ import annotations

PREFIX = "mimecast-source"


def token(credential: str) -> str:
    """The cached access token of one credential pair (`Credentials.key`), as JSON, expiring with it."""
    return f"{PREFIX}:token:{credential}"


def token_lock(credential: str) -> str:
    """Held by the one process refreshing that credential's token."""
    return f"{PREFIX}:token-lock:{credential}"


def due_streams() -> str:
    """Sorted set of unit ids (streams and their children) scored by when each is next due (epoch s)."""
    return f"{PREFIX}:due"


def lease(stream: str) -> str:
    """Held (`SET NX PX`) by the one worker working on the stream; its value is the holder's token."""
    return f"{PREFIX}:lease:{stream}"


def epoch(stream: str) -> str:
    """Counter incremented on every lease grant; a commit must present the current value."""
    return f"{PREFIX}:epoch:{stream}"


def checkpoint(stream: str) -> str:
    """Hash of the stream's committed cursor, its version and when it was committed."""
    return f"{PREFIX}:checkpoint:{stream}"


# Management: collectors, sources, secrets, state history, health events, access keys, fields.
# Everything that belongs to one source lives under `source(id)` (`source_pattern(id)` finds it),
# and its streams' checkpoints, leases and epochs end with `stream_of(id, name)`.


def sequence() -> str:
    """Counter giving collectors and sources their creation order (the score of their listings)."""
    return f"{PREFIX}:seq"


def collectors() -> str:
    """Sorted set of collector ids, scored by creation order."""
    return f"{PREFIX}:collectors"


def collector_names() -> str:
    """Hash of collector name (case-folded) -> collector id: the atomic claim that keeps names unique."""
    return f"{PREFIX}:collector-names"


def collector(collector_id: str) -> str:
    """Hash of one collector: `config` (JSON), `version`, `deleting`."""
    return f"{PREFIX}:collector:{collector_id}"


def collector_sources(collector_id: str) -> str:
    """Sorted set of the collector's source ids, scored by creation order."""
    return f"{PREFIX}:collector:{collector_id}:sources"


def collector_source_names(collector_id: str) -> str:
    """Hash of source name (case-folded) -> source id: names are unique per collector."""
    return f"{PREFIX}:collector:{collector_id}:source-names"


def sources() -> str:
    """Sorted set of every source id, scored by creation order."""
    return f"{PREFIX}:sources"


def source(source_id: str) -> str:
    """Hash of one source: `collector`, `config` (JSON, no secret), `version`, `state` (JSON), `epoch`."""
    return f"{PREFIX}:source:{source_id}"


def source_pattern(source_id: str) -> str:
    """SCAN pattern of every key kept under the source (secret, history, health, in-flight ...)."""
    return f"{PREFIX}:source:{source_id}:*"


def source_secret(source_id: str) -> str:
    """The source's client secret, Fernet-encrypted (never in clear)."""
    return f"{PREFIX}:source:{source_id}:secret"


def source_history(source_id: str) -> str:
    """List of the source's state transitions as JSON, newest first, trimmed to a bound."""
    return f"{PREFIX}:source:{source_id}:history"


def source_in_flight(source_id: str) -> str:
    """Sorted set of holders of in-flight work on the source, scored by when each claim lapses (ms).

    Work on a source (a fetch, a forward) adds itself before it checks the source is not Stopping,
    and removes itself when done; delete waits until no unexpired holder is left.
    """
    return f"{PREFIX}:source:{source_id}:in-flight"


def source_open_events(source_id: str) -> str:
    """Hash of event name -> event id: the source's open (unresolved) health events."""
    return f"{PREFIX}:source:{source_id}:health-open"


def source_event_log(source_id: str) -> str:
    """List of the source's health events as JSON (opened and resolving), newest first, bounded."""
    return f"{PREFIX}:source:{source_id}:health-log"


def stream_of(source_id: str, name: str) -> str:
    """The id of one stream of a source; `checkpoint`, `lease` and `epoch` keys end with it."""
    return f"{source_id}:{name}"


def open_events() -> str:
    """Sorted set of every open health event id, scored by event time (ms)."""
    return f"{PREFIX}:health:open"


def open_event_bodies() -> str:
    """Hash of open health event id -> event JSON."""
    return f"{PREFIX}:health:open-events"


def access_keys() -> str:
    """Hash of access id -> JSON with the key's SHA-256 digest (never the key), label and creation time."""
    return f"{PREFIX}:access-keys"


def fields() -> str:
    """Hash of field id -> field JSON: the fields schema."""
    return f"{PREFIX}:fields"


def field_names() -> str:
    """Hash of field name (case-folded) -> field id: the atomic claim that keeps field names unique."""
    return f"{PREFIX}:field-names"


def counter(name: str) -> str:
    """Hash of one counter's series: `label=value,...` -> count (see `core/store/counters.py`)."""
    return f"{PREFIX}:counter:{name}"


# Collection: what the fetch and forward tasks keep per source besides the stream keys above.


def source_children_pending(source_id: str) -> str:
    """Sorted set of the source's child units (SIEM files, backfill sub-windows) waiting for a slot,
    scored by the order they were recorded in."""
    return f"{PREFIX}:source:{source_id}:children-pending"


def source_children_running(source_id: str) -> str:
    """Set of the source's child units holding one of its in-flight slots (at most the bound)."""
    return f"{PREFIX}:source:{source_id}:children-running"


def source_children_parked(source_id: str) -> str:
    """Sorted set of the source's child units whose collection is halted: they hold no slot until
    an update or a restart puts them back in line (scored by the order they were recorded in)."""
    return f"{PREFIX}:source:{source_id}:children-parked"


def source_halts(source_id: str) -> str:
    """Hash of collection (or `*`: every collection) -> the generation in which it halted (a
    configuration error, its retry window ran out, refused credentials)."""
    return f"{PREFIX}:source:{source_id}:halts"


def source_failures(source_id: str) -> str:
    """Hash of unit -> its failure streak as JSON (first failure, attempts, and what the source shows
    of it: the collection's error, whether it stopped); gone when the unit delivers again."""
    return f"{PREFIX}:source:{source_id}:failures"


def source_progress(source_id: str, collection: str) -> str:
    """One collection's last 24 hours per minute: a fixed ring of 1440 packed slots (minute, records
    forwarded, lag) written in place, so its size never grows (see `core/store/history.py`)."""
    return f"{PREFIX}:source:{source_id}:progress:{collection}"


def source_quarantine(source_id: str) -> str:
    """List of quarantined lines and withheld messages as JSON, newest first, bounded."""
    return f"{PREFIX}:source:{source_id}:quarantine"


def source_quarantine_total(source_id: str) -> str:
    """How many entries were ever quarantined for the source (the list above keeps the newest)."""
    return f"{PREFIX}:source:{source_id}:quarantine-total"


# The Mimecast client.


def throttle(client: str, endpoint: str) -> str:
    """When (epoch seconds) one Mimecast application may call one endpoint again, after a 429: one
    budget for every source and unit using that client id. `client` and `endpoint` are digests."""
    return f"{PREFIX}:throttle:{client}:{endpoint}"


def rate_budget(client: str, endpoint: str) -> str:
    """Hash: what Mimecast last said of one application's quota on one endpoint (remaining, limit,
    reset_at, seen_at), a version for compare-and-set, and the endpoint's path for `/metrics`;
    expires after the reset. `client` and `endpoint` are digests."""
    return f"{PREFIX}:budget:{client}:{endpoint}"


def rate_budget_pattern() -> str:
    """Every rate budget (for `/metrics`)."""
    return f"{PREFIX}:budget:*"


def batch_listing(listing: str) -> str:
    """A SIEM batch listing (file key -> signed URL, size, expiry) as JSON, expiring with its URLs.

    `listing` is a digest of (credential, stream, the `@nextPage` or day that produced it).
    """
    return f"{PREFIX}:batch-listing:{listing}"


# Destinations (managed resources routed per collector).


def destinations() -> str:
    """Sorted set of destination ids, scored by creation order."""
    return f"{PREFIX}:destinations"


def destination_names() -> str:
    """Hash of destination name (case-folded) -> id: the atomic claim that keeps names unique."""
    return f"{PREFIX}:destination-names"


def destination(destination_id: str) -> str:
    """Hash of one destination: `name`, `type`, `config` (JSON, secrets masked), `secrets` (encrypted
    JSON of the secret values), `version`, `created`."""
    return f"{PREFIX}:destination:{destination_id}"


def destination_health(destination_id: str) -> str:
    """Hash of the destination's last outcome: `ok` (time), `failed` (time), `kind`, `message`."""
    return f"{PREFIX}:destination:{destination_id}:health"
