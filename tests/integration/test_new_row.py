"""``shared.records.new_row`` builds the same row object as the model's constructor, and the database stores it
the same: every field given or defaulted, a pending INSERT once added, changes after that saved as usual."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import records
from shared.db import create_engine, create_sessionmaker, migrate_async
from shared.records import DepartmentTask, Timer, new_row, utcnow
from tests.support import Databases

TASK = {"application_id": "app-new-row", "application_number": "QYKB-440703-20261129-000001",
        "service": "registration", "department": "tax", "kind": "tax_confirmation", "status": "waiting",
        "depends_on": ["samr"], "working_days": 1}


@pytest.fixture
async def maker(databases: Databases) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = databases.new("new_row")
    await migrate_async("registration", url)
    engine = create_engine(url)
    yield create_sessionmaker(engine)
    await engine.dispose()


def test_a_new_row_is_what_the_constructor_makes() -> None:
    made, built = DepartmentTask(**TASK), new_row(DepartmentTask, **TASK)
    expected: dict[str, Any] = made.model_dump(exclude={"id", "created_at"})
    assert built.model_dump(exclude={"id", "created_at"}) == expected
    assert built.model_fields_set == made.model_fields_set
    assert built.id and built.id != made.id  # a fresh id, from the same factory
    assert built.created_at.tzinfo is not None
    assert built.details == {} and built.details is not new_row(DepartmentTask, **TASK).details  # never shared


def test_a_new_row_is_usable_in_a_fresh_process_before_any_query() -> None:
    """The first thing a process does may be to build a row: its attributes work as a constructed one's do."""
    code = ("from shared.records import Timer, new_row, utcnow; "
            "t = new_row(Timer, kind='k', target_id='x', due_at=utcnow()); print(t.kind, len(t.id), t.payload)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["k", "36", "{}"]


def test_a_mutable_plain_default_is_never_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose list column defaults to a plain ``[]`` (not a factory) gives each row its own list."""
    names, defaults = records._fields_of(DepartmentTask)
    plain = tuple((n, [], False) if n == "depends_on" else (n, d, f) for n, d, f in defaults)
    monkeypatch.setattr(records, "_fields_of", lambda _model: (names, plain))
    given = {k: v for k, v in TASK.items() if k != "depends_on"}
    first, second = new_row(DepartmentTask, **given), new_row(DepartmentTask, **given)
    first.depends_on.append("samr")
    assert second.depends_on == [] and plain[[n for n, _d, _f in plain].index("depends_on")][1] == []


def test_a_name_that_is_not_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="no field colour"):
        new_row(DepartmentTask, colour="red", **TASK)


async def test_a_new_row_is_inserted_and_later_changes_are_saved(
        maker: async_sessionmaker[AsyncSession]) -> None:
    task = new_row(DepartmentTask, **TASK)
    due = utcnow()
    timer = new_row(Timer, kind="materials.deferral", target_id=TASK["application_id"], due_at=due,
                    payload={"pending": [{"code": "lease"}]})
    async with maker() as session, session.begin():
        session.add_all([task, timer])
    async with maker() as session, session.begin():
        stored = await session.get(DepartmentTask, task.id)
        assert stored is not None
        assert stored.model_dump() == task.model_dump()
        stored.status = "requested"
        stored.details = {"uscc": "91440703MA00000001"}
        found = await session.get(Timer, timer.id)
        assert found is not None
        assert (found.due_at, found.payload, found.fired_at) == (due, {"pending": [{"code": "lease"}]}, None)
    async with maker() as session:
        again = await session.get(DepartmentTask, task.id)
        assert again is not None
        assert (again.status, again.details) == ("requested", {"uscc": "91440703MA00000001"})
