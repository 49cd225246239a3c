"""The Celery app's configuration: at-least-once delivery over Redis, JSON (by orjson), no results kept.

Both the worker (`worker.app`) and the management API (which only sends) build their app here.
Beat's one schedule entry is `dispatch`, which claims the due streams (see `tasks/dispatch.py`).
"""

from __future__ import annotations

import orjson
from celery import Celery
from kombu.serialization import register

from core.engine.units import PRIORITY_SEP, PRIORITY_STEPS
from worker.settings import Settings

# Task messages carry pages of records as text; orjson encodes and decodes them several times
# faster than the standard library (measured in bench/), with the same JSON on the wire.
SERIALIZER = "orjson"


def _encode(value: object) -> str:
    return orjson.dumps(value).decode("utf-8")


register(  # type: ignore[no-untyped-call]
    SERIALIZER, _encode, orjson.loads, content_type="application/x-orjson", content_encoding="utf-8"
)

TASK_MODULES = ["tasks.lifecycle", "tasks.dispatch", "tasks.fetch", "tasks.forward"]
DISPATCH = "tasks.dispatch.dispatch"


def create_celery(settings: Settings) -> Celery:
    app = Celery("mimecast-source", broker=settings.redis_url, include=TASK_MODULES)
    app.conf.update(
        # At-least-once: ack after the task ran, requeue when its process dies, one message at a time.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Our own Redis keys are the record; Celery results are not kept.
        task_ignore_result=True,
        result_backend=None,
        task_serializer=SERIALIZER,
        result_serializer="json",
        accept_content=["json", SERIALIZER],
        task_time_limit=settings.task_time_limit_seconds,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_seconds,
            "unacked_restore_interval": settings.unacked_restore_interval_seconds,
            "unacked_restore_throttle": 1,
            # kombu's defaults, pinned: `tasks.chains` reads these lists' lengths
            "priority_steps": list(PRIORITY_STEPS),
            "sep": PRIORITY_SEP,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        enable_utc=True,
        # Beat: one static entry. Running dispatch twice is harmless (claims are atomic), and a
        # dispatch not run before the next one is due is dropped rather than piled up.
        beat_schedule={
            "dispatch": {
                "task": DISPATCH,
                "schedule": settings.dispatch_interval_seconds,
                "options": {"expires": max(settings.dispatch_interval_seconds, 1.0)},
            }
        },
        beat_max_loop_interval=max(1.0, min(settings.dispatch_interval_seconds, 5.0)),
    )
    return app
