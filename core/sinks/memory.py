"""The in-memory destination: the contract's twin for unit tests of the tasks that write batches."""

from __future__ import annotations

from collections import deque

from core.errors import FirstPartyGenericError
from core.sinks.contract import Batch, Message, status_error, unreachable


class MemorySink:
    """Keeps each batch once, by id; can be told to fail the next writes or to be down."""

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.attempts = 0
        self.down = False
        self._failures: deque[FirstPartyGenericError] = deque()

    def fail_next(self, count: int = 1, *, status: int = 503) -> None:
        """The next `count` writes fail as a destination answering `status` would."""
        if status_error(status) is None:
            raise ValueError(f"status {status} is a success, not a failure")
        for _ in range(count):
            error = status_error(status)
            assert error is not None
            self._failures.append(error)

    def write(self, batch: Batch) -> None:
        self.attempts += 1
        if self.down:
            raise unreachable("memory destination is down")
        if self._failures:
            raise self._failures.popleft()
        self.batches.setdefault(batch.id, batch)

    def messages(self) -> list[Message]:
        """Every accepted message, batches in the order they were first accepted."""
        return [message for batch in self.batches.values() for message in batch.messages]

    def healthcheck(self) -> None:
        if self.down:
            raise unreachable("memory destination is down")

    def close(self) -> None:
        pass
