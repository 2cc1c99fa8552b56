"""The rules of 套餐式注销 and 歇业备案: which departments an enterprise needs, the simplified and general
plans, what a valid application is, when a request is refused, and the suspension limits. Pure: no
database, no bus, no clock (today and now are passed in)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from services.deregistration.forms import DeregistrationCreate, SignatoryIn, SuspensionCreate
from shared.departments import Department
from shared.fanout import ApplicationStatus, Plan, Step
from shared.refusals import Conflict, FieldProblem, Forbidden
from shared.validation import Checks, Loc
from shared.workdays import LOCAL_TZ

SERVICE = "deregistration"
NUMBER_PREFIX = "QYZX"  # 企业注销
SUSPENSION_NUMBER_PREFIX = "XYBA"  # 歇业备案

# Timer kinds (rows in the timer table; see shared.timers).
TIMER_NOTICE_END = "deregistration.notice_end"
TIMER_SUSPENSION_START = "suspension.start"
TIMER_SUSPENSION_END = "suspension.end"

# 市场主体登记管理条例 第三十条: a suspension lasts at most 3 years in total; an extension is filed
# in the 30 days before the end.
MAX_SUSPENSION_YEARS = 3
EXTENSION_WINDOW_DAYS = 30

MAX_REASON_LENGTH = 500
MAX_ADDRESS_LENGTH = 300


class Procedure(StrEnum):
    simplified = "simplified"  # 简易注销
    general = "general"  # 一般注销


class Status(ApplicationStatus):
    public_notice = "public_notice"  # 简易注销: the undertaking is published, anyone may object
    creditor_notice = "creditor_notice"  # 一般注销: the creditors' announcement runs
    objected = "objected"  # an objection stopped a simplified deregistration
    NOTICE = frozenset({"public_notice", "creditor_notice"})
    FINAL = frozenset({"objected", "rejected", "completed"})


class SuspensionStatus:
    filed = "filed"  # starts on a later date
    active = "active"
    resumed = "resumed"  # ended early at the enterprise's request
    ended = "ended"  # its end date passed, or the enterprise was cancelled meanwhile
    withdrawn = "withdrawn"  # ended before it started
    CURRENT = frozenset({"filed", "active"})


# Per department: what it does in a deregistration, and its time limit in working days.
KINDS: dict[Department, str] = {
    Department.samr: "licence_cancellation",  # 注销登记
    Department.tax: "tax_clearance",  # 清税
    Department.hrss: "social_insurance_cancellation",
    Department.medicare: "medical_insurance_cancellation",
    Department.hpf: "housing_fund_account_closure",
    Department.customs: "customs_registration_cancellation",
    Department.bank: "bank_account_closure",
}
STEP_WORKING_DAYS: dict[Department, int] = {Department.samr: 1}
DEFAULT_STEP_WORKING_DAYS = 3
# Departments deregistration cancels when the enterprise is registered with them (samr always; the seal
# filing at psb is not cancelled: the seal is destroyed by the enterprise itself).
HELD_WHEN_REGISTERED = (Department.hrss, Department.medicare, Department.hpf, Department.bank)


@dataclass(frozen=True)
class Holdings:
    """What an enterprise holds, as learnt from events: where it is registered, and its tax and customs."""

    registered_with: frozenset[str]
    has_tax_matters: bool = True
    customs_registered: bool = False

    @property
    def holds_tax(self) -> bool:
        return self.has_tax_matters or Department.tax in self.registered_with

    @property
    def holds_customs(self) -> bool:
        return self.customs_registered or Department.customs in self.registered_with


def departments_needed(holdings: Holdings, procedure: Procedure | str) -> list[Department]:
    """Every department that must cancel something, in plan order.

    samr always; tax when the enterprise holds a tax registration — except in the simplified procedure
    when it never had tax matters (no clearance needed then); customs only with a customs registration;
    social and medical insurance, housing fund and bank when the enterprise is registered with them.
    """
    needed = [Department.samr]
    if Procedure(procedure) == Procedure.general:
        if holdings.holds_tax:
            needed.append(Department.tax)
    elif holdings.has_tax_matters:
        needed.append(Department.tax)
    needed += [d for d in HELD_WHEN_REGISTERED if d in holdings.registered_with]
    if holdings.holds_customs:
        needed.append(Department.customs)
    return needed


def plan_for(procedure: Procedure | str, holdings: Holdings) -> Plan:
    """The fan-out after the notice period: in the general procedure samr cancels the licence only after
    tax issued its clearance (清税证明); everything else runs in parallel."""
    procedure = Procedure(procedure)
    needed = departments_needed(holdings, procedure)
    steps = []
    for dept in needed:
        depends: tuple[Department, ...] = ()
        if procedure == Procedure.general and dept == Department.samr and Department.tax in needed:
            depends = (Department.tax,)
        steps.append(Step(dept, KINDS[dept], depends, STEP_WORKING_DAYS.get(dept, DEFAULT_STEP_WORKING_DAYS)))
    return Plan(tuple(steps), _longest_chain(steps))


def _longest_chain(steps: Sequence[Step]) -> int:
    by_dept = {s.department: s for s in steps}

    def finish(step: Step) -> int:
        return step.working_days + max((finish(by_dept[d]) for d in step.depends_on), default=0)

    return max((finish(s) for s in steps), default=0)


def notice_status(procedure: Procedure | str) -> str:
    """Which period an application starts in: the public notice (simplified) or the creditors' one."""
    return Status.public_notice if Procedure(procedure) == Procedure.simplified else Status.creditor_notice


