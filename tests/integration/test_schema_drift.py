"""Models and migrations cannot drift: for each service, a database migrated to head is what its SQLModel
tables describe, as Alembic's autogenerate comparison sees it, on SQLite and PostgreSQL alike (run with
TEST_DATABASE_URL for the latter). Also: the first revision's databases upgrade in place, and the helper new
services' first revisions use builds the columns ``ApplicationRecord`` declares."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel.sql.sqltypes import AutoString

from shared import registry
from shared.db import alembic_config, create_engine
from shared.migrations import comparison_options, models_module_of, schema_drift, service_metadata
from shared.records import ApplicationRecord
from shared.schema_history import application_columns_v1
from tests.support import Databases

SERVICES = [s.name for s in registry.with_database()]
# The services released with revision 0001, whose 0002 adds the form version to their application table.
FIRST_RELEASE = ["registration", "deregistration"]


def application_models() -> list[type[ApplicationRecord]]:
    """Every service's application table (importing the services' models modules declares them)."""
    for service in SERVICES:
        importlib.import_module(models_module_of(service))
    tables = [c for c in ApplicationRecord.__subclasses__() if isinstance(getattr(c, "__table__", None), sa.Table)]
    return sorted(tables, key=lambda cls: cls.__name__)


def describe(item: Any) -> str:
    """One part of an Alembic difference, named the way a reader looks for it."""
    if isinstance(item, sa.Table):
        return f"table {item.name}"
    if isinstance(item, sa.Column):
        return f"column {item.table.name}.{item.name} {item.type!r} nullable={item.nullable}"
    if isinstance(item, sa.Index | sa.UniqueConstraint):
        return f"{type(item).__name__} {item.name} on {[c.name for c in item.columns]}"
    return repr(item)


def shown(value: Any) -> str:
    """A column attribute as the database or the model has it (server defaults by their SQL text)."""
    if isinstance(value, sa.DefaultClause):
        value = getattr(value.arg, "text", value.arg)
    return repr(value)


def readable(diffs: list[Any]) -> str:
    """Alembic's differences one per line (modifications of a column come grouped in lists)."""
    lines = []
    for op in (op for diff in diffs for op in (diff if isinstance(diff, list) else [diff])):
        if op[0].startswith("modify_"):
            kind, _schema, table, column, _existing, in_database, in_models = op
            lines.append(f"  {kind} {table}.{column}: database {shown(in_database)}, models {shown(in_models)}")
        else:
            lines.append(f"  {op[0]}: " + ", ".join(describe(x) for x in op[1:] if x is not None))
    return "\n".join(lines)


async def on_database(url: str, work: Callable[[Connection], Any]) -> Any:
    """Run a blocking inspection or change on a sync connection of a fresh engine, committed."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(work)
            await conn.commit()
            return result
    finally:
        await engine.dispose()


async def alembic(action: str, service: str, url: str, revision: str) -> None:
    """``alembic upgrade|downgrade <revision>`` for one service (its env runs a loop of its own)."""
    await asyncio.to_thread(getattr(command, action), alembic_config(service, url), revision)


async def assert_no_drift(service: str, url: str) -> None:
    diffs = await on_database(url, lambda c: schema_drift(c, service))
    assert not diffs, (f"{service}: the migrated database differs from the models; write a revision (or fix the "
                       f"models) so that nothing is left:\n{readable(diffs)}")


@pytest.mark.parametrize("service", SERVICES)
async def test_models_match_the_migrated_database(databases: Databases, service: str) -> None:
    url = databases.new(f"drift_{service}")
    await alembic("upgrade", service, url, "head")
    created = await on_database(url, lambda c: set(sa.inspect(c).get_table_names()))
    missing = set(service_metadata(service).tables) - created
    assert not missing, f"{service}: the migrations create no table for the models {sorted(missing)}"
    await assert_no_drift(service, url)

    # The newest revision's way back and forth lands on the same schema.
    await alembic("downgrade", service, url, "-1")
    await alembic("upgrade", service, url, "head")
    await assert_no_drift(service, url)


def sample_row(table: sa.Table, serial: int) -> dict[str, Any]:
    """A value for every required column of a reflected table, whatever the service."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable and not column.primary_key:
            continue
        kind = column.type
        if isinstance(kind, sa.JSON):
            row[column.name] = {}
        elif isinstance(kind, sa.DateTime):
            row[column.name] = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
        elif isinstance(kind, sa.Date):
            row[column.name] = datetime(2026, 11, 26).date()
        elif isinstance(kind, sa.Boolean):
            row[column.name] = False
        elif isinstance(kind, sa.Integer):
            row[column.name] = serial
        else:
            row[column.name] = f"{serial}-{column.name}"[: getattr(kind, "length", None) or None]
    return row


