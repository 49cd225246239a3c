"""Request bodies of the management API: the hosted product's JSON, validated strictly.

Unknown keys are refused (a typo never passes silently), types are strict (no "1" for 1), and
every message names the field. The JSON example of the product reference validates as it is.
Read-only keys a client may send back from a GET (`id`, `state`, `droppedFields`, `alive` ...)
are accepted and ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.config import JsonDict

from core.mimecast.streams import Collection
from core.mimecast.windows import collect_start
from core.models import CollectorConfig, FieldValue, ProcessingRule, SiemMode, SourceConfig
from core.sinks import specs
from core.store.secrets import MASK

STRICT = ConfigDict(extra="forbid", strict=True)
COLLECTIONS = tuple(collection.value for collection in Collection)
SIEM_MODES = tuple(mode.value for mode in SiemMode)
FILTER_TYPES = ("Include", "Exclude", "Mask", "Hash")
MAX_FIELDS = 30
MAX_FILTERS = 50
FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Documented in the OpenAPI document (the validators below enforce them with better messages).
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"
COLLECT_FROM_PATTERN = (
    r"^([1-9][0-9]{0,5}[mhdw]|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2}))$"
)
NO_SPACE_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"
FIELDS_SCHEMA: JsonDict = {
    "type": "object",
    "maxProperties": 30,
    "propertyNames": {"pattern": r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"},
    "additionalProperties": {"type": ["string", "boolean", "number"], "maxLength": 1024},
}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 8 << 20


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_control(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value.replace("\n", "").replace("\t", "")):
        raise ValueError("must not contain control characters")
    return value


def check_fields(value: dict[str, Any]) -> dict[str, FieldValue]:
    """Custom fields: at most 30, names of letters, digits, `_`, `-`, `.`; `_siemForward` a boolean."""
    if len(value) > MAX_FIELDS:
        raise ValueError(f"at most {MAX_FIELDS} fields")
    for name, item in value.items():
        if not FIELD_NAME.match(name):
            raise ValueError(
                "field names are 1 to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'"
            )
        if name == "_siemForward" and not isinstance(item, bool):
            raise ValueError("_siemForward must be a boolean")
        if not isinstance(item, str | bool | int | float):
            raise ValueError(f"the value of {name} must be a string, a boolean or a number")
        if isinstance(item, str) and (len(item) > 1024 or _CONTROL.search(item)):
            raise ValueError(
                f"the value of {name} must be at most 1024 characters, without control characters"
            )
    return value


class SchemaRef(BaseModel):
    model_config = STRICT
    type: str = Field(json_schema_extra={"enum": ["Mimecast"]})


class FilterIn(BaseModel):
    """A processing rule; its regexp must compile with RE2 semantics (no backreferences, no lookaround)."""

    model_config = STRICT
    name: str = Field(min_length=1, max_length=128)
    filterType: str = Field(json_schema_extra={"enum": list(FILTER_TYPES)})
    regexp: str = Field(min_length=1, max_length=4096)
    mask: str | None = Field(default=None, max_length=256)

    @field_validator("filterType")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in FILTER_TYPES:
            raise ValueError(f"unknown filterType; allowed: {', '.join(FILTER_TYPES)}")
        return value

    @field_validator("regexp")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        try:
            compiled = re2.compile(value, _RE2_OPTIONS)
        except re2.error as exc:
            detail = (
                exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            )
            raise ValueError(f"does not compile as an RE2 regular expression: {detail}") from None
        if info.data.get("filterType") in ("Mask", "Hash") and compiled.groups < 1:
            raise ValueError(f"a {info.data['filterType']} rule needs at least one capture group")
        return value

    def to_rule(self) -> ProcessingRule:
        mask = (self.mask if self.mask is not None else "#") if self.filterType == "Mask" else None
        return ProcessingRule(self.name, self.filterType, self.regexp, mask)


class SourceConfigIn(BaseModel):
    """`source.config` of a create: the product reference's parameters, plus optional `filters`."""

    model_config = STRICT
    name: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NAME_PATTERN})
    description: str | None = Field(
        default=None, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN}
    )
    category: str | None = Field(default=None, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN})
    fields: dict[str, Any] = Field(default_factory=dict, json_schema_extra=FIELDS_SCHEMA)
    clientID: str = Field(min_length=1, max_length=256, json_schema_extra={"pattern": NO_SPACE_PATTERN})
    clientSecret: str = Field(min_length=1, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN})
    dataCollection: list[str] = Field(
        min_length=1,
        max_length=len(COLLECTIONS),
        json_schema_extra={"items": {"type": "string", "enum": list(COLLECTIONS)}},
    )
    filters: list[FilterIn] = Field(default_factory=list, max_length=MAX_FILTERS)
    # Where new streams start: an ISO 8601 time with a zone, or a duration back (`90m`, `12h`, `7d`, `2w`).
    collectFrom: str | None = Field(
        default=None, min_length=2, max_length=64, json_schema_extra={"pattern": COLLECT_FROM_PATTERN}
    )

    # How SIEM logs are read: batch files, the streaming endpoint, or `auto` (both; see the README).
    siemMode: str = Field(default=SiemMode.AUTO.value, json_schema_extra={"enum": list(SIEM_MODES)})

    @field_validator("siemMode")
    @classmethod
    def _siem_mode(cls, value: str) -> str:
        if value not in SIEM_MODES:
            shown = value if len(value) <= 64 else value[:61] + "..."
            raise ValueError(f"unknown value {shown!r}; allowed: {', '.join(SIEM_MODES)}")
        return value

    @field_validator("collectFrom")
    @classmethod
    def _collect_from(cls, value: str | None) -> str | None:
        if value is not None:
            collect_start(value, datetime.now(UTC))  # ValueError names what is wrong
            return value.strip()
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("description", "category")
    @classmethod
    def _valid_text(cls, value: str | None) -> str | None:
        return _no_control(value)

    @field_validator("fields")
    @classmethod
    def _valid_fields(cls, value: dict[str, Any]) -> dict[str, FieldValue]:
        return check_fields(value)

    @field_validator("clientID")
    @classmethod
    def _client_id(cls, value: str) -> str:
        if value != value.strip() or _CONTROL.search(value) or " " in value:
            raise ValueError("must not contain spaces or control characters")
        return value

    @field_validator("clientSecret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("dataCollection", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("dataCollection")
    @classmethod
    def _collections(cls, value: list[str]) -> list[str]:
        for item in value:
            if item not in COLLECTIONS:
                shown = item if len(item) <= 64 else item[:61] + "..."
                raise ValueError(f"unknown value {shown!r}; allowed: {', '.join(COLLECTIONS)}")
        if len(set(value)) != len(value):
            raise ValueError("each value may appear once")
        return value

    def to_config(self) -> SourceConfig:
        return SourceConfig(
            name=self.name,
            client_id=self.clientID,
            data_collection=tuple(self.dataCollection),
            description=self.description,
            category=self.category,
            fields=tuple(self.fields.items()),
            filters=tuple(rule.to_rule() for rule in self.filters),
            collect_from=self.collectFrom,
            siem_mode=SiemMode(self.siemMode),
        )

    def new_secret(self) -> str | None:
        """The secret to store: None keeps the stored one (omitted, or the mask sent back)."""
        return self.clientSecret


class SourceConfigUpdate(SourceConfigIn):
    """`source.config` of an update: `clientSecret` may be left out or sent as the mask to keep it."""

    clientSecret: str | None = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN}
    )

    def new_secret(self) -> str | None:
        return None if self.clientSecret in (None, MASK) else self.clientSecret


