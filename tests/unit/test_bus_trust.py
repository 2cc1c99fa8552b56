"""Who is trusted: a configuration that would let anyone sign tokens or reach the bus anonymously refuses to
start outside dev; an event whose subject, source and data disagree is refused by every consumer."""

from __future__ import annotations

import pytest

from shared.events import (
    EnterpriseRegistered,
    TaskEscalated,
    TaskOutcome,
    TaskRequested,
    TaskResolved,
    make_event,
    provenance_problem,
)
from shared.natsauth import department_consumer_filters, department_identity, service_identity
from shared.records import utcnow
from shared.settings import DEV_JWT_SECRET, DEV_MATERIAL_LINK_SECRET, Settings

# A link secret of our own, so the cases below are about what each names.
LINKS = "y" * 40


@pytest.mark.parametrize("secret", [DEV_JWT_SECRET, "change-me", "short-but-not-known"])
def test_outside_dev_a_published_or_short_secret_refuses_to_start(secret: str, tmp_path: object) -> None:
    settings = Settings(env="prod", jwt_secret=secret, nats_credentials_dir=tmp_path, material_link_secret=LINKS)
    assert settings.unsafe_reasons()
    with pytest.raises(SystemExit):
        settings.refuse_unsafe()


@pytest.mark.parametrize("secret", [DEV_MATERIAL_LINK_SECRET, "change-me", "short-but-not-known"])
def test_outside_dev_a_published_or_short_material_link_secret_refuses_to_start(secret: str, tmp_path: object) -> None:
    settings = Settings(env="prod", jwt_secret="x" * 40, nats_credentials_dir=tmp_path, material_link_secret=secret)
    assert [r for r in settings.unsafe_reasons() if r.startswith("ONESTOP_MATERIAL_LINK_SECRET")]
    with pytest.raises(SystemExit):
        settings.refuse_unsafe()


def test_outside_dev_the_bus_needs_credentials_and_dev_is_left_alone(tmp_path: object) -> None:
    strong = "x" * 40
    assert Settings(env="prod", jwt_secret=strong, material_link_secret=LINKS).unsafe_reasons() == [
        "ONESTOP_NATS_CREDENTIALS_DIR is not set: no process connects to the bus anonymously"]
    assert Settings(env="prod", jwt_secret=strong, nats_credentials_dir=tmp_path,
                    material_link_secret=LINKS).unsafe_reasons() == []
    assert Settings(env="prod", jwks_url="https://idp.example/jwks", nats_credentials_dir=tmp_path,
                    material_link_secret=LINKS).unsafe_reasons() == []
    assert Settings(env="dev").unsafe_reasons() == []


def answer(department: str, *, source: str) -> object:
    data = TaskResolved(task_id="t", application_id="a", service="registration", department=department,  # type: ignore[arg-type]
                        outcome=TaskOutcome.approved)
    return make_event(f"task.registration.{department}.resolved", data, source_service=source)


def test_answers_must_come_from_their_department_or_service_and_name_both() -> None:
    assert provenance_problem("task.registration.tax.resolved", answer("tax", source="department/tax")) is None
    assert provenance_problem("task.registration.tax.resolved", answer("tax", source="registration")) is None
    assert provenance_problem("task.registration.tax.resolved", answer("bank", source="department/tax"))
    assert provenance_problem("task.registration.tax.resolved", answer("tax", source="department/bank"))
    assert provenance_problem("task.deregistration.tax.resolved", answer("tax", source="department/tax"))


def test_requests_come_from_their_service_and_announcements_carry_their_subject() -> None:
    request = make_event("task.registration.tax.requested", TaskRequested(
        task_id="t", application_id="a", application_number="n", service="registration", department="tax",  # type: ignore[arg-type]
        kind="k", due_at=utcnow()), source_service="registration")
    assert provenance_problem("task.registration.tax.requested", request) is None
    registered = make_event("registration.enterprise.registered", EnterpriseRegistered(
        uscc="u", name="n", entity_type="e", district_code="d", address="a", owner="o", legal_representative="l",
        registered_at=utcnow(), licence_verification_code="c", registered_with=[]), source_service="registration")
    assert provenance_problem("registration.enterprise.registered", registered) is None
    assert provenance_problem("registration.enterprise.changed", registered)
    forged = registered.model_copy(update={"source": "/onestop/deregistration"})
    assert provenance_problem("registration.enterprise.registered", forged)


def test_permissions_name_only_a_partys_own_subjects() -> None:
    tax = department_identity("tax")
    assert "task.*.tax.resolved" in tax.publish and not any("samr" in s for s in tax.publish)
    assert not any(s.startswith(("registration.", "deregistration.", "$JS.API.STREAM")) for s in tax.publish)
    registration = service_identity("registration")
    assert "registration.>" in registration.publish and "deregistration.>" not in registration.publish


def escalated(department: str, *, source: str) -> object:
    now = utcnow()
    data = TaskEscalated(escalation_id="e", application_id="a", application_number="n", service="registration",
                         department=department, reason="stuck", status="open", application_status="in_progress",  # type: ignore[arg-type]
                         due_at=now, raised_at=now)
    return make_event(f"task.registration.{department}.escalated", data, source_service=source)


def test_an_escalation_notice_comes_from_its_service_only() -> None:
    assert provenance_problem("task.registration.bank.escalated", escalated("bank", source="registration")) is None
    # Not from the department (nor another), not for another department, not from another service.
    assert provenance_problem("task.registration.bank.escalated", escalated("bank", source="department/bank"))
    assert provenance_problem("task.registration.bank.escalated", escalated("tax", source="registration"))
    assert provenance_problem("task.deregistration.bank.escalated", escalated("bank", source="registration"))
    assert provenance_problem("task.registration.bank.escalated", escalated("bank", source="deregistration"))


def test_a_department_consumes_its_own_requests_and_escalations_and_publishes_neither() -> None:
    filters = department_consumer_filters("bank")
    assert ("dept-bank", "task.*.bank.requested") in filters
    assert ("dept-bank-escalations", "task.*.bank.escalated") in filters
    assert ("dept-registration-bank-escalations", "task.*.bank.escalated") in filters
    assert all(".bank." in subject for _, subject in filters)
    bank = department_identity("bank")
    creates = [s for s in bank.publish if s.startswith("$JS.API.CONSUMER.CREATE.")]
    assert "$JS.API.CONSUMER.CREATE.TASKS.dept-bank-escalations.task.*.bank.escalated" in creates
    assert all(s.endswith((".task.*.bank.requested", ".task.*.bank.escalated")) for s in creates)
    assert not any(s.endswith(("escalated", "requested")) for s in bank.publish if s.startswith("task."))