@pytest.mark.parametrize("service", FIRST_RELEASE)
async def test_a_database_at_0001_gets_the_form_version_in_place(databases: Databases, service: str) -> None:
    url = databases.new(f"form_version_{service}")
    table_name = f"{service}_application"
    await alembic("upgrade", service, url, "0001")

    # The comparison is not blind: at 0001, the models have the form version beyond it (and whatever later
    # revisions add).
    diffs = await on_database(url, lambda c: schema_drift(c, service))
    added = [(d[2], d[3].name) for d in diffs if isinstance(d, tuple) and d[0] == "add_column"]
    assert (table_name, "form_version") in added, readable(diffs)

    def insert(conn: Connection) -> dict[str, Any]:
        table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
        row = sample_row(table, 7)
        conn.execute(table.insert().values(row))
        return row

    row = await on_database(url, insert)
    await alembic("upgrade", service, url, "head")

    def stored(conn: Connection) -> list[dict[str, Any]]:
        table = sa.Table(table_name, sa.MetaData(), autoload_with=conn)
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]

    rows = await on_database(url, stored)
    assert [(r["id"], r["number"], r["form_version"]) for r in rows] == [(row["id"], row["number"], 1)]
    await assert_no_drift(service, url)

    await alembic("downgrade", service, url, "0001")
    rows = await on_database(url, stored)
    assert [(r["id"], r["number"]) for r in rows] == [(row["id"], row["number"])]
    assert "form_version" not in rows[0]


def compare(url: str, metadata: sa.MetaData) -> Callable[[Connection], list[Any]]:
    """The drift comparison of an arbitrary metadata (no service, no version table)."""
    return lambda c: list(compare_metadata(MigrationContext.configure(c, opts=comparison_options()), metadata))


@pytest.mark.parametrize("model", application_models(), ids=lambda m: m.__name__)
async def test_the_application_columns_helper_builds_what_the_model_declares(
        databases: Databases, model: type[ApplicationRecord]) -> None:
    common = set(ApplicationRecord.model_fields)
    helper = sa.MetaData()
    sa.Table("probe_application", helper, *application_columns_v1())
    assert {c.name for c in helper.tables["probe_application"].columns} == common
    url = databases.new("app_columns")
    await on_database(url, helper.create_all)

    # The common columns as the concrete table declares them, under the probe's name.
    declared = sa.MetaData()
    sa.Table("probe_application", declared, *(c._copy() for c in model.__table__.columns if c.name in common))
    diffs = await on_database(url, compare(url, declared))
    assert not diffs, f"application_columns_v1() differs from ApplicationRecord:\n{readable(diffs)}"


async def test_a_model_string_without_the_table_s_length_is_drift(databases: Databases) -> None:
    # Alembic alone lets a length-less VARCHAR match VARCHAR(36); shared.migrations.compare_type does not.
    table = sa.MetaData()
    sa.Table("probe_length", table, sa.Column("id", sa.String(36), primary_key=True))
    url = databases.new("lengths")
    await on_database(url, table.create_all)
    model = sa.MetaData()
    sa.Table("probe_length", model, sa.Column("id", AutoString(), primary_key=True))
    diffs = await on_database(url, compare(url, model))
    assert [(op[0], op[2], op[3]) for diff in diffs for op in diff] == [("modify_type", "probe_length", "id")]