def notice_length(procedure: Procedure | str, public_notice_days: float, creditor_notice_days: float) -> timedelta:
    """The period's length (parameters: 20 and 45 calendar days by default; 0 means no wait)."""
    days = public_notice_days if Procedure(procedure) == Procedure.simplified else creditor_notice_days
    return timedelta(days=max(0.0, days))


# --- Validation (一次告知: every problem at once) ----------------------------------------------------------


PERSON_NAME_LENGTH = 50
REASON = ("原因", "the reason")


def _check_people(checks: Checks, people: Sequence[SignatoryIn], loc: Loc, *, what: tuple[str, str]) -> None:
    checks.count(people, loc, what=what, minimum=1, maximum=50)
    for i, person in enumerate(people):
        checks.text(person.name, [*loc, i, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
        checks.resident_id(person.id_number, [*loc, i, "id_number"])


def validate(form: DeregistrationCreate) -> list[FieldProblem]:
    """Every problem with a deregistration application, all at once. Empty means valid."""
    checks = Checks()
    checks.uscc(form.uscc, ["uscc"])
    checks.text(form.reason, ["reason"], what=REASON, max_length=MAX_REASON_LENGTH)
    if form.procedure not in set(Procedure):
        checks.add(["procedure"], "procedure_unknown")
    elif form.procedure == Procedure.simplified:
        if form.undertaking is None:
            checks.add(["undertaking"], "undertaking_required")
        else:
            if not form.undertaking.no_outstanding_debts:
                checks.add(["undertaking", "no_outstanding_debts"], "debts_outstanding")
            _check_people(checks, form.undertaking.signatories, ["undertaking", "signatories"],
                          what=("承诺人（投资人）", "signatory (investor)"))
    else:
        if form.liquidation is None:
            checks.add(["liquidation"], "liquidation_required")
        else:
            members = form.liquidation.members
            _check_people(checks, members, ["liquidation", "members"],
                          what=("清算组成员", "liquidation group member"))
            leader = form.liquidation.leader
            if leader and leader not in {m.name for m in members}:
                checks.add(["liquidation", "leader"], "leader_not_member")
    return checks.problems


# --- Refusals: the enterprise's state, learnt from events ----------------------------------------------------


@dataclass(frozen=True)
class EnterpriseState:
    """What the refusal rules need to know of an enterprise (from the read model)."""

    uscc: str
    owner: str
    status: str  # active | suspended | cancelled
    deregistration_number: str | None = None  # the deregistration in flight
    suspension_number: str | None = None  # the suspension filed or running


def _not_owner(uscc: str) -> Forbidden:
    return Forbidden("not_enterprise_owner",
                     f"only the applicant who holds enterprise {uscc} (or a clerk acting for them) may do this",
                     title="Not the enterprise's applicant", uscc=uscc)


def _cancelled(uscc: str) -> Conflict:
    return Conflict("enterprise_cancelled", f"enterprise {uscc} is already deregistered (已注销)",
                    title="Enterprise already cancelled", uscc=uscc)


def _in_flight(ent: EnterpriseState) -> Conflict:
    return Conflict("deregistration_in_flight",
                    f"enterprise {ent.uscc} already has deregistration {ent.deregistration_number} in progress",
                    title="Deregistration in flight", uscc=ent.uscc, application_number=ent.deregistration_number)


def deregistration_refusal(ent: EnterpriseState, applicant: str) -> Forbidden | Conflict | None:
    """Why this applicant may not deregister this enterprise now, or None."""
    if ent.owner != applicant:
        return _not_owner(ent.uscc)
    if ent.status == "cancelled":
        return _cancelled(ent.uscc)
    if ent.deregistration_number:
        return _in_flight(ent)
    return None


def suspension_refusal(ent: EnterpriseState, applicant: str) -> Forbidden | Conflict | None:
    """Why this applicant may not file a suspension of this enterprise now, or None: whatever stops a
    deregistration, and a suspension already filed."""
    refusal = deregistration_refusal(ent, applicant)
    if refusal is not None:
        return refusal
    if ent.suspension_number:
        return Conflict("suspension_exists",
                        f"enterprise {ent.uscc} has suspension {ent.suspension_number}; file an extension of it "
                        "in the 30 days before its end instead", title="Already suspended", uscc=ent.uscc,
                        suspension_number=ent.suspension_number)
    return None


# --- 歇业备案: the 3-year cap and the extension window ------------------------------------------------------


@dataclass(frozen=True)
class Filing:
    """One suspension of an enterprise: its dates, and the first day active again if it ended early."""

    start: date
    end: date
    resumed_on: date | None = None


def add_years(day: date, years: int) -> date:
    """The same calendar date ``years`` later (29 February becomes 28 February in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def days_used(filing: Filing) -> int:
    """Days a filing counts toward the cap: start to end inclusive, or up to the day before resumption."""
    if filing.resumed_on is not None and filing.resumed_on <= filing.end:
        return max(0, (filing.resumed_on - filing.start).days)
    return (filing.end - filing.start).days + 1


def cap_days(first_start: date) -> int:
    """The 3-year cap in days, counted on the calendar from the first suspension's start."""
    return (add_years(first_start, MAX_SUSPENSION_YEARS) - first_start).days


def total_days(filings: Iterable[Filing]) -> int:
    """Days used by all filings together."""
    return sum(days_used(f) for f in filings)


def within_cap(filings: Sequence[Filing]) -> bool:
    """Whether the filings together stay within 3 years."""
    if not filings:
        return True
    return total_days(filings) <= cap_days(min(f.start for f in filings))


def extension_window(end: date) -> tuple[date, date]:
    """The first and last day on which an extension of a suspension ending on ``end`` may be filed."""
    return end - timedelta(days=EXTENSION_WINDOW_DAYS), end


def may_extend(end: date, today: date) -> bool:
    """An extension is filed within the 30 days before the end (the end day included)."""
    first, last = extension_window(end)
    return first <= today <= last


def _cap_problem(checks: Checks, loc: Loc, previous: Sequence[Filing], new: Filing) -> None:
    first = min([f.start for f in previous] + [new.start])
    allowed = cap_days(first)
    left = max(0, allowed - total_days(previous))
    checks.add(loc, "suspension_cap_exceeded", years=MAX_SUSPENSION_YEARS, allowed=allowed, left=left)


def _suspension_date(checks: Checks, value: str, loc: Loc, today: date) -> date | None:
    # A suspension lies within the 3-year cap of today, give or take: anything further is a typo.
    return checks.date(value, loc, first=today - timedelta(days=366 * 4), last=today + timedelta(days=366 * 4))


def validate_suspension(form: SuspensionCreate, today: date,
                        previous: Sequence[Filing]) -> tuple[list[FieldProblem], Filing | None]:
    """Every problem with a suspension filing, and the filing when there is none. ``previous`` are the
    enterprise's earlier suspensions (they count toward the 3-year cap)."""
    checks = Checks()
    checks.uscc(form.uscc, ["uscc"])
    checks.text(form.reason, ["reason"], what=REASON, max_length=MAX_REASON_LENGTH)
    checks.text(form.delivery_address, ["delivery_address"], what=("法律文书送达地址", "a delivery address"),
                max_length=MAX_ADDRESS_LENGTH)
    start = _suspension_date(checks, form.start_date, ["start_date"], today)
    end = _suspension_date(checks, form.end_date, ["end_date"], today)
    if start is not None and start < today:
        checks.add(["start_date"], "start_in_past")
    if start is None or end is None:
        return checks.problems, None
    if end < start:
        checks.add(["end_date"], "end_before_start")
        return checks.problems, None
    filing = Filing(start, end)
    if not within_cap([*previous, filing]):
        _cap_problem(checks, ["end_date"], previous, filing)
    return checks.problems, (None if checks.problems else filing)


def extension_problems(current: Filing, new_end: str, today: date,
                       previous: Sequence[Filing]) -> tuple[list[FieldProblem], date | None]:
    """Every problem with extending ``current`` to ``new_end``; ``previous`` are the enterprise's other
    suspensions."""
    checks = Checks()
    end = _suspension_date(checks, new_end, ["end_date"], today)
    if not may_extend(current.end, today):
        first, last = extension_window(current.end)
        checks.add(["end_date"], "extension_window", days=EXTENSION_WINDOW_DAYS, first=first, last=last)
    if end is not None:
        if end <= current.end:
            checks.add(["end_date"], "not_later", end=current.end)
        else:
            extended = Filing(current.start, end)
            if not within_cap([*previous, extended]):
                _cap_problem(checks, ["end_date"], previous, extended)
    return checks.problems, (None if checks.problems else end)


def local_midnight(day: date) -> datetime:
    """The start of a local (Asia/Shanghai) day as an aware time."""
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


def scaled_due(moment: datetime, now: datetime, day_seconds: float) -> datetime:
    """When a timer for ``moment`` is due when days last ``day_seconds`` (86400 in real life: ``moment``
    itself); a shortened day brings the moment proportionally closer, never before now."""
    if day_seconds >= 86400:
        return moment
    remaining = max(timedelta(0), moment - now)
    return now + remaining * (day_seconds / 86400)


def suspension_starts_at(filing: Filing) -> datetime:
    return local_midnight(filing.start)


def suspension_ends_at(end: date) -> datetime:
    """A suspension is over when its end date is: at the following local midnight."""
    return local_midnight(end + timedelta(days=1))
