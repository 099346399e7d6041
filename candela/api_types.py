"""Field types shared by every app's API schemas.

Money is a decimal string ("0.25"); times are ISO 8601 UTC; a naive time is read as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, TypeVar

from ninja import Schema
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)


def money_text(value: Decimal) -> str:
    """ "10.000000" → "10.00", "0.250000" → "0.25", "0.000125" stays."""
    whole, _, fraction = f"{value:f}".partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _blank_is_none(value: object) -> object:
    return None if value == "" else value


def storable(value: str) -> str:
    """Text the database can hold: PostgreSQL refuses NUL, UTF-8 refuses lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\x00) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


def _storable_deep(value: object) -> object:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, list | tuple):
        for item in value:
            _storable_deep(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable_deep(key)
            _storable_deep(item)
    return value


T = TypeVar("T")
Money = Annotated[Decimal, PlainSerializer(money_text, return_type=str)]
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]
# A query filter where `?kind=` (as HTML forms and URL builders send) means "no filter".
Filter = Annotated[T | None, BeforeValidator(_blank_is_none)]
# Free text in a query or path: refused (422) when the database could not even compare it.
Text = Annotated[str, AfterValidator(storable)]
# Object ids fit PostgreSQL's bigint; a larger number is a 422, not a database error.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Input(Schema):
    """A request body: an unknown field is a 422, so a typo never silently drops a policy."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        return _storable_deep(value)


def fields_of(payload: Schema, *, partial: bool = False, blank: tuple[str, ...] = ()) -> dict:
    """A payload as model field values: enums as plain strings; `blank` fields map
    null to "" (the models store an unset choice as "", the API speaks null);
    `partial` keeps only what the client sent (PATCH)."""
    values = payload.model_dump(exclude_unset=partial)
    for name, value in values.items():
        if isinstance(value, Enum):
            values[name] = value.value
        elif value is None and name in blank:
            values[name] = ""
    return values


# --- Tenants -------------------------------------------------------------------
