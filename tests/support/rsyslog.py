"""A real rsyslogd (Debian's, with the GnuTLS driver) taking RFC 5424 over TCP+TLS on a free port.

It writes every message it receives, raw (`%rawmsg%`: the syslog message after its octet-count
frame), one per line to `out.log`; `messages()` parses them with an RFC 5424 reader of its own
(no code shared with core/sinks). `stop()` kills it, `start()` runs it again on the same port.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port, port_open, wait_until
from tests.support.tls import Authority

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
_HEADER = re.compile(r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_PARAM = re.compile(r' ([^= \]"]{1,32})="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class SyslogMessage:
    priority: int
    timestamp: str
    hostname: str
    app_name: str
    msgid: str
    sd_id: str
    params: dict[str, str]
    msg: str

    @property
    def record(self) -> Any:
        return json.loads(self.msg.removeprefix("\ufeff"))


def parse(line: str) -> SyslogMessage:
    """One RFC 5424 message with one SD-ELEMENT, as this project's destination sends them."""
    head = _HEADER.match(line)
    if head is None or line[head.end()] != "[":
        raise ValueError(f"not an RFC 5424 message with structured data: {line[:80]!r}")
    position = head.end() + 1
    sd_id_end = line.index(" ", position)
    sd_id = line[position:sd_id_end]
    position = sd_id_end
    params: dict[str, str] = {}
    while line[position] != "]":
        param = _PARAM.match(line, position)
        if param is None:
            raise ValueError(f"bad SD-PARAM at {position}: {line[position : position + 40]!r}")
        params[param.group(1)] = re.sub(r"\\([\"\\\]])", r"\1", param.group(2))
        position = param.end()
    msg = line[position + 2 :]  # "] " then MSG
    return SyslogMessage(
        int(head.group(1)), head.group(2), head.group(3), head.group(4), head.group(6), sd_id, params, msg
    )


class Rsyslog:
    def __init__(self, directory: Path, ca: Authority | None, *, client_certificates: bool = False) -> None:
        if not os.path.exists(RSYSLOGD):
            pytest.skip("rsyslogd is not installed (make test installs rsyslog and rsyslog-gnutls)")
        self.directory = directory
        self.ca = ca
        # x509/certvalid: a client must present a certificate the CA signed, or the session is refused.
        self.auth_mode = "x509/certvalid" if client_certificates else "anon"
        self.port = free_port()
        self.output = directory / "out.log"
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "work").mkdir(exist_ok=True)
        self.config = directory / "rsyslog.conf"
        self.config.write_text(self._config())

    def _config(self) -> str:
        tls = ""
        stream = ""
        if self.ca is not None:
            tls = (
                f' defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{self.ca.ca_file}"'
                f' defaultNetstreamDriverCertFile="{self.ca.cert_file}"'
                f' defaultNetstreamDriverKeyFile="{self.ca.key_file}"'
            )
            stream = (
                f' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="{self.auth_mode}"'
            )
        return (
            f'global(workDirectory="{self.directory / "work"}" maxMessageSize="256k"{tls})\n'
            f'module(load="imtcp"{stream})\n'
            f'input(type="imtcp" address="127.0.0.1" port="{self.port}")\n'
            'template(name="raw" type="string" string="%rawmsg%\\n")\n'
            f'action(type="omfile" file="{self.output}" template="raw"'
            ' flushOnTXEnd="on" asyncWriting="off")\n'
        )

    def start(self) -> None:
        if self._process is not None:
            return
        with (self.directory / "rsyslogd.stderr").open("ab") as log:
            self._process = subprocess.Popen(
                [RSYSLOGD, "-n", "-f", str(self.config), "-i", str(self.directory / "rsyslogd.pid")],
                stdout=log,
                stderr=log,
            )
        wait_until(lambda: port_open(self.port), timeout=20, what=f"rsyslogd on port {self.port}")

    def stop(self) -> None:
        """kill -9: the destination is gone at once."""
        if self._process is None:
            return
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=10)
        self._process = None
        (self.directory / "rsyslogd.pid").unlink(missing_ok=True)

    def __enter__(self) -> Rsyslog:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def messages(self, settle: float = 0.4) -> list[SyslogMessage]:
        """Every message written so far, once the output has stopped growing for `settle` seconds."""
        size, since = -1, time.monotonic()
        while time.monotonic() - since < settle:
            current = self.output.stat().st_size if self.output.exists() else 0
            if current != size:
                size, since = current, time.monotonic()
            time.sleep(0.05)
        if not self.output.exists():
            return []
        return [parse(line) for line in self.output.read_text(encoding="utf-8").splitlines() if line]
