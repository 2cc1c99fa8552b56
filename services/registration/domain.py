"""The rules of 企业开办: what a valid application is, which departments it fans out to, and what the
results are. Pure: no database, no bus."""

from __future__ import annotations

import secrets
import unicodedata
from decimal import Decimal

from services.registration.forms import AddressIn, PersonIn, RegistrationCreate
from shared.departments import Department
from shared.divisions import COUNTY_CODES, ResolvedAddress, resolve_address
from shared.fanout import ApplicationStatus, Plan, Step
from shared.refusals import FieldProblem, Invalid
from shared.validation import Checks, Loc, has_refused_characters

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


MAX_CAPITAL_YUAN = Decimal("1000000000000")  # a trillion yuan: within what a 64-bit fen column holds
MAX_INVESTORS = 50
MAX_SCOPE_ITEMS = 50
MAX_SCOPE_ITEM_LENGTH = 200
PERSON_NAME_LENGTH = 50


def _check_person(checks: Checks, person: PersonIn, loc: Loc, *, mobile_required: bool) -> None:
    checks.text(person.name, [*loc, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
    checks.resident_id(person.id_number, [*loc, "id_number"])
    checks.mobile(person.mobile, [*loc, "mobile"], required=mobile_required)


def resolve(checks: Checks, district_code: str, address: AddressIn, loc: Loc) -> ResolvedAddress | None:
    """Resolve one address against the standard address data, adding its problems."""
    resolved, address_problems = resolve_address(
        district_code, address.town_code, address.road, address.number,
        building=address.building, room=address.room, text=address.text,
    )
    for p in address_problems:
        # The district is reported once, on the enterprise, not once per address.
        if p.field == "district_code":
            continue
        checks.problems.append(FieldProblem(loc=[*loc, p.field], code=p.code, message_zh=p.message_zh,
                                            message_en=p.message_en))
    return resolved


def name_taken(name: str) -> Invalid:
    """The refusal of a name registered or reserved by an application in flight."""
    checks = Checks()
    checks.add(["enterprise", "name"], "name_taken", name=name)
    return Invalid(checks.problems)


def name_change_refused() -> Invalid:
    """A supplement may not change the name (it was checked and reserved with the application)."""
    checks = Checks()
    checks.add(["enterprise", "name"], "name_change_not_allowed")
    return Invalid(checks.problems)


def validate(form: RegistrationCreate) -> list[FieldProblem]:
    """Every problem with an application, all at once (一次告知). Empty means valid."""
    checks = Checks()
    ent = form.enterprise
    loc_e: Loc = ["enterprise"]

    name = normalise_name(ent.name)
    if not 4 <= len(name) <= 60:
        checks.add([*loc_e, "name"], "name_length")
    elif has_refused_characters(ent.name):
        checks.add([*loc_e, "name"], "text_invalid_characters", what_zh="企业名称", what_en="the enterprise name")
    entity = ENTITY_TYPES.get(ent.entity_type)
    if entity is None:
        checks.add([*loc_e, "entity_type"], "entity_type_unknown", choices=sorted(ENTITY_TYPES))
    if ent.district_code not in COUNTY_CODES:
        checks.add([*loc_e, "district_code"], "unknown_district", choices=sorted(COUNTY_CODES))
    else:
        resolved = resolve(checks, ent.district_code, ent.address, [*loc_e, "address"])
        for i, extra in enumerate(ent.extra_addresses):  # 一照多址: every extra address must resolve too
            resolve(checks, ent.district_code, extra, [*loc_e, "extra_addresses", i])
        residential = ent.address.residential or any(a.residential for a in ent.extra_addresses)
        if resolved and residential and not (ent.residential_use and ent.residential_use.commitment):
            checks.add([*loc_e, "residential_use"], "residential_declaration_required")

    needs_capital = entity[2] if entity else True
    if ent.registered_capital is None:
        if needs_capital:
            checks.add([*loc_e, "registered_capital"], "required", what_zh="注册资本", what_en="registered capital")
    else:
        checks.decimal(ent.registered_capital, [*loc_e, "registered_capital"], invalid="capital_invalid",
                       precision="capital_precision", places=2, maximum=MAX_CAPITAL_YUAN)

    scope = [s for s in ent.business_scope if s.strip()]
    if not scope or len(scope) != len(ent.business_scope):
        checks.add([*loc_e, "business_scope"], "business_scope_empty")
    elif checks.count(ent.business_scope, [*loc_e, "business_scope"], what=("经营范围", "business scope items"),
                      maximum=MAX_SCOPE_ITEMS):
        for i, item in enumerate(ent.business_scope):
            checks.text(item, [*loc_e, "business_scope", i], what=("经营范围", "a business scope item"),
                        max_length=MAX_SCOPE_ITEM_LENGTH)

    _check_person(checks, form.legal_representative, ["legal_representative"], mobile_required=True)
    if form.contact is not None:
        _check_person(checks, form.contact, ["contact"], mobile_required=True)

    if not form.investors:
        checks.add(["investors"], "investors_required")
    checks.count(form.investors, ["investors"], what=("投资人", "investors"), maximum=MAX_INVESTORS)
    total = Decimal(0)
    shares_valid = True
    for i, investor in enumerate(form.investors):
        loc_i: Loc = ["investors", i]
        checks.text(investor.name, [*loc_i, "name"], what=("投资人姓名", "investor name"),
                    max_length=PERSON_NAME_LENGTH)
        checks.resident_id(investor.id_number, [*loc_i, "id_number"])
        share = checks.decimal(investor.share_percent, [*loc_i, "share_percent"], invalid="share_invalid",
                               places=4, maximum=Decimal(100))
        if share is None:
            shares_valid = False
        else:
            total += share
    if form.investors and shares_valid and total != 100:
        checks.add(["investors"], "shares_not_100", total=total)

    pkg = form.package
    if pkg.invoices is not None:
        unknown = [t for t in pkg.invoices.types if t not in INVOICE_TYPES]
        if not pkg.invoices.types or unknown:
            checks.add(["package", "invoices", "types"], "invoice_type_unknown", choices=sorted(INVOICE_TYPES))
        if not 1 <= pkg.invoices.quantity <= MAX_INVOICE_QUANTITY:
            checks.add(["package", "invoices", "quantity"], "invoice_quantity", max=MAX_INVOICE_QUANTITY)
        if not pkg.tax:
            checks.add(["package", "tax"], "invoices_need_tax")
    if pkg.bank_name is not None:
        checks.text(pkg.bank_name, ["package", "bank_name"], what=("开户银行", "the bank name"), max_length=100)
    return checks.problems


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

