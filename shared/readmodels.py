"""Read models kept from other services' events: what a service knows of an enterprise without asking.

Every service that acts for enterprises (deregistration, utilities, real estate…) keeps its own table of
them, built only from ``registration.enterprise.registered`` and, unless it is the one deciding them,
``deregistration.enterprise.*`` (deregistered, suspended, resumed). The table's common columns are
``EnterpriseRecord``; a service adds its own (``class EnterpriseView(EnterpriseRecord, table=True)``).
The consumers here apply each event once (inbox), refresh what registration announces, and never let an
older status announcement overwrite a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlmodel import Field, SQLModel

from shared.applications import lock_row
from shared.bus import ConsumerSpec
from shared.events import (
    CloudEvent,
    EnterpriseChanged,
    EnterpriseRegistered,
    EnterpriseStatusChanged,
    stream_for_service,
)
from shared.outbox import UnitOfWork, one_per_unit
from shared.records import AwareDateTime, empty_list, new_row, utcnow

log = logging.getLogger("onestop.readmodels")


class EnterpriseRecord(SQLModel):
    """The columns of every service's view of an enterprise (learnt only from events)."""

    uscc: str = Field(primary_key=True, max_length=18)
    name: str = Field(max_length=200)
    entity_type: str = Field(max_length=40)
    district_code: str = Field(max_length=6)
    address: str = Field(max_length=300)
    # The applicant who opened it; only they (or a clerk for them) act for it.
    owner: str = Field(index=True, max_length=200)
    legal_representative: str = Field(max_length=100)
    registered_with: list[str] = Field(default_factory=empty_list, sa_type=sa.JSON)
    has_tax_matters: bool = True
    customs_registered: bool = False
    licence_verification_code: str | None = Field(default=None, max_length=32)
    registered_at: datetime = Field(sa_type=AwareDateTime)
    status: str = Field(default="active", max_length=20)  # active | suspended | cancelled
    status_changed_at: datetime | None = Field(default=None, sa_type=AwareDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=AwareDateTime)


def remember_registered(session: Any, model: type[EnterpriseRecord], existing: EnterpriseRecord | None,
                        data: EnterpriseRegistered) -> EnterpriseRecord:
    """Add or refresh an enterprise from ``registration.enterprise.registered``. Its status is not touched
    on a refresh: status comes from status announcements (or the service's own decisions)."""
    enterprise = existing or new_row(model, uscc=data.uscc, name=data.name, entity_type=data.entity_type,
                                     district_code=data.district_code, address=data.address, owner=data.owner,
                                     legal_representative=data.legal_representative,
                                     registered_at=data.registered_at, status="active")
    enterprise.name = data.name
    enterprise.entity_type = data.entity_type
    enterprise.district_code = data.district_code
    enterprise.address = data.address
    enterprise.owner = data.owner
    enterprise.legal_representative = data.legal_representative
    enterprise.registered_at = data.registered_at
    enterprise.registered_with = [str(d) for d in data.registered_with]
    enterprise.has_tax_matters = data.has_tax_matters
    enterprise.customs_registered = data.customs_registered
    enterprise.licence_verification_code = data.licence_verification_code
    enterprise.updated_at = utcnow()
    if existing is None:
        session.add(enterprise)
    return enterprise


def apply_status(enterprise: EnterpriseRecord, change: EnterpriseStatusChanged) -> bool:
    """Take a status announcement unless the enterprise is cancelled (final) or the announcement is older
    than the status held (a redelivery overtaken by a later one). True when it was taken."""
    if enterprise.status == "cancelled":
        return False
    if enterprise.status_changed_at is not None and change.at < enterprise.status_changed_at:
        return False
    enterprise.status = change.status
    enterprise.status_changed_at = change.at
    enterprise.updated_at = utcnow()
    return True


