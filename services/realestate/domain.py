"""The rules of 不动产登记+交易+缴税 (§17): what a valid import, transfer or mortgage form is, the register's
identifiers (不动产单元号, certificate numbers), what a transfer costs (registration fee, deed tax, VAT,
income tax), how one payment is split (清分), the parallel fan-out, when entry (登簿) may happen, and what
anyone but the owner may see of a title. Pure: no database, no bus, no clock (``today`` is passed in);
only ``load_rates`` reads a file, once, when the service starts.

Figures that change with policy are parameters: fees and tax rates are data with effective dates
(``shared/data/realestate_rates.json``); the departments' time limits are the named constants below.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from services.realestate.forms import (
    MAX_PARTIES,
    ExistingMortgageIn,
    MortgageCreate,
    MortgageRelease,
    OwnerIn,
    PropertyImport,
    TransferCreate,
)
from shared.catalogue import Entry, timed_plan
from shared.departments import Department
from shared.divisions import COUNTY_CODES, resolve_address
from shared.fanout import ApplicationStatus, Plan, Step, TaskStatus
from shared.identifiers import mask_resident_id
from shared.money import fen_to_yuan, yuan_to_fen
from shared.refusals import Conflict, FieldProblem
from shared.validation import Checks, Loc, decimal_places, plain_decimal

SERVICE = "realestate"
NUMBER_PREFIX = "BDCDJ"  # 不动产登记


class Status(ApplicationStatus):
    """A transfer's states: the shared ones, plus the buyer's confirmation and the payment; it ends
    completed (entered in the register), rejected, or cancelled (withdrawn before entry)."""

    # Filed by the owner: no department starts before the buyer confirms.
    awaiting_buyer = "awaiting_buyer"  # (the status column holds 20 characters)
    awaiting_payment = "awaiting_payment"  # tax assessed: the one online payment of every tax and fee is due
    cancelled = "cancelled"
    FINAL = frozenset({"completed", "rejected", "cancelled"})


class Use(StrEnum):
    """A property's use (用途), as far as fees and taxes tell them apart."""

    residential = "residential"  # 住宅
    non_residential = "non_residential"  # 非住宅 (商业、办公、厂房 ...)
    parking = "parking"  # 车位、车库

    @property
    def is_home(self) -> bool:
        """Whether the tax reliefs for homes (住房) apply. A parking space pays the residential registration
        fee, but for deed tax, VAT and income tax it is not a home: the reliefs name 住房 only."""
        return self is Use.residential


class ExistingMortgage(StrEnum):
    """What a transfer does with the seller's mortgage (二手房带抵押过户)."""

    repay = "repay"  # the lender consents, is repaid from the price at entry, and the mortgage is cancelled
    keep = "keep"  # 民法典 art. 406: the mortgage stays on the property; the mortgagee is notified


class RegistrationKind(StrEnum):
    """The kinds of registration whose fee differs."""

    first = "first"  # 首次登记
    transfer = "transfer"  # 转移登记
    mortgage = "mortgage"  # 抵押权登记
    cancellation = "cancellation"  # 注销登记: free
    correction = "correction"  # 更正登记: free
    objection = "objection"  # 异议登记: free


FREE_KINDS = frozenset({RegistrationKind.cancellation, RegistrationKind.correction, RegistrationKind.objection})

# --- Parameters ------------------------------------------------------------------------------------------

# 不动产登记暂行条例 art. 20: at most 30 working days. Jiangmen's commitments are shorter: each department's
# working days and the committed time limit are the catalogue's (办事指南), per service item.
LEGAL_MAX_WORKING_DAYS = 30
TRANSFER_ITEM = "property_transfer"
MORTGAGED_TRANSFER_ITEM = "mortgaged_transfer"  # 带押过户

# Bounds against typos, not legal limits: a property beyond them is for a registrar to enter by hand.
MAX_PRICE_YUAN = Decimal("10000000000")  # ten billion yuan
MAX_AREA_M2 = Decimal("1000000")
MAX_EXTRA_CERTIFICATES = MAX_PARTIES - 1  # at most one certificate per co-owner (按份共有)
PERSON_NAME_LENGTH = 50
ORGANISATION_NAME_LENGTH = 200
REFERENCE_LENGTH = 100
SHARE_PLACES = 4

# --- Messages of this service's own rules ----------------------------------------------------------------

