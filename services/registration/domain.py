"""The rules of 企业开办: what a valid application is, which departments it fans out to, and what the
results are. Pure: no database, no bus."""

from __future__ import annotations

import secrets
import unicodedata
from decimal import Decimal, InvalidOperation

from services.registration.schemas import AddressIn, PersonIn, RegistrationCreate
from shared.departments import Department
from shared.divisions import COUNTY_CODES, ResolvedAddress, resolve_address
from shared.fanout import ApplicationStatus, Plan, Step
from shared.identifiers import is_valid_mobile, resident_id_problem
from shared.problems import FieldProblem

SERVICE = "registration"
NUMBER_PREFIX = "QYKB"  # 企业开办
WHOLE_TIME_LIMIT_WORKING_DAYS = 1  # 11110: done within one working day

# Entity type → (Chinese name, USCC category digit under authority 9, whether it has registered capital).
ENTITY_TYPES: dict[str, tuple[str, str, bool]] = {
    "limited_company": ("有限责任公司", "1", True),
    "joint_stock_company": ("股份有限公司", "1", True),
    "sole_proprietorship": ("个人独资企业", "1", False),
    "partnership": ("合伙企业", "1", False),
    "individual_business": ("个体工商户", "2", False),
    "farmers_cooperative": ("农民专业合作社", "3", False),
}
INVOICE_TYPES = {"vat_general": "增值税普通发票", "vat_special": "增值税专用发票", "vat_electronic": "数电发票"}
MAX_INVOICE_QUANTITY = 1000


class Status(ApplicationStatus):
    FINAL = frozenset({"rejected", "completed"})


def normalise_name(name: str) -> str:
    """The form of an enterprise name that uniqueness is decided on (full/half width and spaces ignored)."""
    return "".join(unicodedata.normalize("NFKC", name).split())


def _problem(loc: list[str | int], code: str, zh: str, en: str) -> FieldProblem:
    return FieldProblem(loc=loc, code=code, message_zh=zh, message_en=en)


def _check_person(person: PersonIn, loc: list[str | int], problems: list[FieldProblem], *,
                  mobile_required: bool) -> None:
    if not person.name:
        problems.append(_problem([*loc, "name"], "required", "姓名不能为空", "name is required"))
    _check_id(person.id_number, [*loc, "id_number"], problems)
    if person.mobile is None:
        if mobile_required:
            problems.append(_problem([*loc, "mobile"], "required", "手机号码不能为空", "mobile number is required"))
    elif not is_valid_mobile(person.mobile):
        problems.append(_problem([*loc, "mobile"], "mobile_invalid", "手机号码格式不正确",
                                 "not a valid mainland mobile number (11 digits starting 13-19)"))


_ID_MESSAGES = {
    "format": ("身份证号码应为17位数字加1位校验码", "a resident ID is 17 digits and a check character"),
    "birth_date": ("身份证号码中的出生日期无效", "the birth date in the resident ID is not a real date"),
    "check_digit": ("身份证号码校验位不正确", "the resident ID check character is wrong"),
}


def _check_id(id_number: str, loc: list[str | int], problems: list[FieldProblem]) -> None:
    code = resident_id_problem(id_number)
    if code:
        zh, en = _ID_MESSAGES.get(code, ("身份证号码无效", "invalid resident ID"))
        problems.append(_problem(loc, f"resident_id_{code}", zh, en))


def resolve(district_code: str, address: AddressIn, loc: list[str | int],
            problems: list[FieldProblem]) -> ResolvedAddress | None:
    """Resolve one address against the standard address data, adding its problems."""
    resolved, address_problems = resolve_address(
        district_code, address.town_code, address.road, address.number,
        building=address.building, room=address.room, text=address.text,
    )
    for p in address_problems:
        # The district is reported once, on the enterprise, not once per address.
        if p.field == "district_code":
            continue
        problems.append(_problem([*loc, p.field], p.code, p.message_zh, p.message_en))
    return resolved


