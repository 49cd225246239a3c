"""A small supervisor of child processes for `mimecast-source run`.

Each child runs in its own process group, so Ctrl-C in a terminal reaches only the supervisor,
which stops the children in order, and a child's own children (Celery's pool) go with it. Each
child also asks Linux for a parent-death signal (prctl PR_SET_PDEATHSIG): if the supervisor itself
dies, even by SIGKILL, every child gets a signal at once (SIGTERM; SIGKILL for the Celery worker,
whose shutdown can hang without its broker), so nothing is left holding the ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx

STOP_SECONDS = 30.0
READY_SECONDS = 90.0
LOG_TAIL_LINES = 5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with(parent: int, death: signal.Signals) -> Callable[[], None]:
    """The child's first act after fork: `death` when `parent` dies, default SIGINT and SIGTERM."""

    def prepare() -> None:
        # Dispositions set to "ignore" survive exec: a supervisor started where SIGINT is ignored
        # (a script's `cmd &`) would otherwise pass that on to every child.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, death, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl took hold
            os.kill(os.getpid(), death)

    return prepare


class StartFailed(click.ClickException):
    """A child that did not come up; the message names its log."""


@dataclass
class Supervisor:
    """Child processes, each in its own process group, stopped in reverse order on the way out."""

    log_dir: Path
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(
        self, name: str, args: list[str], env: dict[str, str], death: signal.Signals = signal.SIGTERM
    ) -> subprocess.Popen[bytes]:
        """Start a child; `death` is the signal it gets if the supervisor dies (SIGTERM by default)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as log:
            # Its own process group: Ctrl-C reaches only this supervisor, which stops the children
            # in order; and a child's own children (Celery's pool) can be stopped with it.
            process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
                # preexec_fn is safe here: the supervisor runs no threads.
                preexec_fn=_die_with(os.getpid(), death),
            )
        self.children.append((name, process))
        return process

    def exited(self) -> str | None:
        for name, process in self.children:
            if process.poll() is not None:
                return name
        return None

    def wait(self) -> str | None:
        """Block until Ctrl-C / SIGTERM (None) or a child exits (its name)."""
        try:
            while True:
                name = self.exited()
                if name is not None:
                    return name
                time.sleep(0.5)
        except KeyboardInterrupt:
            return None

    def stop(self) -> None:
        """SIGTERM to every child but redis at once, then redis; SIGKILL to what outlives the wait."""
        first = [(name, p) for name, p in reversed(self.children) if name != "redis"]
        last = [(name, p) for name, p in self.children if name == "redis"]
        for group in (first, last):
            for _name, process in group:
                if process.poll() is None:
                    signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + STOP_SECONDS
            for _name, process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    signal_group(process, signal.SIGKILL)
                    process.wait(timeout=10)
                signal_group(process, signal.SIGKILL)  # stragglers of its group, if any


def signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_for(check: Callable[[], bool], supervisor: Supervisor, what: str, log: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        dead = supervisor.exited()
        if dead is not None:
            path = supervisor.log_dir / f"{dead}.log"
            raise StartFailed(f"{dead} exited during start; see {path}{_tail(path)}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    raise StartFailed(
        f"{what} did not answer within {READY_SECONDS:.0f}s; see {supervisor.log_dir / log}.log"
    )


def _tail(path: Path) -> str:
    """The last lines of a child's log, indented, to show with its failure."""
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return ""
    return "".join(f"\n  {line[:300]}" for line in lines)
