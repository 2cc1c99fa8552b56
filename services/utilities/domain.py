"""The rules of 水电气网联合报装 (§18): what a valid application is, which permits its works need, the fan-out
to the suppliers and the permit departments, and what the applicant pays. Pure: no database, no bus, no
clock (``today`` is passed in); only ``load_fee_table`` reads a file, once, when the service starts.

Figures that change with policy are parameters: the low-voltage threshold is passed in
(``LOW_VOLTAGE_MAX_KW_DEFAULT`` is its default), fees are data with effective dates
(``shared/data/utility_fees.json``), the suppliers' time limits are the named constants below.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from services.utilities.forms import ConnectionCreate, ExternalWorksIn, PowerIn, UtilitiesIn
from shared.catalogue import Entry, timed_plan
from shared.departments import Department
from shared.divisions import COUNTY_CODES, DIVISIONS, resolve_address
from shared.fanout import ApplicationStatus, Plan, Step
from shared.money import yuan_to_fen
from shared.refusals import FieldProblem
from shared.validation import Checks, Loc

SERVICE = "utilities"
NUMBER_PREFIX = "SDQW"  # 水电气网


class Status(ApplicationStatus):
    """An application's states: the shared ones; it ends completed or rejected."""

    FINAL = frozenset({"rejected", "completed"})


class Utility(StrEnum):
    """A utility one can apply for; its code is also the supplier's department code."""

    power = "power"  # 用电
    water = "water"  # 用水
    gas = "gas"  # 用气
    telecom = "telecom"  # 通信（宽带、专线）
    cabletv = "cabletv"  # 有线电视

    @property
    def department(self) -> Department:
        """The supplier that connects it."""
        return Department(self.value)

    @property
    def name_zh(self) -> str:
        """The utility's Chinese name, as in the applicant's messages."""
        return _UTILITY_NAMES[self][0]

    @property
    def name_en(self) -> str:
        """The utility's English name, as in the applicant's messages."""
        return _UTILITY_NAMES[self][1]


_UTILITY_NAMES: dict[Utility, tuple[str, str]] = {
    Utility.power: ("用电", "power"),
    Utility.water: ("用水", "water"),
    Utility.gas: ("用气", "gas"),
    Utility.telecom: ("通信", "telecom"),
    Utility.cabletv: ("有线电视", "cable TV"),
}


class ProofKind(StrEnum):
    """What proves the applicant's right to the premises."""

    property_certificate = "property_certificate"  # 不动产权证书
    credit_report = "credit_report"  # 信用报告 (信用+报装, power only)


class Voltage(StrEnum):
    """The supply voltage asked for."""

    low = "low"  # 低压
    high = "high"  # 高压


# --- Parameters ------------------------------------------------------------------------------------------

# 低压小微 "三零" (零上门、零审批、零投资) applies up to this capacity. Guangdong has raised it before and
# may again, so the service passes its configured value; this is only the default.
LOW_VOLTAGE_MAX_KW_DEFAULT = 160

# The time limits in working days — the permits' (§18: applied for online in parallel, 并联审批, and all decided
# within 5 working days) and each supplier's, counted from when its task is requested (after the permits) — are
# the catalogue's (办事指南: each utility's item, ``CATALOGUE_ITEMS``), not the code's.

# Bounds against typos, not technical limits: an application beyond them is for a project team, not this
# form.
MAX_CAPACITY_KW = 100_000  # 100 MW
MAX_DIAMETER_MM = 1_000
MAX_MONTHLY_M3 = 10_000_000
MAX_BANDWIDTH_MBPS = 100_000  # 100 Gbit/s
MAX_PROOF_NUMBER_LENGTH = 60
MAX_CODE_LENGTH = 32  # an electronic certificate's verification code

# The unified property certificate (不动产统一登记) exists since 2015; an earlier year is a typo or an old
# house-ownership certificate (房产证), which this form does not take.
FIRST_CERTIFICATE_YEAR = 2015

