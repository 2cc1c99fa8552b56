"""Bounded pagination for every list: ``limit``/``offset`` query parameters with maxima, and one ``Page[T]``."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_LIMIT = 100
# Far beyond any real list, and well within what every database's OFFSET takes.
MAX_OFFSET = 100_000


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first unless the endpoint says otherwise."""

    items: list[T]
    total: int = Field(description="how many there are in all")
    limit: int
    offset: int


class PageQuery(BaseModel):
    """Where a page starts and how long it is."""

    limit: int
    offset: int

    @property
    def window(self) -> int:
        """How many items from the start a page needs (to merge several sources before cutting)."""
        return self.limit + self.offset


async def page_query(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"at most {MAX_LIMIT}")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"at most {MAX_OFFSET}")] = 0,
) -> PageQuery:
    """FastAPI dependency: the bounded ``limit`` and ``offset`` of a list request."""
    return PageQuery(limit=limit, offset=offset)


Paging = Annotated[PageQuery, Depends(page_query)]


async def fetch_page(session: AsyncSession, query: Any, order_by: Any, paging: PageQuery) -> tuple[int, list[Any]]:
    """The total of a query and the rows of one page of it; ``order_by`` is one clause or a tuple of them."""
    total = (await session.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    ordered = query.order_by(*order_by) if isinstance(order_by, tuple) else query.order_by(order_by)
    rows = (await session.execute(ordered.limit(paging.limit).offset(paging.offset))).scalars().all()
    return int(total), list(rows)