class SourceIn(BaseModel):
    """`source` of a create."""

    model_config = STRICT
    NOT_MODIFIABLE: ClassVar[bool] = False
    config: SourceConfigIn
    schemaRef: SchemaRef
    sourceType: str = Field(json_schema_extra={"enum": ["Universal"]})
    # Read-only parts of a source as a GET shows it; accepted back and ignored.
    id: str | None = Field(default=None, max_length=64)
    state: dict[str, Any] | None = None
    droppedFields: list[str] | None = None

    @field_validator("schemaRef")
    @classmethod
    def _mimecast(cls, value: SchemaRef) -> SchemaRef:
        if value.type != "Mimecast":
            raise ValueError(cls._fixed("schemaRef.type", "Mimecast"))
        return value

    @field_validator("sourceType")
    @classmethod
    def _universal(cls, value: str) -> str:
        if value != "Universal":
            raise ValueError(cls._fixed("sourceType", "Universal"))
        return value

    @classmethod
    def _fixed(cls, what: str, value: str) -> str:
        if cls.NOT_MODIFIABLE:
            return f"not modifiable: {what} of a Mimecast source is {value!r}"
        return f"must be {value!r} for a Mimecast source"


class SourceUpdate(SourceIn):
    NOT_MODIFIABLE: ClassVar[bool] = True
    config: SourceConfigUpdate