# --- Messages of this service's own rules ----------------------------------------------------------------

# code → (Chinese, English); the common codes (required, too_long, uscc_invalid ...) come from
# shared.messages through Checks.
MESSAGES: dict[str, tuple[str, str]] = {
    "utilities_required": (
        "请至少选择一项报装业务（用电、用水、用气、通信、有线电视）",
        "choose at least one utility: power, water, gas, telecom or cabletv",
    ),
    "voltage_unknown": ("用电电压等级应为低压或高压", 'voltage must be "low" or "high"'),
    "capacity_invalid": ("报装容量应为1至{max}千瓦的整数", "capacity_kw must be a whole number from 1 to {max}"),
    "diameter_invalid": ("接水管径应为1至{max}毫米的整数", "diameter_mm must be a whole number from 1 to {max}"),
    "gas_volume_invalid": (
        "月用气量应为1至{max}立方米的整数",
        "monthly_m3 must be a whole number from 1 to {max}",
    ),
    "bandwidth_invalid": ("带宽应为1至{max}Mbps的整数", "bandwidth_mbps must be a whole number from 1 to {max}"),
    "proof_kind_unknown": (
        "权属证明类型应为不动产权证书或信用报告",
        'proof kind must be "property_certificate" or "credit_report"',
    ),
    "property_certificate_invalid": (
        "不动产权证书号格式不正确，应如“粤(2026)江门市不动产权第0000001号”（年份为{first}年及以后）",
        "not a property certificate number: expected e.g. 粤(2026)江门市不动产权第0000001号 "
        "(a year from {first} on, a 7-digit serial)",
    ),
    "credit_report_power_only": (
        "信用报告仅可替代用电报装的物业权属证明，{utility_zh}报装须提交不动产权证书",
        "a credit report replaces the property certificate for power only (信用+报装); "
        "{utility_en} needs the property certificate",
    ),
    "credit_report_not_available": (
        "{district}尚未开展“信用+报装”，用电报装须提交不动产权证书",
        "{district} ({district_code}) does not take a credit report instead of the property certificate yet; "
        "power needs the property certificate there",
    ),
    "plan_change_not_allowed": (
        "补正不能改变报装项目或需审批的外线工程（现为{before}），请另行申请",
        "a supplement cannot change the utilities or the works that need permits (now {before}); "
        "submit a new application instead",
    ),
    "credit_report_needs_enterprise": (
        "信用+报装须由企业申请，请填写统一社会信用代码",
        "a credit report stands in for an enterprise only: give the enterprise's uscc",
    ),
    "certificate_not_recognised": (
        "{item}不接受以电子证照替代不动产权证书，请填写证书号",
        "{item} does not take an electronic certificate in place of the property certificate: give its number",
    ),
    "certificate_unknown": (
        "未找到验证码为{verification_code}的电子不动产权证书",
        "no electronic property certificate has the verification code {verification_code}",
    ),
    "certificate_cancelled": (
        "验证码为{verification_code}的电子不动产权证书已注销",
        "the electronic property certificate with the verification code {verification_code} is cancelled",
    ),
    "certificate_not_holder": (
        "申请人（或申请企业）不是不动产权证书{number}的权利人",
        "neither the applicant nor the enterprise applying holds property certificate {number}",
    ),
    "verification_code_certificate_only": (
        "验证码仅用于电子不动产权证书",
        "a verification code stands for an electronic property certificate only",
    ),
    "credit_report_enterprise_not_active": (
        "企业当前状态为{status}，不能以信用报告替代不动产权证书",
        "the enterprise is {status}: only an active enterprise may use a credit report instead of the certificate",
    ),
}


def _add(checks: Checks, loc: Loc, code: str, **params: Any) -> None:
    """Add a problem of this service's own rules (``MESSAGES``) beside the common ones."""
    zh, en = MESSAGES[code]
    checks.problems.append(FieldProblem(loc=list(loc), code=code, message_zh=zh.format(**params),
                                        message_en=en.format(**params)))


