"""The simulator's clock: real time plus an offset that the control plane can only move forward.

A frozen clock stands still until advanced, so a test can compare a listing with the ground truth
without a file being published or a held message released in between.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SimClock:
    """Simulated epoch seconds; starts at `start` (or now) and runs at real speed unless frozen."""

    def __init__(self, start: datetime | None, frozen: bool = False) -> None:
        real = time.time()
        self.started_at = start.timestamp() if start is not None else float(int(real))
        self._offset = self.started_at - real
        self._frozen_at: float | None = self.started_at if frozen else None
        self._lock = threading.Lock()

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now(self) -> float:
        frozen_at = self._frozen_at
        return frozen_at if frozen_at is not None else time.time() + self._offset

    def freeze(self) -> float:
        """Stop the clock where it is; only `advance` moves it until `resume`."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time() + self._offset
            return self._frozen_at

    def resume(self) -> float:
        """Run at real speed again from the frozen moment."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
            return time.time() + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._offset += seconds
            if self._frozen_at is not None:
                self._frozen_at += seconds
        return self.now()


def iso_ms(epoch_ms: int) -> str:
    """`2024-06-05T11:50:06.389Z`, the SIEM endpoints' form."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def api_time(epoch_ms: int) -> str:
    """`2024-06-05T10:15:30+0000`, the /api endpoints' form."""
    return datetime.fromtimestamp(epoch_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time(text: str) -> int:
    """Epoch ms from ISO 8601 with `Z`, `+0000` or `+00:00`; a date alone is midnight UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit() and ":" not in value[-5:]:
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