# code → (Chinese, English); the common codes (required, too_long, uscc_invalid, resident_id_* ...) come from
# shared.messages through Checks.
MESSAGES: dict[str, tuple[str, str]] = {
    "property_unknown": ("不动产登记簿中没有该不动产单元", "no property with this unit number is in the register"),
    "mortgage_unknown": ("该不动产单元上没有此抵押登记", "no active mortgage with this certificate number on the unit"),
    "unit_number_invalid": (
        "不动产单元号应为28位，如“440703003012GB00123F00010001”",
        "a unit number (不动产单元号) has 28 characters: 12 digits, 2 letters, 5 digits, one of F W L G Q, "
        "8 digits, e.g. 440703003012GB00123F00010001",
    ),
    "unit_number_not_jiangmen": (
        "不动产单元号的前6位应为江门市辖区（县级市）代码",
        "the unit number's first 6 digits must be a Jiangmen district: one of {choices}",
    ),
    "unit_district_mismatch": (
        "不动产单元号所属区（{unit_district}）与坐落所在区（{district}）不一致",
        "the unit number is in district {unit_district}, the premises in {district}",
    ),
    "use_unknown": ("用途应为住宅、非住宅或车位", "use must be one of {choices}"),
    "area_invalid": (
        "建筑面积应为大于0、不超过{max}平方米的数字（最多两位小数）",
        "area_m2 must be a plain number greater than 0 and at most {max} (at most 2 decimals)",
    ),
    "amount_invalid": (
        "{what_zh}应为大于0、不超过{max}元的金额（最多两位小数）",
        "{what_en} must be a plain amount in yuan greater than 0 and at most {max} (at most 2 decimals)",
    ),
    "party_id_required": (
        "个人请填写身份证号码，企业请填写统一社会信用代码",
        "give a resident ID (id_number) for a person or a USCC (uscc) for an enterprise",
    ),
    "party_id_both": (
        "身份证号码与统一社会信用代码只能填写一项",
        "give either id_number (a person) or uscc (an enterprise), not both",
    ),
    "owner_share_invalid": (
        "共有份额应为大于0且不超过100的数字（最多{places}位小数）",
        "share_percent must be a plain number greater than 0 and at most 100 (at most {places} decimals)",
    ),
    "owner_shares_not_100": (
        "共有人份额合计应为100%，现为{total}%",
        "co-ownership shares must sum to exactly 100, they sum to {total}",
    ),
    "owner_duplicate": ("同一权利人不能重复登记", "the same owner is listed twice"),
    "certificate_number_invalid": (
        "不动产权证书号格式不正确，应如“粤(2026)江门市不动产权第0000001号”",
        "not a property certificate number: expected e.g. 粤(2026)江门市不动产权第0000001号",
    ),
    "proof_number_invalid": (
        "不动产登记证明号格式不正确，应如“粤(2026)江门市不动产证明第0000001号”",
        "not a registration proof number: expected e.g. 粤(2026)江门市不动产证明第0000001号",
    ),
    "acquired_in_future": ("取得日期不能晚于今天（{today}）", "the acquisition date cannot be after today ({today})"),
    "extra_certificates_invalid": (
        "加发证书数量应为0至{max}本",
        "extra_certificates must be a whole number from 0 to {max}",
    ),
    "small_micro_needs_uscc": (
        "小微企业减免须填写企业的统一社会信用代码",
        "the small and micro enterprise exemption is for an enterprise buyer: give its uscc",
    ),
    "existing_mortgage_choice_unknown": (
        "原抵押的处理方式应为“还款注销”或“保留抵押”",
        'mortgage.existing must be "repay" (the lender is repaid at entry) or "keep" (民法典 art. 406)',
    ),
    "mortgage_part_empty": (
        "抵押信息中请说明原抵押的处理方式或新的贷款",
        "the mortgage part needs existing (what happens to the seller's mortgage), new_loan, or both",
    ),
    "loan_exceeds_price": (
        "贷款金额不能超过成交价格",
        "the new loan cannot be more than the price",
    ),
    "term_end_before_start": (
        "债务履行期限的结束日期应晚于开始日期",
        "term_end must be after term_start",
    ),
    "title_seized": (
        "该不动产已被查封（{authority}，{reference}），不能办理转移或抵押登记",
        "the property is seized ({authority}, {reference}): it cannot be transferred or mortgaged",
    ),
    "mortgage_decision_required": (
        "该不动产已设定抵押，请选择还款注销或保留抵押（带押过户）",
        'the property is mortgaged: choose mortgage.existing "repay" or "keep"',
    ),
    "no_mortgage_to_handle": (
        "该不动产未设定抵押，无需选择原抵押的处理方式",
        "the property has no mortgage: leave mortgage.existing empty",
    ),
    "buyer_is_owner": (
        "买受人已是该不动产的权利人",
        "the buyer already holds this property; a transfer is between different parties",
    ),
    "mortgagor_not_owner": (
        "抵押人应为该不动产的权利人",
        "the mortgagor must be an owner of the property",
    ),
}


def problem(loc: Loc, code: str, **params: Any) -> FieldProblem:
    """One problem of this service's own rules (``MESSAGES``)."""
    checks = Checks()
    _add(checks, loc, code, **params)
    return checks.problems[0]


def _add(checks: Checks, loc: Loc, code: str, **params: Any) -> None:
    """Add a problem of this service's own rules (``MESSAGES``) beside the common ones."""
    zh, en = MESSAGES[code]
    checks.problems.append(FieldProblem(loc=list(loc), code=code, message_zh=zh.format(**params),
                                        message_en=en.format(**params)))


# --- The register's identifiers ------------------------------------------------------------------------

# 不动产单元号 (GB/T 37346 不动产单元编码规则), 28 characters in three layers:
#   1-6    county-level division (县级行政区划): the register is kept by county, so it must be one of
#          Jiangmen's seven (checked apart from the pattern, to say which part is wrong);
#   7-12   cadastral zone (地籍区, 3 digits) and sub-zone (地籍子区, 3 digits);
#   13-19  parcel (宗地/宗海): 2 letters — ownership (G 国有, J 集体, Z 争议) and kind — then a 5-digit serial;
#   20-28  fixture (定着物): F 房屋, L 林木, W 无定着物, Q 其他 (G as found in legacy data), then 8 digits
#          (for a building: 4 of the building, 4 of the unit in it).
# Pragmatic rather than complete: the letters' allowed combinations are the registry's to enforce; this
# catches typos and a number from another city. [0-9] rather than \d, which also matches non-ASCII digits.
UNIT_NUMBER = re.compile(r"^[0-9]{12}[A-Z]{2}[0-9]{5}[FWLGQ][0-9]{8}$")


def unit_number_problem(number: str) -> str | None:
    """What is wrong with a unit number: ``"unit_number_invalid"``, ``"unit_number_not_jiangmen"``, or None."""
    if not UNIT_NUMBER.match(number):
        return "unit_number_invalid"
    if number[:6] not in COUNTY_CODES:
        return "unit_number_not_jiangmen"
    return None


def _check_unit_number(checks: Checks, number: str, loc: Loc) -> bool:
    problem = unit_number_problem(number)
    if problem is not None:
        _add(checks, loc, problem, choices=", ".join(COUNTY_CODES))
    return problem is None


# 粤(2026)江门市不动产权第0000001号 (a title certificate) or 粤(2026)江门市不动产证明第0000001号 (the proof of a
# mortgage or another registration), compared after full-width characters are folded (（） → ()). The place
# is the registering city or county-level city; the serial is 7 digits, one sequence per place, kind and year.
CERTIFICATE = re.compile(
    r"^粤\((?P<year>[0-9]{4})\)(?P<place>[\u4e00-\u9fff]{1,10}[市县区])不动产(?P<kind>权|证明)第(?P<serial>[0-9]{7})号$"
)
FIRST_CERTIFICATE_YEAR = 2015  # the unified certificate exists since 不动产统一登记 (2015)
MAX_SERIAL = 9_999_999