# --- Which utilities, and low-voltage zero approval ---------------------------------------------------------


def chosen_utilities(utilities: UtilitiesIn) -> tuple[Utility, ...]:
    """The utilities an application asks for, in the fixed order of ``Utility``."""
    return tuple(u for u in Utility if getattr(utilities, u.value) is not None)


def is_zero_approval_power(power: PowerIn | None, max_kw: int) -> bool:
    """Whether a power connection is 低压 within the threshold: 零上门、零审批、零投资 — the supplier files any
    permits itself and charges nothing.

    Above the threshold, or at high voltage, the applicant's works need permits and the fee applies.
    """
    return (power is not None and power.voltage == Voltage.low
            and 0 < power.capacity_kw <= max_kw)


# --- Permits for the connection works (并联审批) -------------------------------------------------------------

# What each permit department decides, in plan order.
PERMIT_KINDS: dict[Department, str] = {
    Department.urban: "city_road_works_permit",  # 挖掘/占用城市道路许可
    Department.traffic: "road_works_traffic_permit",  # 占道施工交通审批
    Department.greening: "green_space_occupation_permit",  # 临时占用绿地审批
    Department.transport: "highway_works_permit",  # 涉路施工许可（公路）
}


def permits_for(works: ExternalWorksIn, utilities: Collection[Utility | str], *,
                low_voltage_zero_approval: bool) -> tuple[Department, ...]:
    """The permit departments the applicant's connection works need, in plan order.

    - ``urban`` and ``traffic`` when the works dig or occupy a city road: 城市道路管理条例 art. 30 needs both
      the municipal authority's and the traffic police's approval to dig or occupy one (digging occupies it).
    - ``greening`` when they occupy green space (城市绿化条例 art. 19-20).
    - ``transport`` for works on a highway outside city roads (公路法 art. 44-45).

    Low-voltage power within the threshold is 零审批: its supplier files any permits itself, so when it is
    the only utility the applicant needs none. The other utilities' works still need theirs.
    """
    applicants_works = {Utility(u) for u in utilities}
    if low_voltage_zero_approval:
        applicants_works.discard(Utility.power)
    if not applicants_works:
        return ()
    needed: set[Department] = set()
    if works.dig_city_road or works.occupy_city_road:
        needed |= {Department.urban, Department.traffic}
    if works.occupy_green_space:
        needed.add(Department.greening)
    if works.highway:
        needed.add(Department.transport)
    return tuple(d for d in PERMIT_KINDS if d in needed)


# --- The fan-out ----------------------------------------------------------------------------------------


class Stage(StrEnum):
    """What a supplier's task goes through; its department reports progress against these."""

    application = "application"  # 受理
    site_survey = "site_survey"  # 现场勘察
    supply_plan = "supply_plan"  # 供电方案答复 (high-voltage power)
    construction = "construction"  # 外线工程施工
    connection = "connection"  # 装表接通


def stages_for(utility: Utility | str, *, zero_approval_power: bool = False) -> tuple[Stage, ...]:
    """The stages of one supplier's task.

    Water and gas have no site survey (§18 用水用气取消现场勘察环节). High-voltage power (and low voltage
    above the threshold) adds the supply plan; low voltage within it does not (省环节).
    """
    utility = Utility(utility)
    if utility in (Utility.water, Utility.gas):
        return (Stage.application, Stage.construction, Stage.connection)
    if utility == Utility.power and not zero_approval_power:
        return (Stage.application, Stage.site_survey, Stage.supply_plan, Stage.construction, Stage.connection)
    return (Stage.application, Stage.site_survey, Stage.construction, Stage.connection)


UTILITY_KINDS: dict[Utility, str] = {u: f"{u.value}_connection" for u in Utility}