def parse_decimal(value: str | None) -> Decimal | None:
    """A finite Decimal from text, or None."""
    if value is None:
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def validate(form: RegistrationCreate) -> list[FieldProblem]:
    """Every problem with an application, all at once (一次告知). Empty means valid."""
    problems: list[FieldProblem] = []
    ent = form.enterprise
    loc_e: list[str | int] = ["enterprise"]

    name = normalise_name(ent.name)
    if not 4 <= len(name) <= 60:
        problems.append(_problem([*loc_e, "name"], "name_length", "企业名称应为4至60个字",
                                 "the enterprise name must have 4 to 60 characters"))
    entity = ENTITY_TYPES.get(ent.entity_type)
    if entity is None:
        problems.append(_problem([*loc_e, "entity_type"], "entity_type_unknown", "企业类型不正确",
                                 f"entity_type must be one of {sorted(ENTITY_TYPES)}"))
    if ent.district_code not in COUNTY_CODES:
        problems.append(_problem([*loc_e, "district_code"], "unknown_district", "所属区（市）不是江门市的辖区",
                                 f"district_code must be one of {sorted(COUNTY_CODES)}"))
    else:
        resolved = resolve(ent.district_code, ent.address, [*loc_e, "address"], problems)
        for i, extra in enumerate(ent.extra_addresses):  # 一照多址: every extra address must resolve too
            resolve(ent.district_code, extra, [*loc_e, "extra_addresses", i], problems)
        residential = ent.address.residential or any(a.residential for a in ent.extra_addresses)
        if resolved and residential and not (ent.residential_use and ent.residential_use.commitment):
            problems.append(_problem([*loc_e, "residential_use"], "residential_declaration_required",
                                     "住宅用作经营场所须提交住改商承诺",
                                     "a residential address used for business needs the 住改商 declaration"))

    capital = parse_decimal(ent.registered_capital)
    needs_capital = entity[2] if entity else True
    if ent.registered_capital is None:
        if needs_capital:
            problems.append(_problem([*loc_e, "registered_capital"], "required", "注册资本不能为空",
                                     "registered capital is required"))
    elif capital is None or capital <= 0:
        problems.append(_problem([*loc_e, "registered_capital"], "capital_invalid", "注册资本应为大于0的金额",
                                 "registered capital must be a decimal amount greater than 0"))
    elif capital.as_tuple().exponent < -2:  # type: ignore[operator]
        problems.append(_problem([*loc_e, "registered_capital"], "capital_precision", "注册资本最多保留两位小数",
                                 "registered capital has at most 2 decimal places"))

    scope = [s for s in ent.business_scope if s.strip()]
    if not scope or len(scope) != len(ent.business_scope):
        problems.append(_problem([*loc_e, "business_scope"], "business_scope_empty", "经营范围不能为空",
                                 "business scope needs at least one non-empty item"))

    _check_person(form.legal_representative, ["legal_representative"], problems, mobile_required=True)
    if form.contact is not None:
        _check_person(form.contact, ["contact"], problems, mobile_required=True)

    if not form.investors:
        problems.append(_problem(["investors"], "investors_required", "至少需要一名投资人",
                                 "at least one investor is required"))
    total = Decimal(0)
    shares_valid = True
    for i, investor in enumerate(form.investors):
        loc_i: list[str | int] = ["investors", i]
        if not investor.name:
            problems.append(_problem([*loc_i, "name"], "required", "投资人姓名不能为空", "investor name is required"))
        _check_id(investor.id_number, [*loc_i, "id_number"], problems)
        share = parse_decimal(investor.share_percent)
        if share is None or share <= 0 or share > 100:
            shares_valid = False
            problems.append(_problem([*loc_i, "share_percent"], "share_invalid", "出资比例应为大于0且不超过100的数字",
                                     "share_percent must be a number greater than 0 and at most 100"))
        else:
            total += share
    if form.investors and shares_valid and total != 100:
        problems.append(_problem(["investors"], "shares_not_100", f"投资人出资比例合计应为100%，现为{total}%",
                                 f"investor shares must sum to exactly 100, they sum to {total}"))

    pkg = form.package
    if pkg.invoices is not None:
        unknown = [t for t in pkg.invoices.types if t not in INVOICE_TYPES]
        if not pkg.invoices.types or unknown:
            problems.append(_problem(["package", "invoices", "types"], "invoice_type_unknown", "发票种类不正确",
                                     f"invoice types must be chosen from {sorted(INVOICE_TYPES)}"))
        if not 1 <= pkg.invoices.quantity <= MAX_INVOICE_QUANTITY:
            problems.append(_problem(["package", "invoices", "quantity"], "invoice_quantity", "发票领用数量不正确",
                                     f"invoice quantity must be 1 to {MAX_INVOICE_QUANTITY}"))
        if not pkg.tax:
            problems.append(_problem(["package", "tax"], "invoices_need_tax", "申领发票须同时办理涉税事项",
                                     "invoices need the tax step"))
    return problems


def plan_for(form: RegistrationCreate) -> Plan:
    """samr first; then only the package services chosen, in parallel; the whole within one working day."""
    pkg = form.package
    after_samr = (Department.samr,)
    chosen: list[tuple[bool, Department, str]] = [
        (pkg.seal, Department.psb, "seal_filing"),
        (pkg.tax or pkg.invoices is not None, Department.tax, "tax_confirmation"),
        (pkg.social_insurance, Department.hrss, "social_insurance_registration"),
        (pkg.social_insurance, Department.medicare, "medical_insurance_registration"),
        (pkg.housing_fund, Department.hpf, "housing_fund_account"),
        (pkg.bank_account, Department.bank, "bank_account_appointment"),
    ]
    steps = [Step(Department.samr, "business_licence", (), WHOLE_TIME_LIMIT_WORKING_DAYS)]
    steps += [Step(dept, kind, after_samr, WHOLE_TIME_LIMIT_WORKING_DAYS) for wanted, dept, kind in chosen if wanted]
    return Plan(tuple(steps), WHOLE_TIME_LIMIT_WORKING_DAYS)


def uscc_category(entity_type: str) -> str:
    """The USCC category digit (authority 9): 1 enterprise, 2 individual business, 3 cooperative."""
    return ENTITY_TYPES[entity_type][1]


def new_verification_code() -> str:
    """An unguessable licence verification code (what the QR code on the e-licence carries)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(16))