def normalise_certificate_number(number: str) -> str:
    """The certificate number as compared: full-width folded to half-width, whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", number).split())


def is_certificate_number(number: str, *, proof: bool = False) -> bool:
    """Whether ``number`` reads as a title certificate number (不动产权证书号) or, with ``proof``, a
    registration proof number (不动产登记证明号), from 2015 on."""
    match = CERTIFICATE.match(normalise_certificate_number(number))
    return (match is not None and match["kind"] == ("证明" if proof else "权")
            and int(match["year"]) >= FIRST_CERTIFICATE_YEAR)


def format_certificate_number(year: int, sequence: int, *, place: str = "江门市", proof: bool = False) -> str:
    """The number of an electronic certificate (电子不动产权证书) from the registry's sequence, e.g.
    ``粤(2026)江门市不动产权第0000123号``; with ``proof``, a registration proof (不动产登记证明) such as a
    mortgage's. Raises ``ValueError`` for a year before 2015 or a sequence outside 1-9999999 (the caller
    allocates it uniquely per place, kind and year)."""
    if not FIRST_CERTIFICATE_YEAR <= year <= 9999:
        raise ValueError(f"year must be from {FIRST_CERTIFICATE_YEAR} to 9999")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 1 <= sequence <= MAX_SERIAL:
        raise ValueError(f"sequence must be an integer from 1 to {MAX_SERIAL}")
    number = f"粤({year:04d}){place}不动产{'证明' if proof else '权'}第{sequence:07d}号"
    if not CERTIFICATE.match(number):
        raise ValueError(f"not a registering place: {place!r}")
    return number


VERIFICATION_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read off a screen or paper
VERIFICATION_LENGTH = 16  # 80 bits: not guessable, short enough to type


def new_verification_code() -> str:
    """An unguessable verification code of an electronic certificate (what its QR code carries), from OS
    randomness: whoever checks a certificate (一证通办) needs this code, not the certificate number, which
    is printed on paper and so is no secret."""
    return "".join(secrets.choice(VERIFICATION_ALPHABET) for _ in range(VERIFICATION_LENGTH))


# --- Shared checks -----------------------------------------------------------------------------------------


def _positive_decimal(checks: Checks, value: str, loc: Loc, code: str, *, places: int, maximum: Decimal,
                      **params: Any) -> Decimal | None:
    number = plain_decimal(value)
    if number is None or number <= 0 or number > maximum or decimal_places(number) > places:
        _add(checks, loc, code, max=maximum, places=places, **params)
        return None
    return number


def _yuan(checks: Checks, value: str, loc: Loc, what: tuple[str, str]) -> int | None:
    """A positive amount in yuan as fen, or None after adding its problem."""
    number = _positive_decimal(checks, value, loc, "amount_invalid", places=2, maximum=MAX_PRICE_YUAN,
                               what_zh=what[0], what_en=what[1])
    return None if number is None else yuan_to_fen(number)


def _party(checks: Checks, name: str, id_number: str | None, uscc: str | None, loc: Loc) -> None:
    """A person (name and resident ID) or an enterprise (name and USCC): exactly one of the two numbers."""
    is_person = id_number is not None and uscc is None
    checks.text(name, [*loc, "name"], what=("名称", "name"),
                max_length=PERSON_NAME_LENGTH if is_person else ORGANISATION_NAME_LENGTH)
    if id_number is None and uscc is None:
        _add(checks, [*loc, "id_number"], "party_id_required")
    elif id_number is not None and uscc is not None:
        _add(checks, [*loc, "uscc"], "party_id_both")
    elif id_number is not None:
        checks.resident_id(id_number, [*loc, "id_number"])
    elif uscc is not None:
        checks.uscc(uscc, [*loc, "uscc"])


def _organisation(checks: Checks, uscc: str, name: str, loc: Loc, uscc_field: str, name_field: str) -> None:
    checks.uscc(uscc, [*loc, uscc_field])
    checks.text(name, [*loc, name_field], what=("机构名称", "the organisation's name"),
                max_length=ORGANISATION_NAME_LENGTH)


def _identity(id_number: str | None, uscc: str | None) -> str | None:
    """What identifies a party across forms: its resident ID (check letter upper case) or its USCC."""
    if id_number is not None:
        return "id:" + id_number.strip().upper()
    return None if uscc is None else "uscc:" + uscc


# --- Validation (一次告知: every problem at once) -------------------------------------------------------------


def _check_owners(checks: Checks, owners: Sequence[OwnerIn]) -> None:
    if not checks.count(owners, ["owners"], what=("权利人", "owners"), maximum=MAX_PARTIES, minimum=1):
        return
    total = Decimal(0)
    shares_valid = True
    seen: set[str] = set()
    for i, owner in enumerate(owners):
        loc: Loc = ["owners", i]
        _party(checks, owner.name, owner.id_number, owner.uscc, loc)
        if owner.sub is not None:
            checks.text(owner.sub, [*loc, "sub"], what=("账号", "sub"), max_length=100)
        identity = _identity(owner.id_number, owner.uscc)
        if identity is not None:
            if identity in seen:
                _add(checks, loc, "owner_duplicate")
            seen.add(identity)
        share = _positive_decimal(checks, owner.share_percent, [*loc, "share_percent"], "owner_share_invalid",
                                  places=SHARE_PLACES, maximum=Decimal(100))
        if share is None:
            shares_valid = False
        else:
            total += share
    # Summed as decimals, so 33.3333 × 3 is 99.9999 and refused: the register keeps shares exactly.
    if shares_valid and total != 100:
        _add(checks, ["owners"], "owner_shares_not_100", total=total)


def validate_import(form: PropertyImport) -> list[FieldProblem]:
    """Every problem with one property of the existing data (存量数据), all at once. Empty means valid."""
    checks = Checks()
    unit_ok = _check_unit_number(checks, form.unit_number, ["unit_number"])
    p = form.premises
    _, address_problems = resolve_address(p.district_code, p.town_code, p.road, p.number, building=p.building,
                                          room=p.room, text=p.text)
    for problem in address_problems:
        checks.problems.append(FieldProblem(loc=["premises", problem.field], code=problem.code,
                                            message_zh=problem.message_zh, message_en=problem.message_en))
    # Compared only when both are known districts: otherwise each is already reported on its own.
    if unit_ok and p.district_code in COUNTY_CODES and form.unit_number[:6] != p.district_code:
        _add(checks, ["unit_number"], "unit_district_mismatch", unit_district=form.unit_number[:6],
             district=p.district_code)
    if form.use not in set(Use):
        _add(checks, ["use"], "use_unknown", choices=", ".join(Use))
    _positive_decimal(checks, form.area_m2, ["area_m2"], "area_invalid", places=2, maximum=MAX_AREA_M2)
    _check_owners(checks, form.owners)
    if not is_certificate_number(form.certificate_number):
        _add(checks, ["certificate_number"], "certificate_number_invalid")
    for i, mortgage in enumerate(form.mortgages):
        loc: Loc = ["mortgages", i]
        _organisation(checks, mortgage.mortgagee_uscc, mortgage.mortgagee_name, loc, "mortgagee_uscc",
                      "mortgagee_name")
        _yuan(checks, mortgage.amount_yuan, [*loc, "amount_yuan"], ("抵押金额", "amount_yuan"))
        if mortgage.certificate_number is not None and not is_certificate_number(mortgage.certificate_number,
                                                                                 proof=True):
            _add(checks, [*loc, "certificate_number"], "proof_number_invalid")
    for i, seizure in enumerate(form.seizures):
        checks.text(seizure.authority, ["seizures", i, "authority"], what=("查封机关", "the authority"),
                    max_length=ORGANISATION_NAME_LENGTH)
        checks.text(seizure.reference, ["seizures", i, "reference"], what=("查封文号", "the reference"),
                    max_length=REFERENCE_LENGTH)
    return checks.problems


def validate_transfer(form: TransferCreate, *, today: date) -> list[FieldProblem]:
    """Every problem with a transfer form on its own, all at once (一次告知). Empty means valid.

    What needs the title (a seizure, the seller's mortgage, a buyer who already owns it) is ``title_problems``;
    whether the caller may sell is the service's authorisation.
    """
    checks = Checks()
    _check_unit_number(checks, form.unit_number, ["unit_number"])
    buyer = form.buyer
    _party(checks, buyer.name, buyer.id_number, buyer.uscc, ["buyer"])
    if buyer.sub is not None:
        checks.text(buyer.sub, ["buyer", "sub"], what=("账号", "sub"), max_length=100)
    if buyer.is_small_micro_enterprise and buyer.uscc is None:
        _add(checks, ["buyer", "is_small_micro_enterprise"], "small_micro_needs_uscc")
    price = _yuan(checks, form.price_yuan, ["price_yuan"], ("成交价格", "price_yuan"))
    acquired = checks.date(form.acquired_on, ["acquired_on"])
    if acquired is not None and acquired > today:
        _add(checks, ["acquired_on"], "acquired_in_future", today=today.isoformat())
    if not 0 <= form.extra_certificates <= MAX_EXTRA_CERTIFICATES:
        _add(checks, ["extra_certificates"], "extra_certificates_invalid", max=MAX_EXTRA_CERTIFICATES)
    mortgage = form.mortgage
    if mortgage is not None:
        if mortgage.existing is None and mortgage.new_loan is None:
            _add(checks, ["mortgage"], "mortgage_part_empty")
        if mortgage.existing is not None and mortgage.existing not in set(ExistingMortgage):
            _add(checks, ["mortgage", "existing"], "existing_mortgage_choice_unknown")
        loan = mortgage.new_loan
        if loan is not None:
            loc: Loc = ["mortgage", "new_loan"]
            _organisation(checks, loan.lender_uscc, loan.lender_name, loc, "lender_uscc", "lender_name")
            amount = _yuan(checks, loan.amount_yuan, [*loc, "amount_yuan"], ("贷款金额", "amount_yuan"))
            if amount is not None and price is not None and amount > price:
                _add(checks, [*loc, "amount_yuan"], "loan_exceeds_price")
    if form.on_behalf_of is not None:
        checks.text(form.on_behalf_of, ["on_behalf_of"], what=("代办对象", "on_behalf_of"), max_length=200)
    return checks.problems


def validate_mortgage(form: MortgageCreate) -> list[FieldProblem]:
    """Every problem with a mortgage registration (抵押权登记), all at once. Empty means valid."""
    checks = Checks()
    _check_unit_number(checks, form.unit_number, ["unit_number"])
    m = form.mortgagor
    _party(checks, m.name, m.id_number, m.uscc, ["mortgagor"])
    _organisation(checks, form.mortgagee_uscc, form.mortgagee_name, [], "mortgagee_uscc", "mortgagee_name")
    _yuan(checks, form.amount_yuan, ["amount_yuan"], ("被担保债权数额", "amount_yuan"))
    start = checks.date(form.term_start, ["term_start"])
    end = checks.date(form.term_end, ["term_end"])
    if start is not None and end is not None and end <= start:
        _add(checks, ["term_end"], "term_end_before_start")
    return checks.problems


def validate_release(form: MortgageRelease) -> list[FieldProblem]:
    """Every problem with a mortgage release (抵押权注销登记), all at once. Empty means valid."""
    checks = Checks()
    _check_unit_number(checks, form.unit_number, ["unit_number"])
    if not is_certificate_number(form.certificate_number, proof=True):
        _add(checks, ["certificate_number"], "proof_number_invalid")
    checks.uscc(form.mortgagee_uscc, ["mortgagee_uscc"])
    return checks.problems


# --- Titles, and what others may see of them (不动产登记资料查询暂行办法) ---------------------------------------


@dataclass(frozen=True)
class Owner:
    """A holder of the right: a person (``id_number``) or an enterprise (``uscc``), and their share."""

    name: str
    share_percent: Decimal
    id_number: str | None = None
    uscc: str | None = None
    sub: str | None = None

    @property
    def is_person(self) -> bool:
        """Whether a natural person holds it (their data is personal data, masked for others)."""
        return self.uscc is None


@dataclass(frozen=True)
class Mortgage:
    """A mortgage in the register; the mortgagee is a bank or a local financial organisation."""

    mortgagee_uscc: str
    mortgagee_name: str
    amount_fen: int
    certificate_number: str | None = None


@dataclass(frozen=True)
class Seizure:
    """A seizure (查封) by a court or another authority: while it stands the property cannot change hands."""

    authority: str
    reference: str


@dataclass(frozen=True)
class Title:
    """One property as the register holds it: natural state (自然状况), owners, encumbrances."""

    unit_number: str
    certificate_number: str
    district_code: str
    address: str  # the standard address (标准化地址)
    use: Use
    area_m2: Decimal
    owners: tuple[Owner, ...]
    mortgages: tuple[Mortgage, ...] = ()
    seizures: tuple[Seizure, ...] = ()

    def is_owner(self, sub: str) -> bool:
        """Whether the token subject ``sub`` holds (a share of) this property."""
        return any(o.sub == sub for o in self.owners if o.sub is not None)


def title_from_import(form: PropertyImport, address: str) -> Title:
    """The title of a validated import (``validate_import`` found nothing); ``address`` is its resolved
    standard address. Raises ``ValueError`` on a form that was not validated."""

    def mortgage(m: ExistingMortgageIn) -> Mortgage:
        number = None if m.certificate_number is None else normalise_certificate_number(m.certificate_number)
        return Mortgage(m.mortgagee_uscc, m.mortgagee_name, yuan_to_fen(m.amount_yuan), number)

    return Title(
        unit_number=form.unit_number,
        certificate_number=normalise_certificate_number(form.certificate_number),
        district_code=form.premises.district_code,
        address=address,
        use=Use(form.use),
        area_m2=Decimal(form.area_m2),
        owners=tuple(Owner(o.name, Decimal(o.share_percent), o.id_number, o.uscc, o.sub) for o in form.owners),
        mortgages=tuple(mortgage(m) for m in form.mortgages),
        seizures=tuple(Seizure(s.authority, s.reference) for s in form.seizures),
    )


def title_problems(form: TransferCreate, title: Title) -> list[FieldProblem]:
    """What the title forbids in a (valid) transfer form, all at once: a seized property cannot change
    hands; a mortgaged one needs the choice of repaying or keeping the mortgage (and an unmortgaged one no
    such choice); the buyer must not already hold it."""
    checks = Checks()
    for seizure in title.seizures:
        _add(checks, ["unit_number"], "title_seized", authority=seizure.authority, reference=seizure.reference)
    existing = form.mortgage.existing if form.mortgage is not None else None
    if title.mortgages and existing is None:
        _add(checks, ["mortgage", "existing"], "mortgage_decision_required")
    if not title.mortgages and existing is not None:
        _add(checks, ["mortgage", "existing"], "no_mortgage_to_handle")
    buyer = _identity(form.buyer.id_number, form.buyer.uscc)
    if (buyer is not None and buyer in {_identity(o.id_number, o.uscc) for o in title.owners}) or (
            form.buyer.sub is not None and title.is_owner(form.buyer.sub)):
        _add(checks, ["buyer"], "buyer_is_owner")
    return checks.problems


def mortgage_title_problems(form: MortgageCreate, title: Title) -> list[FieldProblem]:
    """What the title forbids in a (valid) mortgage registration: a seizure; a mortgagor who is no owner."""
    checks = Checks()
    for seizure in title.seizures:
        _add(checks, ["unit_number"], "title_seized", authority=seizure.authority, reference=seizure.reference)
    mortgagor = _identity(form.mortgagor.id_number, form.mortgagor.uscc)
    if mortgagor not in {_identity(o.id_number, o.uscc) for o in title.owners}:
        _add(checks, ["mortgagor"], "mortgagor_not_owner")
    return checks.problems


def mask_name(name: str) -> str:
    """A person's name for anyone but themselves: the first character kept, the rest starred
    (``张三`` → ``张*``, ``欧阳娜娜`` → ``欧***``); the length still shows, as on every public notice."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def title_view(title: Title, viewer_is_owner: bool) -> dict[str, Any]:
    """A title as a query answers it (查询暂行办法), as plain JSON-ready data.

    The owner sees everything. Anyone else (利害关系人, and the public terminals) sees the natural state
    (address, use, area), the co-ownership shares, mortgages (mortgagee and amount) and seizures, with every
    person's name and ID number masked (张*, ``110105********002X``) and without the certificate number,
    which is what fraud with a title starts from. An enterprise's name and USCC are public already
    (企业信息公示) and stay readable. Token subjects never leave the service.
    """

    def owner(o: Owner) -> dict[str, Any]:
        masked = o.is_person and not viewer_is_owner
        shown: dict[str, Any] = {"name": mask_name(o.name) if masked else o.name,
                                 "share_percent": str(o.share_percent)}
        if o.id_number is not None:
            shown["id_number"] = mask_resident_id(o.id_number) if masked else o.id_number
        if o.uscc is not None:
            shown["uscc"] = o.uscc
        return shown

    def mortgage(m: Mortgage) -> dict[str, Any]:
        shown: dict[str, Any] = {"mortgagee_uscc": m.mortgagee_uscc, "mortgagee_name": m.mortgagee_name,
                                 "amount_yuan": fen_to_yuan(m.amount_fen)}
        if viewer_is_owner and m.certificate_number is not None:
            shown["certificate_number"] = m.certificate_number
        return shown

    view: dict[str, Any] = {
        "unit_number": title.unit_number,
        "district_code": title.district_code,
        "address": title.address,
        "use": title.use.value,
        "area_m2": str(title.area_m2),
        "owners": [owner(o) for o in title.owners],
        "mortgages": [mortgage(m) for m in title.mortgages],
        "seizures": [{"authority": s.authority, "reference": s.reference} for s in title.seizures],
    }
    if viewer_is_owner:
        view["certificate_number"] = title.certificate_number
    return view


# --- Rates (parameters with effective dates) -----------------------------------------------------------------


@dataclass(frozen=True)
class FeeRates:
    """不动产登记费 per case (按件), in fen; the first certificate is included."""

    effective_from: date
    residential: int
    parking: int
    non_residential: int
    extra_certificate: int  # 证书工本费 per certificate beyond the first


@dataclass(frozen=True)
class DeedTaxRates:
    """契税 rates in percent: the reliefs for an individual's home by the family's home count and the area
    (at most ``area_threshold_m2`` inclusive: 及以下), else the general rate."""

    effective_from: date
    area_threshold_m2: Decimal
    first_home_up_to_percent: Decimal
    first_home_above_percent: Decimal
    second_home_up_to_percent: Decimal
    second_home_above_percent: Decimal
    general_percent: Decimal


@dataclass(frozen=True)
class VatRates:
    """增值税 on a resale: the simplified rate in percent, and the holding period that exempts a home."""

    effective_from: date
    rate_percent: Decimal
    home_exempt_years: int


@dataclass(frozen=True)
class IncomeTaxRates:
    """个人所得税 of an individual seller: the deemed rate (核定征收) in percent, and the holding period
    that exempts the family's only home (满五唯一)."""

    effective_from: date
    deemed_rate_percent: Decimal
    only_home_exempt_years: int


R = TypeVar("R", FeeRates, DeedTaxRates, VatRates, IncomeTaxRates)


def _in_force(entries: Sequence[R], day: date, what: str) -> R:
    in_force = [e for e in entries if e.effective_from <= day]
    if not in_force:
        # A gap in the data is a configuration error, never a free transfer.
        raise LookupError(f"no {what} in force on {day}; add an entry to the rates")
    return in_force[-1]


@dataclass(frozen=True)
class Rates:
    """Every fee and tax parameter of a transfer, each section sorted by effective date."""

    registration_fee: tuple[FeeRates, ...]
    deed_tax: tuple[DeedTaxRates, ...]
    vat: tuple[VatRates, ...]
    income_tax: tuple[IncomeTaxRates, ...]

    def fee_on(self, day: date) -> FeeRates:
        """The registration fee in force on ``day`` (``LookupError`` when none is)."""
        return _in_force(self.registration_fee, day, "registration fee")

    def deed_tax_on(self, day: date) -> DeedTaxRates:
        """The deed tax rates in force on ``day`` (``LookupError`` when none are)."""
        return _in_force(self.deed_tax, day, "deed tax rate")

    def vat_on(self, day: date) -> VatRates:
        """The VAT rate in force on ``day`` (``LookupError`` when none is)."""
        return _in_force(self.vat, day, "VAT rate")

    def income_tax_on(self, day: date) -> IncomeTaxRates:
        """The income tax rate in force on ``day`` (``LookupError`` when none is)."""
        return _in_force(self.income_tax, day, "income tax rate")


PLAIN_YUAN = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
PLAIN_NUMBER = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,6})?$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _yuan_value(value: Any) -> int:
    if not isinstance(value, str) or not PLAIN_YUAN.match(value):
        raise ValueError(f'an amount is a plain decimal string in yuan like "80.00", got {value!r}')
    return yuan_to_fen(value)