# The catalogue's service item (办事指南) of each utility; power's depends on zero approval (低压小微 or not).
CATALOGUE_ITEMS: dict[Utility, str] = {
    Utility.water: "water_connection",
    Utility.gas: "gas_connection",
    Utility.telecom: "telecom_connection",
    Utility.cabletv: "cabletv_connection",
}


def catalogue_items(form: ConnectionCreate, *, low_voltage_max_kw: int) -> dict[Utility, str]:
    """The catalogue item of each utility the form asks for."""
    zero_power = is_zero_approval_power(form.utilities.power, low_voltage_max_kw)
    items = {u: CATALOGUE_ITEMS.get(u, "") for u in chosen_utilities(form.utilities)}
    if Utility.power in items:
        items[Utility.power] = "power_low_voltage_connection" if zero_power else "power_high_voltage_connection"
    return items


def steps_for(form: ConnectionCreate, *, low_voltage_max_kw: int) -> list[Step]:
    """Whom a valid application asks and in which order: the permits all requested at once, in parallel; one task
    per chosen utility at its supplier, whose construction waits for every permit — except low-voltage power within
    the threshold, whose supplier handles its own permits. Their time limits are the catalogue's (``plan_for``).

    Raises ``ValueError`` when no utility is chosen (``validate`` refuses that first).
    """
    utilities = chosen_utilities(form.utilities)
    if not utilities:
        raise ValueError("no utility chosen; validate the form first")
    zero_power = is_zero_approval_power(form.utilities.power, low_voltage_max_kw)
    permits = permits_for(form.external_works, utilities, low_voltage_zero_approval=zero_power)
    steps = [Step(dept, PERMIT_KINDS[dept]) for dept in permits]
    for utility in utilities:
        own_permits = utility == Utility.power and zero_power
        steps.append(Step(utility.department, UTILITY_KINDS[utility], () if own_permits else permits))
    return steps


def plan_for(form: ConnectionCreate, *, low_voltage_max_kw: int, guide: Mapping[Utility, Entry]) -> Plan:
    """The fan-out of a valid application (``steps_for``), timed by ``guide`` (限时办结: each chosen utility's
    catalogue entry in force): a supplier takes the working days of its own utility's entry, a permit those of the
    first entry that has it; the whole is the longest chain of them, never beyond the largest committed time limit
    of the entries.

    Raises ``ValueError`` when no utility is chosen (``validate`` refuses that first), or one has no entry.
    """
    steps = steps_for(form, low_voltage_max_kw=low_voltage_max_kw)
    utilities = chosen_utilities(form.utilities)
    missing = [u.value for u in utilities if u not in guide]
    if missing:
        raise ValueError(f"no catalogue entry for {', '.join(missing)}")
    return timed_plan(steps, [guide[u] for u in utilities], own={u.department: guide[u] for u in utilities})


# --- Validation (一次告知: every problem at once) -------------------------------------------------------------

# 粤(2026)江门市不动产权第0000001号, after full-width characters are folded (（） → ()); the place is the
# registering city or county (江门市, 台山市, 恩平市 ...), the serial 7 digits.
PROPERTY_CERTIFICATE = re.compile(
    r"^粤\((?P<year>[0-9]{4})\)(?P<place>[\u4e00-\u9fff]{1,10}[市县区])不动产权第(?P<serial>[0-9]{7})号$"
)


def normalise_certificate_number(number: str) -> str:
    """The certificate number as compared: full-width folded to half-width, whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", number).split())


def is_property_certificate_number(number: str, *, today: date | None = None) -> bool:
    """Whether ``number`` reads as a unified property certificate number (不动产权证书号), from 2015 on and
    not later than ``today``'s year when given."""
    match = PROPERTY_CERTIFICATE.match(normalise_certificate_number(number))
    if match is None:
        return False
    year = int(match["year"])
    return year >= FIRST_CERTIFICATE_YEAR and (today is None or year <= today.year)


