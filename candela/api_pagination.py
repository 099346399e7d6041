"""Limit/offset pagination with bounds, for every list of the management API.

Unbounded numbers would reach the database as out-of-range integers (a 500); here they
are a 422 naming the parameter, like any other invalid input.
"""

from __future__ import annotations

from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
# PostgreSQL's OFFSET is a bigint; nobody pages this far, so a smaller cap is plenty.
MAX_OFFSET = 2**31 - 1


class Pagination(LimitOffsetPagination):
    """`?limit=` (1 to 1000, default 100) and `?offset=`; answers `{"items": [...], "count": n}`."""

    class Input(Schema):
        limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)

    def __init__(self, **kwargs) -> None:
        super().__init__(max_limit=MAX_LIMIT, **kwargs)