class SourceRequest(BaseModel):
    """The body of `POST /collectors/{id}/sources`: exactly the product reference's JSON."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)
    api_version: str | None = Field(default=None, alias="api.version", json_schema_extra={"enum": ["v1"]})
    source: SourceIn

    @field_validator("api_version")
    @classmethod
    def _v1(cls, value: str | None) -> str | None:
        if value not in (None, "v1"):
            raise ValueError("must be 'v1'")
        return value


class SourceUpdateRequest(SourceRequest):
    """The body of `PUT .../sources/{id}`: as a create; `clientSecret` optional, the mask keeps it."""

    source: SourceUpdate


class CollectorIn(BaseModel):
    model_config = STRICT
    collectorType: str = Field(json_schema_extra={"enum": ["Hosted"]})
    name: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": NAME_PATTERN})
    description: str | None = Field(
        default=None, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN}
    )
    category: str | None = Field(default=None, max_length=1024, json_schema_extra={"pattern": TEXT_PATTERN})
    fields: dict[str, Any] = Field(default_factory=dict, json_schema_extra=FIELDS_SCHEMA)
    timeZone: str | None = Field(default=None, max_length=64, json_schema_extra={"pattern": TEXT_PATTERN})
    # Names of the destinations its sources' batches go to; absent or empty: the default (SINK_URL).
    destinations: list[str] | None = Field(default=None, max_length=16)
    # Read-only parts of a collector as a GET shows it; accepted back and ignored.
    id: str | None = Field(default=None, max_length=64)
    alive: bool | None = None
    ephemeral: bool | None = None

    @field_validator("destinations")
    @classmethod
    def _valid_destinations(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for name in value:
            try:
                specs.check_name(name)
            except specs.InvalidDestination as exc:
                raise ValueError(f"{name!r} {exc.problem}") from None
        if len({name.casefold() for name in value}) != len(value):
            raise ValueError("names a destination twice")
        return value

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return _name(value)

    @field_validator("description", "category", "timeZone")
    @classmethod
    def _valid_text(cls, value: str | None) -> str | None:
        return _no_control(value)

    @field_validator("fields")
    @classmethod
    def _valid_fields(cls, value: dict[str, Any]) -> dict[str, FieldValue]:
        return check_fields(value)

    @field_validator("collectorType")
    @classmethod
    def _hosted(cls, value: str) -> str:
        if value != "Hosted":
            raise ValueError("must be 'Hosted': this deployment runs hosted collectors only")
        return value

    def to_config(self) -> CollectorConfig:
        return CollectorConfig(
            name=self.name,
            description=self.description,
            category=self.category,
            fields=tuple(self.fields.items()),
            time_zone=self.timeZone,
            destinations=tuple(self.destinations or ()),
        )


class CollectorRequest(BaseModel):
    model_config = STRICT
    collector: CollectorIn


class DestinationIn(BaseModel):
    """A destination; `config` is checked against its type by `core.sinks.specs` (see README)."""

    model_config = STRICT
    name: str = Field(min_length=1, max_length=128, json_schema_extra={"pattern": specs.NAME.pattern})
    type: str = Field(json_schema_extra={"enum": list(specs.TYPES)})
    config: dict[str, Any]
    # Read-only parts as a GET shows them; accepted back and ignored.
    id: str | None = Field(default=None, max_length=64)
    health: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        try:
            return specs.check_name(value)
        except specs.InvalidDestination as exc:
            raise ValueError(exc.problem) from None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in specs.TYPES:
            raise ValueError(f"must be one of {', '.join(specs.TYPES)}")
        return value


class DestinationRequest(BaseModel):
    model_config = STRICT
    destination: DestinationIn


class FieldRequest(BaseModel):
    model_config = STRICT
    fieldName: str = Field(
        min_length=1, max_length=128, json_schema_extra={"pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"}
    )

    @field_validator("fieldName")
    @classmethod
    def _field_name(cls, value: str) -> str:
        if value.startswith("_"):
            raise ValueError("names starting with '_' are built-in and always allowed; they need no entry")
        if not FIELD_NAME.match(value):
            raise ValueError("1 to 128 letters, digits, '_', '-' or '.', not starting with '-' or '.'")
        return value


class ResourceRef(BaseModel):
    model_config = STRICT
    id: str = Field(min_length=1, max_length=64)
    type: str = Field(json_schema_extra={"enum": ["Source", "Collector"]})

    @field_validator("type")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ("Source", "Collector"):
            raise ValueError("must be 'Source' or 'Collector'")
        return value


class ResourcesRequest(BaseModel):
    model_config = STRICT
    data: list[ResourceRef] = Field(min_length=1, max_length=100)


class ResetRequest(BaseModel):
    """The body of `POST .../sources/{id}/action/reset`: where collection starts again (a backfill)."""

    model_config = STRICT
    startTime: str = Field(
        min_length=1, max_length=64, description="ISO 8601 with a time zone, e.g. 2026-11-24T00:00:00Z"
    )

    @field_validator("startTime")
    @classmethod
    def _moment(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 time, e.g. 2026-11-24T00:00:00Z") from None
        if moment.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-11-24T00:00:00Z")
        return moment.astimezone(UTC).isoformat()

    def start(self) -> datetime:
        return datetime.fromisoformat(self.startTime)