def _positive(checks: Checks, value: int, loc: Loc, code: str, maximum: int) -> None:
    if not 1 <= value <= maximum:
        _add(checks, loc, code, max=maximum)


def _check_premises(checks: Checks, form: ConnectionCreate) -> None:
    p = form.premises
    _, problems = resolve_address(p.district_code, p.town_code, p.road, p.number,
                                  building=p.building, room=p.room, text=p.text)
    for problem in problems:
        checks.problems.append(FieldProblem(loc=["premises", problem.field], code=problem.code,
                                            message_zh=problem.message_zh, message_en=problem.message_en))


def _check_utilities(checks: Checks, utilities: UtilitiesIn) -> None:
    loc: Loc = ["utilities"]
    if not chosen_utilities(utilities):
        _add(checks, loc, "utilities_required")
    if utilities.power is not None:
        if utilities.power.voltage not in set(Voltage):
            _add(checks, [*loc, "power", "voltage"], "voltage_unknown")
        _positive(checks, utilities.power.capacity_kw, [*loc, "power", "capacity_kw"], "capacity_invalid",
                  MAX_CAPACITY_KW)
    if utilities.water is not None:
        _positive(checks, utilities.water.diameter_mm, [*loc, "water", "diameter_mm"], "diameter_invalid",
                  MAX_DIAMETER_MM)
    if utilities.gas is not None:
        _positive(checks, utilities.gas.monthly_m3, [*loc, "gas", "monthly_m3"], "gas_volume_invalid",
                  MAX_MONTHLY_M3)
    if utilities.telecom is not None:
        _positive(checks, utilities.telecom.bandwidth_mbps, [*loc, "telecom", "bandwidth_mbps"],
                  "bandwidth_invalid", MAX_BANDWIDTH_MBPS)


def _check_proof(checks: Checks, form: ConnectionCreate, credit_report_districts: frozenset[str],
                 today: date | None) -> None:
    proof = form.proof
    if proof.kind == ProofKind.property_certificate and proof.verification_code is not None:
        # 一证通办: the number comes from the electronic certificate, looked up by the service.
        checks.text(proof.verification_code, ["proof", "verification_code"],
                    what=("电子证照验证码", "the certificate's verification code"), max_length=MAX_CODE_LENGTH)
        return
    number = checks.text(proof.number, ["proof", "number"], what=("证明编号", "the proof's number"),
                         max_length=MAX_PROOF_NUMBER_LENGTH)
    if proof.verification_code is not None:
        _add(checks, ["proof", "verification_code"], "verification_code_certificate_only")
    if proof.kind == ProofKind.property_certificate:
        if number is not None and not is_property_certificate_number(number, today=today):
            _add(checks, ["proof", "number"], "property_certificate_invalid", first=FIRST_CERTIFICATE_YEAR)
    elif proof.kind == ProofKind.credit_report:
        # 信用+报装: a credit report stands in for the certificate for power only, and only where the
        # district has switched it on. Each other utility is named, so the applicant sees what to change.
        for utility in chosen_utilities(form.utilities):
            if utility != Utility.power:
                _add(checks, ["utilities", utility.value], "credit_report_power_only",
                     utility_zh=utility.name_zh, utility_en=utility.name_en)
        district = form.premises.district_code
        # An unknown district is reported with the premises already; the switch is asked of known ones only.
        if (form.utilities.power is not None and district in COUNTY_CODES
                and district not in credit_report_districts):
            _add(checks, ["proof", "kind"], "credit_report_not_available", district=DIVISIONS[district].name,
                 district_code=district)
    else:
        _add(checks, ["proof", "kind"], "proof_kind_unknown")


@dataclass(frozen=True)
class HeldCertificate:
    """An electronic property certificate as this service knows it from real estate's announcements."""

    number: str
    unit_number: str
    active: bool
    holder_subjects: frozenset[str]
    holder_usccs: frozenset[str]


