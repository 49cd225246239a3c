"""The `s3` destination: one gzip NDJSON object per batch, written once (`If-None-Match: *`).

Key: `<prefix>/<source id>/<collection>/<UTC date>/<batch id>.ndjson.gz`; the lines are the file
destination's. The conditional write makes a retried batch a no-op (412 means "already stored"), so
the destination holds each batch exactly once. The date is the day of the first write: a retry in
the first hours of a day first looks for the batch under the day before, so a batch written just
before midnight is not stored again under the next date.
"""

from __future__ import annotations

import gzip
from datetime import UTC, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from core.clock import Clock, SystemClock
from core.errors import FirstPartyGenericError
from core.sinks.contract import Batch, misconfigured, status_error, unavailable, unreachable
from core.sinks.encoding import ndjson_lines

LOOK_BACK = timedelta(hours=3)  # longer than the engine's 90-minute retry window
_CONFIG_CODES = {
    "NoSuchBucket": "bucket {bucket!r} does not exist",
    "AccessDenied": "access to bucket {bucket!r} is denied for these credentials",
    "InvalidAccessKeyId": "accessKeyId is not known to the store",
    "SignatureDoesNotMatch": "secretAccessKey does not match accessKeyId",
    "AuthorizationHeaderMalformed": "region {region!r} does not match the bucket's",
    "PermanentRedirect": "the bucket is in another region than {region!r}",
    "InvalidBucketName": "bucket {bucket!r} is not a valid bucket name",
}


def object_key(prefix: str, batch: Batch, day: str) -> str:
    parts = [prefix.strip("/")] if prefix.strip("/") else []
    return "/".join([*parts, batch.source_id, batch.collection, day, f"{batch.id}.ndjson.gz"])


class S3Sink:
    def __init__(self, name: str, config: dict[str, Any], *, clock: Clock | None = None) -> None:
        self.name = name
        self._bucket = config["bucket"]
        self._prefix = config.get("prefix") or ""
        self._region = config.get("region") or "us-east-1"
        self._where = f"s3 destination {name!r} (bucket {self._bucket!r})"
        self._clock = clock or SystemClock()
        credentials: dict[str, str] = {}
        if config.get("accessKeyId"):
            credentials = {
                "aws_access_key_id": config["accessKeyId"],
                "aws_secret_access_key": config["secretAccessKey"],
            }
        self._client: Any = boto3.session.Session().client(
            "s3",
            region_name=self._region,
            endpoint_url=config.get("endpointUrl"),
            config=Config(
                connect_timeout=5,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 3},
                s3={"addressing_style": "path"} if config.get("endpointUrl") else None,
            ),
            **credentials,
        )

    def __repr__(self) -> str:
        return f"S3Sink({self.name!r})"

    def key(self, batch: Batch, day: str) -> str:
        return object_key(self._prefix, batch, day)

    def write(self, batch: Batch) -> None:
        if not batch.messages:
            return
        now = self._clock.now().astimezone(UTC)
        earlier = (now - LOOK_BACK).date()
        if earlier != now.date() and self._exists(self.key(batch, earlier.isoformat())):
            return
        body = gzip.compress(ndjson_lines(batch), compresslevel=6, mtime=0)
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=self.key(batch, now.date().isoformat()),
                Body=body,
                IfNoneMatch="*",
                ContentType="application/x-ndjson",
                ContentEncoding="gzip",
            )
        except ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                return  # stored by an earlier attempt
            raise self._failure(exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._failure(exc) from None

    def _exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._failure(exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._failure(exc) from None
        return True

    def _failure(self, exc: Exception) -> FirstPartyGenericError:
        if isinstance(exc, NoCredentialsError):
            return misconfigured(f"{self._where}: no credentials (set accessKeyId/secretAccessKey)")
        if isinstance(exc, ClientError):
            code = _code(exc)
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or None
            if code in _CONFIG_CODES:
                detail = _CONFIG_CODES[code].format(bucket=self._bucket, region=self._region)
                return misconfigured(f"{self._where}: {code}: {detail}", status)
            if code == "ConditionalRequestConflict":
                return unavailable(f"{self._where}: a concurrent write of the same batch; retried")
            error = status_error(status or 500)
            if error is None:  # a 2xx ClientError would be a bug in the store
                return unavailable(f"{self._where}: {code}")
            return FirstPartyGenericError(
                f"{self._where}: {code}: {error.summary}", status=status, code=error.code
            )
        return unreachable(f"{self._where}: {type(exc).__name__}: {str(exc)[:160]}")

    def healthcheck(self) -> None:
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchBucket"):
                raise misconfigured(f"{self._where}: NoSuchBucket: the bucket does not exist") from None
            raise self._failure(exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._failure(exc) from None

    def close(self) -> None:
        self._client.close()


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
