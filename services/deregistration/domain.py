"""The rules of 套餐式注销 and 歇业备案: which departments an enterprise needs, the simplified and general
plans and which departments are asked during the notice, what a valid application is, who may take the
simplified route, when a request is refused, and the suspension rules (statutory causes, the 3-year cap,
the extension window, the early end). Pure: no database, no bus, no clock (today and now are passed in)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from services.deregistration.forms import DeregistrationCreate, SignatoryIn, SuspensionCreate
from shared.catalogue import Entry, timed_plan
from shared.departments import Department
from shared.fanout import ApplicationStatus, Plan, Step
from shared.identifiers import is_valid_uscc
from shared.materials import FormMaterials
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
# in the 30 days before the end; an early end (提前恢复营业) is published within 30 days.
MAX_SUSPENSION_YEARS = 3
EXTENSION_WINDOW_DAYS = 30
EARLY_END_PUBLICATION_DAYS = 30
# 一般注销: the liquidation group is filed within 10 days of its formation.
LIQUIDATION_FILING_DAYS = 10

MAX_REASON_LENGTH = 500
MAX_ADDRESS_LENGTH = 300


class Procedure(StrEnum):
    simplified = "simplified"  # 简易注销
    general = "general"  # 一般注销


class EntityType:
    """The entity types (registration's codes) whose deregistration differs."""

    individual_business = "individual_business"  # 个体工商户: simplified without public notice, 10 days
    sole_proprietorship = "sole_proprietorship"  # 个人独资企业: a 60-day creditors' announcement


class NoticeKind(StrEnum):
    """The period an application starts in; the status while it runs has its name."""

    public_notice = "public_notice"  # 简易注销: the undertaking is published 20 days, anyone may object
    objection_window = "objection_window"  # 个体工商户简易注销: no publication; the departments have 10 days
    creditor_notice = "creditor_notice"  # 一般注销: the creditors' announcement, 45 days (60: 个人独资企业)


NOTICE_NAMES_ZH: dict[str, str] = {
    NoticeKind.public_notice: "公示期", NoticeKind.objection_window: "异议期",
    NoticeKind.creditor_notice: "债权人公告期",
}


class Status(ApplicationStatus):
    public_notice = "public_notice"
    objection_window = "objection_window"
    creditor_notice = "creditor_notice"
    objected = "objected"  # an objection (the public's, or a department's) stopped a simplified deregistration
    NOTICE = frozenset({"public_notice", "objection_window", "creditor_notice"})
    FINAL = frozenset({"objected", "rejected", "completed"})


class SuspensionStatus:
    filed = "filed"  # starts on a later date
    active = "active"
    resumed = "resumed"  # ended early at the enterprise's request
    ended = "ended"  # its end date passed, or the enterprise was cancelled meanwhile
    withdrawn = "withdrawn"  # ended before it started
    CURRENT = frozenset({"filed", "active"})


# Per department: what it does in a deregistration (its time limit is the catalogue's, ``CATALOGUE_ITEMS``).
KINDS: dict[Department, str] = {
    Department.samr: "licence_cancellation",  # 注销登记
    Department.tax: "tax_clearance",  # 清税
    Department.hrss: "social_insurance_cancellation",
    Department.medicare: "medical_insurance_cancellation",
    Department.hpf: "housing_fund_account_closure",
    Department.customs: "customs_registration_cancellation",
    Department.bank: "bank_account_closure",
}
# The catalogue's service item (办事指南) of each period an application starts in: the departments' working days
# and the committed time limit come from it.
CATALOGUE_ITEMS: dict[NoticeKind, str] = {
    NoticeKind.public_notice: "simplified_deregistration",
    NoticeKind.objection_window: "individual_business_simplified_deregistration",
    NoticeKind.creditor_notice: "general_deregistration",
}
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


# 简易注销: asked when the notice starts, each may object during it (异议); samr waits for all of them.
OBJECTING = (Department.tax, Department.customs, Department.hrss, Department.medicare)
# 一般注销: tax clearance (清税证明) and customs are settled before samr cancels the licence.
SETTLED_BEFORE_SAMR = (Department.tax, Department.customs)


def before_samr(procedure: Procedure | str) -> tuple[Department, ...]:
    """The departments samr waits for: in the simplified procedure those that may object during the notice,
    in the general one those that settle first. Every other department closes after samr (bank, hpf; and
    in the general procedure social and medical insurance too)."""
    return OBJECTING if Procedure(procedure) == Procedure.simplified else SETTLED_BEFORE_SAMR


def plan_for(procedure: Procedure | str, holdings: Holdings, guide: Entry) -> Plan:
    """The fan-out: samr cancels the licence after the departments ``before_samr`` approved (cleared, or did
    not object), and the accounts close after samr; each within its step's working days in ``guide`` (the
    item's catalogue entry in force), the whole within the longest chain of them and the item's time limit.
    When the notice lets samr be asked is not in the plan: the notice is a gate (``asked_during_notice``) the
    service opens when the period is over."""
    procedure = Procedure(procedure)
    needed = departments_needed(holdings, procedure)
    first = tuple(d for d in needed if d in before_samr(procedure))
    steps = []
    for dept in needed:
        if dept == Department.samr:
            depends: tuple[Department, ...] = first
        elif dept in first:
            depends = ()
        else:
            depends = (Department.samr,)
        steps.append(Step(dept, KINDS[dept], depends))
    return timed_plan(steps, guide)


def asked_during_notice(procedure: Procedure | str, plan: Plan) -> Plan:
    """The part of the plan asked when the notice starts: in the simplified procedure (and the 个体工商户
    window) the departments that may object; in the general procedure nobody (the liquidation runs first).
    samr, and everything after it, is asked only once the notice is over and nobody objected."""
    if Procedure(procedure) != Procedure.simplified:
        return Plan((), 0)
    samr_waits_for = plan.step(Department.samr).depends_on
    steps = tuple(s for s in plan.steps if s.department in samr_waits_for and not s.depends_on)
    return Plan(steps, max((s.working_days for s in steps), default=0))


@dataclass(frozen=True)
class Periods:
    """The notice periods in calendar days (parameters; 0 means no wait)."""

    public_notice_days: float = 20
    objection_window_days: float = 10
    creditor_notice_days: float = 45
    sole_proprietorship_notice_days: float = 60


def notice_kind(procedure: Procedure | str, entity_type: str) -> NoticeKind:
    """Which period an application starts in: the simplified procedure's public notice (for a 个体工商户
    no publication, only the departments' objection window), or the general procedure's creditors' one."""
    if Procedure(procedure) == Procedure.general:
        return NoticeKind.creditor_notice
    if entity_type == EntityType.individual_business:
        return NoticeKind.objection_window
    return NoticeKind.public_notice


def notice_length(procedure: Procedure | str, entity_type: str, periods: Periods) -> timedelta:
    """The period's length: 20 days of public notice, 10 for a 个体工商户, 45 days of creditors'
    announcement, 60 for a 个人独资企业 (by default)."""
    kind = notice_kind(procedure, entity_type)
    if kind == NoticeKind.public_notice:
        days = periods.public_notice_days
    elif kind == NoticeKind.objection_window:
        days = periods.objection_window_days
    elif entity_type == EntityType.sole_proprietorship:
        days = periods.sole_proprietorship_notice_days
    else:
        days = periods.creditor_notice_days
    return timedelta(days=max(0.0, days))


def publicly_objectable(kind: str | None) -> bool:
    """Whether anyone may object during the period: only to a published undertaking (creditors of a general
    deregistration declare claims to the liquidation group; a 个体工商户's window is the departments')."""
    return kind == NoticeKind.public_notice


# --- Validation (一次告知: every problem at once) ----------------------------------------------------------


# code → (Chinese, English): the messages of this service's own rules; the common codes (required, too_long,
# uscc_invalid ...) come from shared.messages through Checks.
MESSAGES: dict[str, tuple[str, str]] = {
    "liquidation_formed_on": (
        "清算组应自成立之日起{days}日内备案：成立日期应在{first}至{last}之间",
        "the liquidation group is filed within {days} days of its formation: formed_on must be from {first} to "
        "{last}",
    ),
    "liquidation_report_required": (
        "一般注销须提交经股东（投资人）确认的清算报告",
        "the general procedure needs the liquidation report, confirmed by the shareholders",
    ),
    "shareholders_not_confirmed": (
        "清算报告须经股东会（投资人）确认",
        "the liquidation report must be confirmed by the shareholders (confirmed_by_shareholders: true)",
    ),
    "investor_not_signed": (
        "全体投资人须签署承诺书：投资人{name}（{id_number_masked}）未签署",
        "every investor signs the undertaking: {name} ({id_number_masked}) has not",
    ),
    "cause_unknown": (
        "歇业原因应为自然灾害、事故灾难、公共卫生事件、社会安全事件或其他",
        "cause must be one of {choices}",
    ),
    "employees_not_consulted": (
        "歇业前应当与职工依法协商劳动关系处理等有关事项",
        "the employees must be consulted before a suspension (employees_consulted: true)",
    ),
    "resumed_in_future": ("恢复营业日期不能晚于今天", "resumed_on cannot be after today"),
    "resumed_before_start": (
        "恢复营业日期不能早于歇业开始日期{start}", "resumed_on cannot be before the start, {start}"),
    "resumed_after_end": ("恢复营业日期不能晚于歇业结束日期{end}", "resumed_on cannot be after the end, {end}"),
    "early_end_published_late": (
        "提前恢复营业应自恢复之日起{days}日内公示；{resumed_on}恢复的已超过期限",
        "an early end is published within {days} days of resuming; resuming on {resumed_on} is too long ago",
    ),
}

# 简易注销 is closed to an enterprise with any of these (市场主体登记管理条例实施细则 第四十八条 and the
# 简易注销 guidance): code as announced by the registration authority → (Chinese, English).
RESTRICTIONS: dict[str, tuple[str, str]] = {
    "abnormal_operations": ("被列入经营异常名录", "it is on the abnormal-operations list (经营异常名录)"),
    "serious_violation": ("被列入严重违法失信名单", "it is on the list of serious violations (严重违法失信名单)"),
    "equity_frozen": ("股权（财产份额）被冻结", "its equity is frozen"),
    "equity_pledged": ("股权（财产份额）被出质", "its equity is pledged"),
    "chattel_mortgage": ("存在动产抵押", "it has chattel mortgages (动产抵押)"),
    "outward_investment": ("存在对外投资", "it has investments in other entities (对外投资)"),
    "under_investigation": ("正被立案调查", "it is under investigation (立案调查)"),
    "administrative_compulsion": ("被采取行政强制措施", "administrative compulsion measures are in force"),
    "litigation": ("涉及诉讼或仲裁", "it is in litigation or arbitration"),
    "revoked": ("已被吊销营业执照、责令关闭或撤销", "its licence was revoked, or it was ordered closed"),
    "unexecuted_penalty": ("受到罚款等行政处罚尚未执行完毕", "it has administrative penalties not yet executed"),
    "approval_required": ("注销依法须经批准", "its deregistration needs an approval by law"),
}
for _code, (_zh, _en) in RESTRICTIONS.items():
    MESSAGES[f"not_eligible_{_code}"] = (f"不适用简易注销：{_zh}，请选择一般注销",
                                         f"the simplified procedure is closed: {_en}; use the general procedure")
MESSAGES["not_eligible_other"] = ("不适用简易注销：{restriction}，请选择一般注销",
                                  "the simplified procedure is closed: {restriction}; use the general procedure")


def _add(checks: Checks, loc: Loc, code: str, **params: Any) -> None:
    """Add a problem of this service's own rules (``MESSAGES``) beside the common ones."""
    zh, en = MESSAGES[code]
    checks.problems.append(FieldProblem(loc=list(loc), code=code, message_zh=zh.format(**params),
                                        message_en=en.format(**params)))


PERSON_NAME_LENGTH = 50
MAX_SUMMARY_LENGTH = 4000
REASON = ("原因", "the reason")


def _check_people(checks: Checks, people: Sequence[SignatoryIn], loc: Loc, *, what: tuple[str, str],
                  enterprises: bool = False) -> None:
    """Names and ID numbers; with ``enterprises`` an enterprise investor signs with its USCC instead."""
    checks.count(people, loc, what=what, minimum=1, maximum=50)
    for i, person in enumerate(people):
        checks.text(person.name, [*loc, i, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
        if not (enterprises and is_valid_uscc(person.id_number)):
            checks.resident_id(person.id_number, [*loc, i, "id_number"])


def validate(form: DeregistrationCreate, today: date) -> list[FieldProblem]:
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
                          what=("承诺人（投资人）", "signatory (investor)"), enterprises=True)
    else:
        _check_liquidation(checks, form, today)
    return checks.problems


def _check_liquidation(checks: Checks, form: DeregistrationCreate, today: date) -> None:
    """一般注销: the liquidation group, filed within 10 days of its formation, and the liquidation report
    confirmed by the shareholders."""
    if form.liquidation is None:
        checks.add(["liquidation"], "liquidation_required")
    else:
        members = form.liquidation.members
        _check_people(checks, members, ["liquidation", "members"], what=("清算组成员", "liquidation group member"))
        leader = form.liquidation.leader
        if leader and leader not in {m.name for m in members}:
            checks.add(["liquidation", "leader"], "leader_not_member")
        if form.liquidation.formed_on is not None:
            formed = checks.date(form.liquidation.formed_on, ["liquidation", "formed_on"])
            first = today - timedelta(days=LIQUIDATION_FILING_DAYS)
            if formed is not None and not first <= formed <= today:
                _add(checks, ["liquidation", "formed_on"], "liquidation_formed_on", days=LIQUIDATION_FILING_DAYS,
                     first=first, last=today)
    report = form.liquidation_report
    if report is None:
        _add(checks, ["liquidation_report"], "liquidation_report_required")
        return
    checks.text(report.summary, ["liquidation_report", "summary"], what=("清算报告", "the report's summary"),
                max_length=MAX_SUMMARY_LENGTH)
    if not report.confirmed_by_shareholders:
        _add(checks, ["liquidation_report", "confirmed_by_shareholders"], "shareholders_not_confirmed")


# --- Who may take the simplified route: all investors undertake, and nothing bars it --------------------------


@dataclass(frozen=True)
class Investor:
    """An investor as registration announced it: the name, and a masked resident ID or an enterprise's USCC."""

    name: str
    id_number_masked: str


@dataclass(frozen=True)
class EligibilityNote:
    """What an eligibility check found: ``passed``, or ``skipped`` with why (kept with the application)."""

    check: str
    outcome: str
    note: str = ""


INVESTORS_UNKNOWN = ("the registration announcement listed no investors, so the signatories could not be "
                     "compared with them (samr checks the undertaking)")


def investors_from(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Investor, ...]:
    """The investors kept in the read model (from ``EnterpriseRegistered.investors``); malformed entries are
    left out."""
    return tuple(Investor(str(i["name"]).strip(), str(i["id_number_masked"]).strip().upper())
                 for i in raw or () if i.get("name") and i.get("id_number_masked"))


def masked_matches(masked: str, number: str) -> bool:
    """Whether a full ID number is the one behind a masked one: the same length, and every character the mask
    kept is the same (a resident ID 110105********002X, a permit H******78, or a USCC kept whole)."""
    number = number.strip().upper()
    return len(masked) == len(number) and all(m in ("*", c) for m, c in zip(masked, number, strict=True))


def investors_not_signed(investors: Sequence[Investor], signatories: Sequence[SignatoryIn]) -> list[Investor]:
    """The investors no signatory of the undertaking is: the same name and the ID behind the masked one."""
    return [i for i in investors
            if not any(s.name.strip() == i.name and masked_matches(i.id_number_masked, s.id_number)
                       for s in signatories)]


def simplified_eligibility(form: DeregistrationCreate, investors: Sequence[Investor],
                           restrictions: Sequence[str]) -> tuple[list[FieldProblem], list[EligibilityNote]]:
    """Whether this enterprise may take the simplified route: every investor signed the undertaking (each
    missing one named), and none of the exclusions it is known to have (each one named). Without a list of
    investors the signatures cannot be compared: that check is skipped and the skip noted. Nothing for the
    general procedure."""
    checks = Checks()
    notes: list[EligibilityNote] = []
    if form.procedure != Procedure.simplified or form.undertaking is None:
        return [], []
    if not investors:
        notes.append(EligibilityNote("investors_signed", "skipped", INVESTORS_UNKNOWN))
    else:
        for investor in investors_not_signed(investors, form.undertaking.signatories):
            _add(checks, ["undertaking", "signatories"], "investor_not_signed", name=investor.name,
                 id_number_masked=investor.id_number_masked)
        notes.append(EligibilityNote("investors_signed", "passed"))
    for restriction in dict.fromkeys(restrictions):
        if restriction in RESTRICTIONS:
            _add(checks, ["procedure"], f"not_eligible_{restriction}")
        else:
            _add(checks, ["procedure"], "not_eligible_other", restriction=restriction)
    notes.append(EligibilityNote("restrictions", "passed", "as known from registration's announcements"))
    return checks.problems, notes


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


# --- 歇业备案: the statutory causes, the 3-year cap, the extension window, the early end ----------------------


class Cause(StrEnum):
    """The statutory causes of a suspension (市场主体登记管理条例 第三十条), plus "other" with a text."""

    natural_disaster = "natural_disaster"  # 自然灾害
    accident = "accident"  # 事故灾难
    public_health = "public_health"  # 公共卫生事件
    social_security = "social_security"  # 社会安全事件
    other = "other"  # 其他原因: say what in ``reason``


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


def automatic_end(filing: Filing, previous: Sequence[Filing]) -> date:
    """The last day of a suspension: its end date, or the day its enterprise's suspensions reach 3 years in
    total, whichever comes first (it is then treated as resumed, 视为恢复营业)."""
    first = min([f.start for f in previous] + [filing.start])
    left = cap_days(first) - total_days(previous)
    return max(filing.start, min(filing.end, filing.start + timedelta(days=left - 1)))


def extension_window(end: date) -> tuple[date, date]:
    """The first and last day on which an extension of a suspension ending on ``end`` may be filed: the 30
    days up to and including the end day (30 days, not 31)."""
    return end - timedelta(days=EXTENSION_WINDOW_DAYS - 1), end


def may_extend(end: date, today: date) -> bool:
    """An extension is filed within the 30 days before the end (the end day the last of them)."""
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
    _check_cause(checks, form)
    if not form.employees_consulted:
        _add(checks, ["employees_consulted"], "employees_not_consulted")
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


def _check_cause(checks: Checks, form: SuspensionCreate) -> None:
    """One of the statutory causes; the free-text reason is required with "other" and optional beside the
    others."""
    if form.cause is None:
        checks.add(["cause"], "required", what_zh="歇业原因", what_en="the cause")
    elif form.cause not in set(Cause):
        _add(checks, ["cause"], "cause_unknown", choices=[c.value for c in Cause])
    checks.text(form.reason, ["reason"], what=REASON, max_length=MAX_REASON_LENGTH,
                required=form.cause == Cause.other)


def early_end_problems(filing: Filing, resumed_on: str | None, today: date) -> tuple[list[FieldProblem], date | None]:
    """Every problem with ending a running suspension early on ``resumed_on`` (today when not given), and
    the day when there is none: within the suspension, not in the future, and published (now) within 30
    days of resuming."""
    checks = Checks()
    day = today if resumed_on is None else checks.date(resumed_on, ["resumed_on"])
    if day is None:
        return checks.problems, None
    if day > today:
        _add(checks, ["resumed_on"], "resumed_in_future")
    elif day < filing.start:
        _add(checks, ["resumed_on"], "resumed_before_start", start=filing.start)
    elif day > filing.end:
        _add(checks, ["resumed_on"], "resumed_after_end", end=filing.end)
    elif (today - day).days > EARLY_END_PUBLICATION_DAYS:
        _add(checks, ["resumed_on"], "early_end_published_late", days=EARLY_END_PUBLICATION_DAYS, resumed_on=day)
    return checks.problems, (None if checks.problems else day)


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


# --- Materials (申请材料, 容缺受理) -------------------------------------------------------------------------------

# The catalogue items (办事指南) a deregistration is of: the procedure, and for a 个体工商户 its own simplified one.
SIMPLIFIED_ITEM = "simplified_deregistration"
INDIVIDUAL_SIMPLIFIED_ITEM = "individual_business_simplified_deregistration"
GENERAL_ITEM = "general_deregistration"
SUSPENSION_ITEM = "suspension"
# Every enterprise this service deregisters or suspends is known from registration's announcement: its electronic
# licence is held, so the licence is never asked for (一证通办).
HELD_CERTIFICATES = frozenset({"business_licence"})
FORM_CARRIES = frozenset({"deregistration_application", "liquidation_group_filing"})


def catalogue_item(procedure: Procedure | str, kind: NoticeKind | str) -> str:
    """The catalogue item of a deregistration by its procedure and the period it starts in (a 个体工商户's
    objection window marks its own simplified item)."""
    if Procedure(procedure) == Procedure.general:
        return GENERAL_ITEM
    return INDIVIDUAL_SIMPLIFIED_ITEM if kind == NoticeKind.objection_window else SIMPLIFIED_ITEM


def deregistration_materials(_form: DeregistrationCreate) -> FormMaterials:
    """What a deregistration's form implies for the catalogue. The form is the application; in the general
    procedure its liquidation group is the group's filing (备案; a form without one is refused by its own check).
    The undertaking (承诺书), the dissolution resolution and the liquidation report are signed documents the
    form only describes (its signatories, its summary): they are uploaded. The holdings the enterprise's
    circumstances depend on are not the form's but the register's, and ask for no material."""
    return FormMaterials(circumstances=frozenset(), carried=FORM_CARRIES, certificates=HELD_CERTIFICATES)