def certificate_problems(code: str, found: HeldCertificate | None, *, applicant: str, uscc: str | None,
                         not_recognised_by: Sequence[str] = ()) -> list[FieldProblem]:
    """一证通办: whether the certificate behind a verification code proves the premises for this applicant. The
    service items that do not take an electronic certificate for the property certificate (per the catalogue)
    are named; an unknown or cancelled code, or a certificate the applicant (or the enterprise) does not hold,
    is refused."""
    checks = Checks()
    loc: Loc = ["proof", "verification_code"]
    for item in not_recognised_by:
        _add(checks, loc, "certificate_not_recognised", item=item)
    if found is None:
        _add(checks, loc, "certificate_unknown", verification_code=code)
    elif not found.active:
        _add(checks, loc, "certificate_cancelled", verification_code=code)
    elif applicant not in found.holder_subjects and (uscc is None or uscc not in found.holder_usccs):
        _add(checks, loc, "certificate_not_holder", number=found.number)
    return checks.problems


def validate(form: ConnectionCreate, *, credit_report_districts: frozenset[str],
             today: date | None = None) -> list[FieldProblem]:
    """Every problem with an application, all at once (一次告知). Empty means valid.

    ``credit_report_districts`` are the district codes where 信用+报装 is switched on (a parameter);
    ``today``, when given, also refuses a certificate year in the future.
    """
    checks = Checks()
    _check_premises(checks, form)
    if form.uscc is not None:
        checks.uscc(form.uscc, ["uscc"])
    _check_proof(checks, form, credit_report_districts, today)
    _check_utilities(checks, form.utilities)
    return checks.problems


def credit_report_problems(form: ConnectionCreate, enterprise_status: str | None) -> list[FieldProblem]:
    """信用+报装 stands on the enterprise's credit: only an enterprise that is active (not suspended, not
    cancelled, as known from events) may use a credit report. ``enterprise_status`` is None when the form
    names no enterprise (or one not known here: reported elsewhere)."""
    checks = Checks()
    if form.proof.kind != ProofKind.credit_report or form.utilities.power is None:
        return []
    if form.uscc is None:
        _add(checks, ["uscc"], "credit_report_needs_enterprise")
    elif enterprise_status is not None and enterprise_status != "active":
        _add(checks, ["proof", "kind"], "credit_report_enterprise_not_active", status=enterprise_status)
    return checks.problems


def supplement_problems(before: ConnectionCreate, after: ConnectionCreate, *,
                        low_voltage_max_kw: int) -> list[FieldProblem]:
    """A supplement (补正) corrects an application; it may not change whom it asks: the same utilities and
    the same permits, so the tasks already under way stay the application's tasks."""
    old = [s.department for s in steps_for(before, low_voltage_max_kw=low_voltage_max_kw)]
    new = [s.department for s in steps_for(after, low_voltage_max_kw=low_voltage_max_kw)] if chosen_utilities(
        after.utilities) else []
    if old == new:
        return []
    checks = Checks()
    _add(checks, ["utilities"], "plan_change_not_allowed", before=", ".join(old))
    return checks.problems


def parse_district_switch(value: str) -> frozenset[str]:
    """The districts a switch is on in: ``all``, ``none`` or a comma list of district codes."""
    text = value.strip().lower()
    if text == "all":
        return frozenset(COUNTY_CODES)
    if text in ("", "none"):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


# --- Fees (parameters with effective dates) --------------------------------------------------------------

# Without an entry in force these are a configuration error, never silently free: water and gas costs are
# parameters, not zero (§18), and power above the zero-approval threshold pays its fee.
CHARGED = frozenset({Utility.power, Utility.water, Utility.gas})
PLAIN_YUAN = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Fee:
    """One utility's connection fee from a day on, in fen."""

    utility: Utility
    effective_from: date
    fen: int


