"""The `syslog` destination: RFC 5424 messages over TCP (TLS by default), octet-counted (RFC 6587).

One message per record: PRI from the configured facility and severity 6 (informational), the
write time, the configured hostname and app name, the collection as MSGID, the record's JSON as
MSG, and as structured data the record id, the batch id, the log type and the metadata:

    <134>1 2026-11-29T18:00:00.000Z - mimecast-source - siem [meta@32473 recordId="..." ...] {...}

`meta@32473` uses the enterprise number RFC 5612 reserves for documentation and examples. Syslog
over TCP has no application-level acknowledgement: a write returns once every byte went into the
connection, and a failed write is sent again whole, so delivery is at least once and `recordId`
de-duplicates.
"""

from __future__ import annotations

import re
import select
import socket
import ssl
from datetime import UTC
from typing import Any

from core.clock import Clock, SystemClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import Batch, Message, misconfigured, unreachable
from core.sinks.specs import FACILITIES

SD_ID = "meta@32473"
SEVERITY_INFO = 6
_SD_NAME_BAD = re.compile(r'[^!-~]|[=\]"]')
_SD_VALUE_ESCAPE = re.compile(r'(["\\\]])')
_MSGID_BAD = re.compile(r"[^!-~]")
BOM = "\ufeff"


def sd_name(name: str) -> str:
    """An SD-PARAM name: at most 32 printable ASCII characters without `=`, space, `]`, `"`."""
    return _SD_NAME_BAD.sub("_", name)[:32] or "_"


def sd_value(value: str) -> str:
    return _SD_VALUE_ESCAPE.sub(r"\\\1", value)


def structured_data(batch: Batch, message: Message) -> str:
    params = {"recordId": message.id, "batchId": batch.id, "logType": message.log_type, **message.metadata}
    return "[" + SD_ID + "".join(f' {sd_name(k)}="{sd_value(v)}"' for k, v in params.items()) + "]"


def rfc5424(batch: Batch, message: Message, config: dict[str, Any], timestamp: str) -> bytes:
    """One message, framed: `LEN SP SYSLOG-MSG` with LEN the octets of the message."""
    priority = FACILITIES.index(config.get("facility", "local0")) * 8 + SEVERITY_INFO
    msgid = _MSGID_BAD.sub("_", batch.collection)[:32] or "-"
    text = (
        f"<{priority}>1 {timestamp} {config.get('hostname', '-')} {config.get('appName', 'mimecast-source')}"
        f" - {msgid} {structured_data(batch, message)} {BOM}{message.text}"
    ).encode()
    return str(len(text)).encode("ascii") + b" " + text


class SyslogSink:
    """One connection per batch, closed in order so that the server's close confirms it read it all."""

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        clock: Clock | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.name = name
        self._config = config
        self._address = (config["host"], int(config.get("port", 6514)))
        self._where = f"syslog destination {name!r} ({self._address[0]}:{self._address[1]})"
        self._clock = clock or SystemClock()
        self._timeout = timeout
        tls = config.get("tls")
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.create_default_context(cafile=tls.get("caFile"))
            if not tls.get("verify", True):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if tls.get("certFile"):
                context.load_cert_chain(tls["certFile"], tls["keyFile"])
            self._tls = context

    def __repr__(self) -> str:
        return f"SyslogSink({self.name!r})"

    def write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        now = self._clock.now().astimezone(UTC)
        timestamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        data = b"".join(rfc5424(batch, message, self._config, timestamp) for message in batch.messages)
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        """Send, then close our side and wait for the server to close its own.

        Syslog has no acknowledgement, but a server closes only after reading up to our end of
        stream: its close is the confirmation. A reset or a timeout instead fails the write.
        """
        try:
            with socket.create_connection(self._address, timeout=10.0) as raw:
                raw.settimeout(self._timeout)
                if self._tls is None:
                    raw.sendall(data)
                    raw.shutdown(socket.SHUT_WR)
                    _await_close(raw)
                    return
                with self._tls.wrap_socket(raw, server_hostname=self._address[0]) as connection:
                    if _refused(connection):
                        raise self._refused()
                    connection.sendall(data)
                    try:
                        plain = connection.unwrap()  # our close_notify, then the server's
                    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                        return  # the server closed after reading our close_notify
                    plain.shutdown(socket.SHUT_WR)
                    _await_close(plain)
        except (OSError, ValueError) as exc:
            raise self._failure(exc) from None

    def _refused(self) -> FirstPartyGenericError:
        return misconfigured(
            f"{self._where}: the server closed the TLS session right after the handshake; it may "
            "require a client certificate (set tls.certFile and tls.keyFile) or refuse the one sent"
        )

    def _failure(self, exc: BaseException) -> FirstPartyGenericError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return misconfigured(
                f"{self._where}: TLS verification failed ({exc.verify_message or 'certificate rejected'}); "
                "set tls.caFile to the CA that signed the server's certificate"
            )
        return unreachable(f"{self._where}: {type(exc).__name__}: {str(exc)[:160]}")

    def healthcheck(self) -> None:
        """A connection (and TLS handshake) that sends nothing."""
        self._deliver(b"")

    def close(self) -> None:
        pass


PROBE_SECONDS = 0.05


def _refused(connection: ssl.SSLSocket) -> bool:
    """Whether the server ended the session just after the handshake (a syslog server never sends):
    a server that checks client certificates after the handshake (rsyslog's gtls) closes then, and
    anything sent after that would be lost without a word. Post-handshake messages (session
    tickets) are read and are not a refusal."""
    if not select.select([connection], [], [], PROBE_SECONDS)[0]:
        return False
    connection.setblocking(False)
    try:
        return connection.recv(1) == b""
    except ssl.SSLWantReadError:
        return False
    except (ssl.SSLError, OSError):
        return True
    finally:
        connection.setblocking(True)


def _await_close(connection: socket.socket) -> None:
    """Read until the server closes; a syslog server sends nothing, so anything read is ignored."""
    while connection.recv(4096):
        pass