async def locked_enterprise(uow: UnitOfWork, model: type[EnterpriseRecord], uscc: str) -> Any:
    """The enterprise ``uscc`` of a read model, locked for the unit, or None.

    In a batch's unit (no savepoints) one that an earlier event of the batch read or added is used as it stands,
    its pending changes kept, and one not yet seen is read without flushing first: only this enterprise's own
    pending changes could change what the read finds, and it has none, or it would be in ``uow.locked``. So
    the batch's rows are written together at its commit, not one event at a time."""
    if uow.savepoints:
        return await lock_row(uow.session, model, uscc)
    key = (model, uscc)
    if key in uow.locked:
        return uow.locked[key]
    with uow.session.no_autoflush:
        found = await lock_row(uow.session, model, uscc)
    uow.locked[key] = found
    return found


# What a service does, in the same transaction, when an enterprise it keeps is registered or changes status
# (e.g. offer a utility connection to a new enterprise, withdraw offers from a cancelled one).
AfterChange = Callable[[UnitOfWork, Any, str], Awaitable[None]]


# What a service keeps beyond the common columns, from a registration announcement (e.g. the investors who
# must sign a simplified deregistration's undertaking).
OnRegistered = Callable[[Any, EnterpriseRegistered], None]


def enterprise_view_consumers(runtime: Any, model: type[EnterpriseRecord], *, follow_status: bool = True,
                              after: AfterChange | None = None,
                              on_registered: OnRegistered | None = None) -> list[ConsumerSpec]:
    """The durable consumers that keep ``model`` up to date: registrations, and (``follow_status``) the
    enterprise's later life announced by deregistration. ``after(uow, enterprise, what)`` runs in the same
    transaction, with ``what`` = ``"registered"`` for a first registration, or the new status taken."""
    service = runtime.name
    registry_consumer = f"{service}-enterprise-registry"

    async def registered_in(uow: UnitOfWork, event: CloudEvent, _msg: Msg) -> None:
        if await uow.already_handled(registry_consumer, event.id):
            return
        if event.name == "registration.enterprise.registered":
            data = event.data_as(EnterpriseRegistered)
            existing = await locked_enterprise(uow, model, data.uscc)
            enterprise = remember_registered(uow.session, model, existing, data)
            if not uow.savepoints:
                uow.locked[(model, data.uscc)] = enterprise
            if on_registered is not None:
                on_registered(enterprise, data)
            if existing is None and after is not None:
                await after(uow, enterprise, "registered")
        elif event.name == "registration.enterprise.changed":
            change = event.data_as(EnterpriseChanged)
            known = await locked_enterprise(uow, model, change.uscc)
            if known is not None:
                # A change (变更) or move (迁移): the registered details as they are now.
                known.name = change.name
                known.address = change.address
                known.district_code = change.district_code
                known.updated_at = utcnow()
        else:
            # A later kind of announcement this version does not use yet: taken note of, nothing to do.
            log.info("enterprise event not used", extra={"event_type": event.type, "event_id": event.id})

    # A fetched batch of announcements is applied in one transaction (a savepoint each), one commit for all.
    consumers = [ConsumerSpec(durable=registry_consumer, stream=stream_for_service("registration"),
                              filter_subjects=["registration.enterprise.>"],
                              handler=one_per_unit(runtime.uow, registered_in), unit=runtime.uow,
                              in_unit=registered_in, inbox=registry_consumer)]
    if not follow_status:
        return consumers
    status_consumer = f"{service}-enterprise-status"

    async def status_changed_in(uow: UnitOfWork, event: CloudEvent, _msg: Msg) -> None:
        change = event.data_as(EnterpriseStatusChanged)
        if await uow.already_handled(status_consumer, event.id):
            return
        enterprise = await locked_enterprise(uow, model, change.uscc)
        if enterprise is None:
            # Registration's announcement is on another stream and may not have arrived yet: retry later.
            raise LookupError(f"enterprise {change.uscc} not known yet")
        if apply_status(enterprise, change) and after is not None:
            await after(uow, enterprise, change.status)

    consumers.append(ConsumerSpec(durable=status_consumer, stream=stream_for_service("deregistration"),
                                  filter_subjects=["deregistration.enterprise.>"],
                                  handler=one_per_unit(runtime.uow, status_changed_in), unit=runtime.uow,
                                  in_unit=status_changed_in, inbox=status_consumer))
    return consumers