@dataclass(frozen=True)
class FeeTable:
    """Connection fees by utility and effective date, sorted by date."""

    fees: tuple[Fee, ...]

    def __post_init__(self) -> None:
        seen: set[tuple[Utility, date]] = set()
        for i, fee in enumerate(self.fees):
            if i and fee.effective_from < self.fees[i - 1].effective_from:
                raise ValueError(f"fees[{i}]: not sorted by effective_from ({fee.effective_from} after "
                                 f"{self.fees[i - 1].effective_from})")
            if (fee.utility, fee.effective_from) in seen:
                raise ValueError(f"fees[{i}]: a second {fee.utility} fee from {fee.effective_from}")
            if fee.fen < 0:
                raise ValueError(f"fees[{i}]: a negative fee")
            seen.add((fee.utility, fee.effective_from))

    def fee_on(self, utility: Utility | str, day: date) -> int | None:
        """The fee in fen in force on ``day``, or None when the table has none yet."""
        in_force = [f for f in self.fees if f.utility == utility and f.effective_from <= day]
        return in_force[-1].fen if in_force else None


def fees_for(utilities: Iterable[Utility | str], day: date, table: FeeTable, *,
             zero_approval_power: bool) -> dict[str, int]:
    """The fee in fen of each chosen utility on ``day`` (the day the application is received).

    Low-voltage power within the threshold is free (零投资); other power, water and gas pay the table's fee
    in force that day; telecom and cable TV are free unless the table lists a fee. Raises ``LookupError``
    when power, water or gas has no fee in force: that is a gap in the data, not a free connection.
    """
    fees: dict[str, int] = {}
    for utility in map(Utility, utilities):
        if utility == Utility.power and zero_approval_power:
            fees[utility.value] = 0
            continue
        fen = table.fee_on(utility, day)
        if fen is None and utility in CHARGED:
            raise LookupError(f"no {utility} connection fee in force on {day}; add one to the fee table")
        fees[utility.value] = fen or 0
    return fees


def parse_fee_table(data: Any) -> FeeTable:
    """The fee table from its JSON form ``{"fees": [{"utility", "effective_from", "fee_yuan"}, ...]}``.

    Amounts are decimal strings in yuan with at most 2 decimals (no JSON numbers: a float is not an exact
    amount); dates ISO; entries sorted by date. Raises ``ValueError`` naming the first bad entry.
    """
    if not isinstance(data, dict) or not isinstance(data.get("fees"), list):
        raise ValueError('a fee table is an object with a "fees" list')
    fees = []
    for i, row in enumerate(data["fees"]):
        if not isinstance(row, dict) or set(row) != {"utility", "effective_from", "fee_yuan"}:
            raise ValueError(f"fees[{i}]: expected exactly utility, effective_from and fee_yuan")
        utility, day, amount = row["utility"], row["effective_from"], row["fee_yuan"]
        if not isinstance(utility, str) or utility not in set(Utility):
            raise ValueError(f"fees[{i}]: unknown utility {utility!r}")
        try:
            effective_from = date.fromisoformat(day) if isinstance(day, str) and ISO_DATE.match(day) else None
        except ValueError:
            effective_from = None
        if effective_from is None:
            raise ValueError(f"fees[{i}]: effective_from must be an ISO date (YYYY-MM-DD), got {day!r}")
        if not isinstance(amount, str) or not PLAIN_YUAN.match(amount):
            raise ValueError(f"fees[{i}]: fee_yuan must be a plain decimal string like \"800.00\", got {amount!r}")
        fees.append(Fee(Utility(utility), effective_from, yuan_to_fen(amount)))
    return FeeTable(tuple(fees))


def load_fee_table(path: Path | str | None = None) -> FeeTable:
    """Read and check the fee table: ``path``, else the one shipped as ``shared/data/utility_fees.json``."""
    if path is None:
        # Through importlib.resources so it also works from an installed wheel.
        text = resources.files("shared").joinpath("data", "utility_fees.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_fee_table(json.loads(text))
