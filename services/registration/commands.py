"""What a request to the registration service does: load, apply the rules, store, emit (in the caller's
unit of work, which the route commits)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.registration import domain
from services.registration.domain import Status
from services.registration.forms import RegistrationCreate
from services.registration.handlers import FLOW
from services.registration.models import EnterpriseName, RegistrationApplication
from shared.auth import Principal
from shared.divisions import resolve_address
from shared.outbox import UnitOfWork
from shared.records import utcnow
from shared.refusals import refuse_if
from shared.workdays import add_working_days


def resolved_address(form: RegistrationCreate) -> str:
    """Validate the form (``Invalid`` naming every problem) and return its resolved standard address."""
    refuse_if(domain.validate(form))
    ent = form.enterprise
    resolved, _ = resolve_address(ent.district_code, ent.address.town_code, ent.address.road, ent.address.number,
                                  building=ent.address.building, room=ent.address.room, text=ent.address.text)
    assert resolved is not None
    return resolved.full_text


async def submit(uow: UnitOfWork, form: RegistrationCreate, *, applicant: str,
                 submitted_by: str) -> RegistrationApplication:
    """Accept one 企业开办 application: its name reserved, its tasks created, samr asked."""
    address = resolved_address(form)
    name = domain.normalise_name(form.enterprise.name)
    if await uow.session.get(EnterpriseName, name) is not None:
        raise domain.name_taken(form.enterprise.name)
    now = utcnow()
    app = RegistrationApplication(
        number="", applicant=applicant, submitted_by=submitted_by, status=Status.in_progress,
        enterprise_name=form.enterprise.name, district_code=form.enterprise.district_code,
        entity_type=form.enterprise.entity_type, address=address, form=form.model_dump(mode="json"),
        due_at=add_working_days(now, domain.WHOLE_TIME_LIMIT_WORKING_DAYS).at, created_at=now, updated_at=now,
    )
    # The primary key on the name makes a concurrent twin fail at flush, whatever the timing.
    uow.session.add(EnterpriseName(name=name, application_id=app.id, status="reserved"))
    await uow.session.flush()
    await FLOW.submit(uow, app, district_code=form.enterprise.district_code, now=now)
    return app


async def supplement(uow: UnitOfWork, application_id: str, changes: Mapping[str, Any],
                     principal: Principal) -> RegistrationApplication:
    """The applicant's 补正: the form with the changes, checked again; the returning departments asked again."""
    app, form = await FLOW.open_supplement(uow, application_id, principal, changes)
    assert isinstance(form, RegistrationCreate)
    if domain.normalise_name(form.enterprise.name) != domain.normalise_name(app.enterprise_name):
        raise domain.name_change_refused()
    address = resolved_address(form)
    await FLOW.resubmit(uow, app, form)
    app.address = address
    return app