def _percent_value(value: Any) -> Decimal:
    # Strings, not JSON numbers: a float is not an exact rate.
    if not isinstance(value, str) or not PLAIN_NUMBER.match(value) or Decimal(value) > 100:
        raise ValueError(f'a rate is a plain decimal string in percent from "0" to "100", got {value!r}')
    return Decimal(value)


def _area_value(value: Any) -> Decimal:
    if not isinstance(value, str) or not PLAIN_NUMBER.match(value) or Decimal(value) <= 0:
        raise ValueError(f'an area is a positive plain decimal string in m², got {value!r}')
    return Decimal(value)


def _years_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise ValueError(f"a period is a whole number of years from 0 to 100, got {value!r}")
    return value


def _date_value(value: Any) -> date:
    try:
        if isinstance(value, str) and ISO_DATE.match(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValueError(f"effective_from must be an ISO date (YYYY-MM-DD), got {value!r}")


Parser = Callable[[Any], Any]
_SECTIONS: dict[str, tuple[Callable[..., Any], dict[str, Parser]]] = {
    "registration_fee": (FeeRates, {
        "residential_yuan": _yuan_value, "parking_yuan": _yuan_value, "non_residential_yuan": _yuan_value,
        "extra_certificate_yuan": _yuan_value}),
    "deed_tax": (DeedTaxRates, {
        "area_threshold_m2": _area_value, "first_home_up_to_percent": _percent_value,
        "first_home_above_percent": _percent_value, "second_home_up_to_percent": _percent_value,
        "second_home_above_percent": _percent_value, "general_percent": _percent_value}),
    "vat": (VatRates, {"rate_percent": _percent_value, "home_exempt_years": _years_value}),
    "income_tax": (IncomeTaxRates, {"deemed_rate_percent": _percent_value, "only_home_exempt_years": _years_value}),
}


def _parse_section(name: str, rows: Any) -> tuple[Any, ...]:
    make, fields = _SECTIONS[name]
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{name}: a non-empty list of entries is needed")
    entries: list[Any] = []
    for i, row in enumerate(rows):
        where = f"{name}[{i}]"
        expected = {"effective_from", *fields}
        if not isinstance(row, dict) or not expected <= set(row) <= expected | {"source"}:
            raise ValueError(f"{where}: expected exactly {', '.join(sorted(expected))} (and an optional source)")
        try:
            values = {key.removesuffix("_yuan"): parse(row[key]) for key, parse in fields.items()}
            entry = make(effective_from=_date_value(row["effective_from"]), **values)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if entries and entry.effective_from <= entries[-1].effective_from:
            raise ValueError(f"{where}: not after the entry before it ({entries[-1].effective_from}); "
                             "entries are sorted by effective_from, one per day")
        entries.append(entry)
    return tuple(entries)


def parse_rates(data: Any) -> Rates:
    """The rates from their JSON form (``shared/data/realestate_rates.json``): sections
    ``registration_fee``, ``deed_tax``, ``vat`` and ``income_tax``, each a list of entries with an
    ``effective_from`` ISO date, sorted, one per day. Amounts are yuan strings, rates percent strings (no JSON
    numbers: a float is not exact), periods whole years. Raises ``ValueError`` naming the first bad entry."""
    if not isinstance(data, dict) or not set(_SECTIONS) <= set(data):
        raise ValueError(f"the rates are an object with the sections {', '.join(_SECTIONS)}")
    return Rates(*(_parse_section(name, data[name]) for name in _SECTIONS))


def load_rates(path: Path | str | None = None) -> Rates:
    """Read and check the rates: ``path``, else the ones shipped as ``shared/data/realestate_rates.json``."""
    if path is None:
        # Through importlib.resources so it also works from an installed wheel.
        text = resources.files("shared").joinpath("data", "realestate_rates.json").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_rates(json.loads(text))


# --- Fee and taxes ---------------------------------------------------------------------------------------------


def registration_fee(use: Use | str, extra_certificates: int, *, small_micro: bool, day: date, rates: Rates,
                     kind: RegistrationKind = RegistrationKind.transfer) -> int:
    """不动产登记费 of one case in fen, by the rates in force on ``day``.

    Per case by use (residential and parking the same, non-residential more); the first certificate is
    included, each extra one costs the 工本费. Free: a small or micro enterprise applying (小微企业免收, the
    extra certificates too, as the 工本费 is part of the registration fee), and cancellation, correction and
    objection registrations. Raises ``ValueError`` for a negative count, ``LookupError`` when no fee is in
    force.
    """
    if extra_certificates < 0:
        raise ValueError("extra_certificates cannot be negative")
    if small_micro or RegistrationKind(kind) in FREE_KINDS:
        return 0
    fee = rates.fee_on(day)
    per_case = {Use.residential: fee.residential, Use.parking: fee.parking,
                Use.non_residential: fee.non_residential}[Use(use)]
    return per_case + extra_certificates * fee.extra_certificate


def held_at_least(acquired_on: date, day: date, years: int) -> bool:
    """Whether a property acquired on ``acquired_on`` has been held ``years`` full years on ``day``: from the
    anniversary on. An anniversary of 29 February in a common year is the 28th (民法典 art. 202: without a
    corresponding day the period ends on the month's last day)."""
    try:
        anniversary = acquired_on.replace(year=acquired_on.year + years)
    except ValueError:
        anniversary = acquired_on.replace(year=acquired_on.year + years, day=28)
    return day >= anniversary


def _round_half_up(amount: Fraction) -> int:
    # Taxes are computed exactly (fractions, no float, no Decimal context) and rounded once, half up to the
    # fen (四舍五入), as the tax bureau's assessments are.
    return math.floor(amount + Fraction(1, 2))


def _percent_of(base_fen: int, percent: Decimal) -> int:
    return _round_half_up(base_fen * Fraction(percent) / 100)


@dataclass(frozen=True)
class TransferFacts:
    """What the fee and the taxes of a transfer depend on, from the form and the title."""

    use: Use
    area_m2: Decimal
    price_fen: int
    buyer_is_individual: bool
    buyer_family_has_other_home: bool
    buyer_small_micro: bool
    seller_is_individual: bool
    seller_acquired_on: date
    seller_family_only_home: bool
    extra_certificates: int = 0


def facts_for(form: TransferCreate, title: Title) -> TransferFacts:
    """The facts of a validated transfer form on its title. The seller counts as an individual when every
    owner is a person (an enterprise's income tax is not settled per transfer)."""
    return TransferFacts(
        use=title.use,
        area_m2=title.area_m2,
        price_fen=yuan_to_fen(form.price_yuan),
        buyer_is_individual=form.buyer.uscc is None,
        buyer_family_has_other_home=form.buyer_family_has_other_home,
        buyer_small_micro=form.buyer.is_small_micro_enterprise,
        seller_is_individual=all(o.is_person for o in title.owners),
        seller_acquired_on=date.fromisoformat(form.acquired_on),
        seller_family_only_home=form.seller_family_only_home,
        extra_certificates=form.extra_certificates,
    )


class Charge(StrEnum):
    """An item of the one payment; taxes go to the treasury, the fee to the registry."""

    deed_tax = "deed_tax"  # 契税 (buyer)
    vat = "vat"  # 增值税 (seller)
    income_tax = "income_tax"  # 个人所得税 (seller)
    registration_fee = "registration_fee"  # 不动产登记费 (buyer)

    @property
    def account(self) -> Account:
        """Where this item's money goes (清分)."""
        return Account.registry if self is Charge.registration_fee else Account.treasury


class Account(StrEnum):
    """Where a split payment's parts go."""

    treasury = "treasury"  # 国库: taxes are paid in (入库)
    registry = "registry"  # the registry's non-tax revenue account: the fee is booked (入账)


@dataclass(frozen=True)
class Assessment:
    """The amounts of a transfer in fen, item by item."""

    deed_tax: int
    vat: int
    income_tax: int
    registration_fee: int

    def __post_init__(self) -> None:
        for charge in Charge:
            value = getattr(self, charge.value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{charge.value} must be a non-negative whole number of fen")

    def items(self) -> tuple[tuple[Charge, int], ...]:
        """Each item and its amount, in ``Charge`` order."""
        return tuple((charge, getattr(self, charge.value)) for charge in Charge)

    @property
    def total(self) -> int:
        """What the one payment must be."""
        return sum(fen for _, fen in self.items())


def deed_tax(facts: TransferFacts, base_fen: int, rates: DeedTaxRates) -> int:
    """契税 on ``base_fen`` (the price without VAT: 契税法 art. 4 and 财政部 税务总局公告2021年第23号).

    An individual buying a home pays the relief rate of the family's first or second home, by area (the
    rate of the bracket applies to the whole price, not in slices). Everything else — an enterprise buyer,
    a non-residential property or a parking space — pays the general rate. A third home is not told apart:
    the form asks only whether the family has another home, and the tax bureau's assessment (核税, which
    consults the family's housing records) corrects it to the general rate.
    """
    if not (facts.buyer_is_individual and facts.use.is_home):
        percent = rates.general_percent
    else:
        small = facts.area_m2 <= rates.area_threshold_m2
        if facts.buyer_family_has_other_home:
            percent = rates.second_home_up_to_percent if small else rates.second_home_above_percent
        else:
            percent = rates.first_home_up_to_percent if small else rates.first_home_above_percent
    return _percent_of(base_fen, percent)


def vat(facts: TransferFacts, day: date, rates: VatRates) -> int:
    """增值税 of the seller: an individual's home held the exempt period (2 years) or more is exempt; any
    other resale pays the simplified rate on the price without VAT, i.e. price × 5% / 1.05, computed exactly
    and rounded half up to the fen (differential bases for non-residential sellers are the tax bureau's
    assessment to apply; this is the full-price figure)."""
    if (facts.seller_is_individual and facts.use.is_home
            and held_at_least(facts.seller_acquired_on, day, rates.home_exempt_years)):
        return 0
    rate = Fraction(rates.rate_percent) / 100
    return _round_half_up(facts.price_fen * rate / (1 + rate))


def income_tax(facts: TransferFacts, base_fen: int, day: date, rates: IncomeTaxRates) -> int:
    """个人所得税 of an individual seller: nothing for the family's only home held 5 years or more (满五唯一),
    else the deemed rate (核定征收) on ``base_fen``, the price without VAT (财税〔2016〕43号). An enterprise
    seller owes none here."""
    if not facts.seller_is_individual:
        return 0
    if (facts.use.is_home and facts.seller_family_only_home
            and held_at_least(facts.seller_acquired_on, day, rates.only_home_exempt_years)):
        return 0
    return _percent_of(base_fen, rates.deemed_rate_percent)


def assess(facts: TransferFacts, day: date, rates: Rates) -> Assessment:
    """The fee and the taxes of a transfer by the rates in force on ``day`` (the day of the assessment).

    This is what the applicant is told and asked to pay; the tax department's task (核税) confirms the
    taxes, and its figures prevail where it differs. Surcharges on VAT (城建税、教育费附加), land VAT and
    stamp duty (exempt for individuals' homes) are not computed here. Raises ``LookupError`` when a rate
    is missing for ``day``.
    """
    value_added = vat(facts, day, rates.vat_on(day))
    base = facts.price_fen - value_added
    return Assessment(
        deed_tax=deed_tax(facts, base, rates.deed_tax_on(day)),
        vat=value_added,
        income_tax=income_tax(facts, base, day, rates.income_tax_on(day)),
        registration_fee=registration_fee(facts.use, facts.extra_certificates, small_micro=facts.buyer_small_micro,
                                          day=day, rates=rates),
    )


# --- One payment, split (清分) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """One part of a split payment: an item and the account it goes to."""

    charge: Charge
    account: Account
    fen: int


def split_payment(paid_fen: int, assessment: Assessment) -> list[Allocation]:
    """Split one payment into its parts: one per tax item to the treasury (入库), the fee to the registry's
    account (入账); items of zero are left out. The parts sum exactly, to the fen, to what was paid: the
    split is item by item, never a proportion of the payment, so there is no rounding to lose a fen.

    A payment that is not exactly the amount due is refused (``Conflict`` ``payment_amount_wrong``): too little
    cannot pay every item, too much has nowhere to go; either is returned to the payer whole. So is a
    payment when nothing is due (``nothing_to_pay``).
    """
    due = assessment.total
    if due == 0:
        raise Conflict("nothing_to_pay", "nothing is due for this transfer; no payment is taken")
    if isinstance(paid_fen, bool) or paid_fen != due:
        raise Conflict("payment_amount_wrong",
                       f"{fen_to_yuan(paid_fen) if isinstance(paid_fen, int) else paid_fen!r} yuan was paid, "
                       f"{fen_to_yuan(due)} yuan is due; the payment is refused and returned",
                       paid_fen=paid_fen, due_fen=due)
    allocations = [Allocation(charge, charge.account, fen) for charge, fen in assessment.items() if fen > 0]
    assert sum(a.fen for a in allocations) == paid_fen  # holds by construction; the ledger depends on it
    return allocations


# --- The fan-out ------------------------------------------------------------------------------------------------

REVIEW = "transfer_review"  # nr: 审核
CONTRACT_FILING = "contract_filing"  # housing: 网签备案
TAX_ASSESSMENT = "tax_assessment"  # tax: 核税
PAYMENT = "payment"  # bank: the one payment (the payment channel)
MORTGAGE_AND_PAYMENT = "mortgage_and_payment"  # bank: the payment, the lenders' consent, repayment and loan

# What must be approved before entry (登簿). The law names the tax paid (契税法 art. 11) and the review
# approved; the contract filing and the lenders are here too, because after entry a right is changed only by
# a correction or cancellation registration, so nothing that can still fail may be left behind it.
ENTRY_REQUIRES = (Department.nr, Department.housing, Department.tax, Department.bank)


def catalogue_item(form: TransferCreate) -> str:
    """The transfer's service item in the catalogue: with a mortgage part, 带押过户."""
    return MORTGAGED_TRANSFER_ITEM if form.mortgage is not None else TRANSFER_ITEM


def plan_for(form: TransferCreate, guide: Entry) -> Plan:
    """The fan-out of a transfer, once the buyer has confirmed it (一窗受理、并行办理), each department within its
    step's working days in ``guide`` (the item's catalogue entry in force), the whole within the longest chain of
    them (the review alone, or assessment then payment) and the item's time limit.

    ``nr`` (审核), ``housing`` (网签备案) and ``tax`` (核税) are requested together, none waiting for another.
    ``bank`` follows the tax assessment: it is the payment channel that collects the one payment of every
    tax and fee (the amount is known only once tax is assessed).

    The lenders of 带押过户 have no department codes of their own, and the task table holds one task per
    department per application, so they are not separate steps: with a mortgage part the ``bank`` step is of
    kind ``mortgage_and_payment`` and carries, besides the payment, the seller's lender's consent and payoff
    (or the art. 406 notice) and the buyer's lender's loan (``bank_parts``). Its approval means every one of
    them is in place; one lender's refusal rejects the step, and the flow is undone (``undo_before_entry``).
    """
    bank_kind = MORTGAGE_AND_PAYMENT if form.mortgage is not None else PAYMENT
    steps = (
        Step(Department.nr, REVIEW),
        Step(Department.housing, CONTRACT_FILING),
        Step(Department.tax, TAX_ASSESSMENT),
        Step(Department.bank, bank_kind, (Department.tax,)),
    )
    return timed_plan(steps, guide)


class BankRole(StrEnum):
    """Who acts in the ``bank`` step, and for what."""

    payment = "payment"  # the payment channel: the one payment, split (清分)
    seller_lender = "seller_lender"  # 原抵押权人
    buyer_lender = "buyer_lender"  # 新贷款银行


class BankAction(StrEnum):
    """What a party in the ``bank`` step does."""

    collect = "collect"  # take the one payment and split it
    consent_and_repay = "consent_and_repay"  # consent to the transfer, be repaid at entry, release the mortgage
    notify = "notify"  # the mortgage stays (民法典 art. 406); the mortgagee is told
    loan_and_mortgage = "loan_and_mortgage"  # lend to the buyer against the new mortgage, entered with the transfer


@dataclass(frozen=True)
class BankPart:
    """One party's part of the ``bank`` step (sent with its task)."""

    role: BankRole
    action: BankAction
    uscc: str | None = None
    name: str | None = None
    amount_fen: int | None = None  # the mortgage's secured amount, or the loan


def bank_parts(form: TransferCreate, existing: Sequence[Mortgage]) -> tuple[BankPart, ...]:
    """What the ``bank`` step asks of whom: always the payment; per mortgage on the title, its mortgagee's
    consent and payoff (``repay``) or notice (``keep``); the buyer's lender's loan when there is one."""
    parts = [BankPart(BankRole.payment, BankAction.collect)]
    choice = form.mortgage.existing if form.mortgage is not None else None
    if choice is not None:
        action = BankAction.consent_and_repay if choice == ExistingMortgage.repay else BankAction.notify
        parts += [BankPart(BankRole.seller_lender, action, m.mortgagee_uscc, m.mortgagee_name, m.amount_fen)
                  for m in existing]
    loan = form.mortgage.new_loan if form.mortgage is not None else None
    if loan is not None:
        parts.append(BankPart(BankRole.buyer_lender, BankAction.loan_and_mortgage, loan.lender_uscc,
                              loan.lender_name, yuan_to_fen(loan.amount_yuan)))
    return tuple(parts)


def may_enter(statuses: Mapping[str, TaskStatus]) -> bool:
    """Whether the transfer may be entered in the register (登簿) now: the tax is assessed and paid (the
    ``bank`` payment approved), the review approved, and the contract filing done (``ENTRY_REQUIRES``).
    The transfer, the old mortgage's release and the new mortgage are then entered together, in one step."""
    return all(statuses.get(d) == TaskStatus.approved for d in ENTRY_REQUIRES)


def status_of(statuses: Mapping[str, TaskStatus]) -> str:
    """The transfer's state while the departments work (after the buyer confirmed, before entry): a rejection
    ends it, a return pauses it, an assessed but unpaid tax waits for the payment."""
    values = set(statuses.values())
    if TaskStatus.rejected in values:
        return Status.rejected
    if TaskStatus.returned in values:
        return Status.returned
    if statuses.get(Department.tax) == TaskStatus.approved and statuses.get(Department.bank) != TaskStatus.approved:
        return Status.awaiting_payment
    return Status.in_progress


# What undoes an approved step when the transfer ends before entry.
UNDO: dict[Department, str] = {
    Department.nr: "void_review",  # the approval lapses; nothing was entered
    Department.housing: "cancel_contract_filing",  # 撤销网签备案
    Department.tax: "void_assessment",  # 作废核税 (nothing was paid without the bank step)
    Department.bank: "refund_and_withdraw",  # the payment returned; consents withdrawn, no loan paid out
}


def undo_before_entry(statuses: Mapping[str, TaskStatus]) -> tuple[tuple[Department, str], ...]:
    """What to undo when a transfer is rejected or cancelled before entry: every approved step's ``UNDO``,
    and the withdrawal of every request still open. After entry nothing is undone here: a right is changed
    only by a correction or cancellation registration."""
    undo: list[tuple[Department, str]] = []
    for department in ENTRY_REQUIRES:
        status = statuses.get(department)
        if status == TaskStatus.approved:
            undo.append((department, UNDO[department]))
        elif status in (TaskStatus.requested, TaskStatus.returned):
            undo.append((department, "withdraw_request"))
    return tuple(undo)
