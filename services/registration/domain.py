"""The rules of the registration service: what a valid 企业开办 application is (the company-law checks of each
entity type included), which departments it fans out to, what samr's USCC must be; and what a valid change
(变更登记) or intra-province move (省内迁移) of a registered enterprise is. Pure: no database, no bus."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from services.registration.forms import (
    AddressIn,
    BeneficialOwnerIn,
    ChangeCreate,
    InvestorIn,
    InvoicesIn,
    OfficerIn,
    PersonIn,
    RegistrationCreate,
    ResidentialUseDeclaration,
)
from services.registration.names import display_form, name_key
from shared.catalogue import Entry, timed_plan
from shared.departments import Department
from shared.divisions import COUNTY_CODES, JIANGMEN_CODE, ResolvedAddress, resolve_address
from shared.fanout import ApplicationStatus, Plan, Step
from shared.identifiers import (
    DOCUMENT_TYPES,
    document_number_problem,
    is_valid_uscc,
    normalise_document_number,
    normalise_uscc,
    uscc_lookalike_fix,
)
from shared.materials import FormMaterials
from shared.refusals import FieldProblem, Invalid
from shared.validation import Checks, Loc, has_refused_characters
from shared.workdays import local_today

SERVICE = "registration"
NUMBER_PREFIX = "QYKB"  # 企业开办
CHANGE_NUMBER_PREFIX = "QYBG"  # 企业变更 (a move too: one application, one completion)
# The catalogue's service item (办事指南) of each kind of application: its steps' working days and its committed
# time limit (11110: an opening within one working day) are the catalogue's, not the code's.
CATALOGUE_ITEMS = {"opening": "enterprise_opening", "change": "enterprise_change", "move": "enterprise_move"}

# Entity type → (Chinese name, USCC category digit under authority 9, whether it has registered capital).
ENTITY_TYPES: dict[str, tuple[str, str, bool]] = {
    "limited_company": ("有限责任公司", "1", True),
    "joint_stock_company": ("股份有限公司", "1", True),
    "sole_proprietorship": ("个人独资企业", "1", False),
    "partnership": ("合伙企业", "1", False),
    "individual_business": ("个体工商户", "2", False),
    "farmers_cooperative": ("农民专业合作社", "3", False),
}
ENTITY_TYPES_EN = {
    "limited_company": "limited liability company", "joint_stock_company": "joint-stock company",
    "sole_proprietorship": "sole proprietorship", "partnership": "partnership",
    "individual_business": "individual business", "farmers_cooperative": "farmers' cooperative",
}
COMPANY_TYPES = frozenset({"limited_company", "joint_stock_company"})
# 公司法 art. 7: a company's name says which kind of company it is.
COMPANY_NAME_FORMS = {"limited_company": ("有限责任公司", "有限公司"),
                      "joint_stock_company": ("股份有限公司", "股份公司")}
# 合伙企业法 art. 15, 56, 62: a partnership's name says its form. The special form first: its name contains the
# general one's.
PARTNERSHIP_FORMS = {"special_general": "特殊普通合伙", "general": "普通合伙", "limited": "有限合伙"}
SOLE_PROPRIETORSHIP_FORBIDDEN_WORDS = ("有限", "公司")  # 个人独资企业法 art. 11

INVOICE_TYPES = {"vat_general": "增值税普通发票", "vat_special": "增值税专用发票", "vat_electronic": "数电发票"}
PAPER_INVOICE_TYPES = frozenset({"vat_general", "vat_special"})
E_INVOICE = "vat_electronic"  # 数电发票: granted as an amount limit (额度), not copies
MAX_INVOICE_QUANTITY = 1000
MAX_INVOICE_AMOUNT_LIMIT = Decimal("100000000")  # a sanity bound on what is asked; tax decides the grant

CONTRIBUTION_FORMS = {"monetary": "货币", "in_kind": "实物", "intellectual_property": "知识产权",
                      "land_use_right": "土地使用权", "equity": "股权", "debt_claim": "债权"}  # 公司法 art. 48
PARTNER_CONTRIBUTION_FORMS = {**CONTRIBUTION_FORMS, "labour": "劳务"}  # 合伙企业法 art. 16: a general partner's
SUBSCRIPTION_YEARS = 5  # 公司法 art. 47: a limited company's subscribed capital is paid within five years

OFFICER_ROLES = {"director": "董事", "executive_director": "执行董事", "supervisor": "监事", "manager": "经理"}
MANAGING_ROLES = frozenset({"director", "executive_director", "manager"})  # who may be legal representative

# 受益所有人信息管理办法 (PBOC and SAMR, in force 2024-11-01): companies and partnerships file their beneficial
# owners; one whose registered capital is at most ¥10 million, with only natural persons as investors and no
# other beneficial owner, may instead commit that it is exempt.
BENEFICIAL_OWNERS_FROM = date(2024, 11, 1)
BENEFICIAL_OWNER_EXEMPT_CAPITAL = Decimal("10000000")
BENEFICIAL_OWNER_BASES = {"ownership": "拥有25%以上股权、股份或合伙权益", "benefit": "享有25%以上收益权、表决权",
                          "control": "实际控制", "senior_manager": "负责日常经营管理"}
NATIONALITY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class InvestorRule:
    """How many investors an entity type has, and how the rule is said."""

    minimum: int
    maximum: int
    zh: str
    en: str


INVESTOR_RULES: dict[str, InvestorRule] = {
    "limited_company": InvestorRule(1, 50, "1至50名", "1 to 50"),  # 公司法 art. 42
    "joint_stock_company": InvestorRule(1, 200, "1至200名发起人", "1 to 200"),  # 公司法 art. 92
    "sole_proprietorship": InvestorRule(1, 1, "1名自然人", "exactly one natural-person"),  # 个人独资企业法 art. 2
    "partnership": InvestorRule(2, 200, "2名以上合伙人", "at least 2"),  # 合伙企业法 art. 14
    "farmers_cooperative": InvestorRule(5, 200, "5名以上成员", "at least 5"),  # 农民专业合作社法 art. 19
}
LIMITED_PARTNERSHIP_RULE = InvestorRule(2, 50, "2至50名合伙人", "2 to 50")  # 合伙企业法 art. 61
NATURAL_PERSON_INVESTORS_ONLY = frozenset({"sole_proprietorship"})

CHANGE_KINDS = {"change": ("变更登记", "change"), "move": ("省内迁移", "intra-province move")}
CHANGEABLE_FIELDS = ("name", "address", "registered_capital", "business_scope", "officers")
# What the tax office registers too (a change of officers alone is filed with samr only).
TAX_RELEVANT_FIELDS = frozenset({"name", "address", "registered_capital", "business_scope", "district_code"})
MOVE_PROVINCE = "广东"  # 省内迁移: within Guangdong
MOVE_CITY = "江门"  # ...to a place the standard address data covers


class Status(ApplicationStatus):
    FINAL = frozenset({"rejected", "completed"})


def normalise_name(name: str) -> str:
    """The form of an enterprise name that uniqueness is decided on (``names.name_key``: width, spaces,
    invisible characters and look-alike letters ignored)."""
    return name_key(name)


def years_after(day: date, years: int) -> date:
    """The same day ``years`` later (29 February becomes the 28th in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


MAX_CAPITAL_YUAN = Decimal("1000000000000")  # a trillion yuan: within what a 64-bit fen column holds
MAX_SCOPE_ITEMS = 50
MAX_SCOPE_ITEM_LENGTH = 200
PERSON_NAME_LENGTH = 50

Identity = tuple[str, str]  # (document type or "uscc", normalised number): who a person or enterprise is


# --- Parts every form shares --------------------------------------------------------------------------------


def _check_person(checks: Checks, person: PersonIn, loc: Loc, *, mobile_required: bool) -> Identity | None:
    checks.text(person.name, [*loc, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
    valid = checks.resident_id(person.id_number, [*loc, "id_number"])
    checks.mobile(person.mobile, [*loc, "mobile"], required=mobile_required)
    return ("resident_id", normalise_document_number(person.id_number)) if valid else None


def check_uscc(checks: Checks, value: str, loc: Loc) -> str | None:
    """A USCC read from a request or a department's answer: normalised, then checked (GB 32100). When it is
    invalid but reading its O as 0 and its I as 1 makes it valid, the problem says so (``uscc_lookalike``).
    Returns the normalised code, or None when it added a problem."""
    code = normalise_uscc(value)
    if is_valid_uscc(code):
        return code
    suggestion = uscc_lookalike_fix(code)
    if suggestion:
        checks.add(loc, "uscc_lookalike", suggestion=suggestion)
    else:
        checks.add(loc, "uscc_invalid")
    return None


def _check_document(checks: Checks, document_type: str, number: str | None, loc: Loc, today: date, *,
                    number_field: str = "document_number", nationality: str | None = None,
                    needs_nationality: bool = False) -> Identity | None:
    """A person's identity document (resident ID, HK/Macao or Taiwan travel permit, passport)."""
    if number is None or not number.strip():
        checks.add([*loc, number_field], "required", what_zh="证件号码", what_en="the document number")
        return None
    problem = document_number_problem(document_type, number, today)
    if problem == "document_type_unknown":
        checks.add([*loc, "document_type"], problem, choices=sorted(DOCUMENT_TYPES))
        return None
    if problem:
        checks.add([*loc, number_field], problem)
    if needs_nationality and document_type == "passport":
        if nationality is None:
            checks.add([*loc, "nationality"], "required", what_zh="国籍", what_en="nationality")
        elif not NATIONALITY.fullmatch(nationality):
            checks.add([*loc, "nationality"], "nationality_invalid")
    return None if problem else (document_type, normalise_document_number(number))


def check_name(checks: Checks, name: str, loc: Loc, entity_type: str | None, *,
               partnership_form: str | None = None) -> None:
    """An enterprise name: 4 to 60 characters, nothing invisible, and the words its entity type requires (a
    company's form, a partnership's form) or forbids (有限, 公司 in a sole proprietorship's)."""
    shown = display_form(name)
    if not 4 <= len(shown) <= 60:
        checks.add(loc, "name_length")
        return
    if has_refused_characters(name):
        checks.add(loc, "text_invalid_characters", what_zh="企业名称", what_en="the enterprise name")
        return
    if entity_type is None:
        return
    type_zh, type_en = ENTITY_TYPES[entity_type][0], ENTITY_TYPES_EN[entity_type]
    if entity_type == "sole_proprietorship":
        words = [w for w in SOLE_PROPRIETORSHIP_FORBIDDEN_WORDS if w in shown]
        if words:
            checks.add(loc, "name_words_not_allowed", type_zh=type_zh, type_en=type_en, words="、".join(words))
    elif entity_type in COMPANY_NAME_FORMS:
        forms = COMPANY_NAME_FORMS[entity_type]
        if not any(form in shown for form in forms):
            checks.add(loc, "name_lacks_form", type_zh=type_zh, type_en=type_en, form_zh="或".join(forms))
    elif entity_type == "partnership" and partnership_form in PARTNERSHIP_FORMS:
        form_zh = PARTNERSHIP_FORMS[partnership_form]
        if form_zh not in shown:
            checks.add(loc, "name_lacks_form", type_zh=type_zh, type_en=type_en, form_zh=form_zh)


def partnership_form_of(name: str) -> str | None:
    """The partnership form a registered name states, if any."""
    shown = display_form(name)
    return next((form for form, zh in PARTNERSHIP_FORMS.items() if zh in shown), None)


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


def resolved_text(district_code: str, address: AddressIn) -> str | None:
    """The standard address's one-line text, or None when it does not resolve."""
    resolved, _ = resolve_address(district_code, address.town_code, address.road, address.number,
                                  building=address.building, room=address.room, text=address.text)
    return resolved.full_text if resolved else None


def _check_residential(checks: Checks, residential: bool, declaration: ResidentialUseDeclaration | None,
                       loc: Loc) -> None:
    """住改商: the applicant's declaration, and the consent of the owners it affects (民法典 art. 279)."""
    if not residential:
        return
    if not (declaration and declaration.commitment):
        checks.add(loc, "residential_declaration_required")
    if not (declaration and declaration.neighbours_consent):
        checks.add([*loc, "neighbours_consent"], "residential_consent_required")


def _check_scope(checks: Checks, scope: Sequence[str], loc: Loc) -> None:
    items = [s for s in scope if s.strip()]
    if not items or len(items) != len(scope):
        checks.add(loc, "business_scope_empty")
    elif checks.count(scope, loc, what=("经营范围", "business scope items"), maximum=MAX_SCOPE_ITEMS):
        for i, item in enumerate(scope):
            checks.text(item, [*loc, i], what=("经营范围", "a business scope item"), max_length=MAX_SCOPE_ITEM_LENGTH)


def check_officers(checks: Checks, officers: Sequence[OfficerIn], loc: Loc, entity_type: str | None,
                   legal_representative: Identity | None, legal_loc: Loc, today: date) -> None:
    """Directors, supervisors and the manager (董事、监事、经理备案). A company has a director (a board, or one
    executive director); a director or manager is no supervisor (公司法 art. 76, 130); the legal representative
    is one of the directors or the manager (art. 10)."""
    by_role: dict[str, set[Identity]] = {role: set() for role in OFFICER_ROLES}
    identities: list[Identity | None] = []
    complete = True
    for i, officer in enumerate(officers):
        at: Loc = [*loc, i]
        checks.text(officer.name, [*at, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
        identity = _check_document(checks, officer.document_type, officer.id_number, at, today,
                                   number_field="id_number")
        identities.append(identity)
        if officer.role not in OFFICER_ROLES:
            checks.add([*at, "role"], "officer_role_unknown", choices=sorted(OFFICER_ROLES))
            complete = False
        elif identity is None:
            complete = False
        elif identity in by_role[officer.role]:
            checks.add([*at, "id_number"], "officer_duplicate")
        else:
            by_role[officer.role].add(identity)
    managing = by_role["director"] | by_role["executive_director"] | by_role["manager"]
    for i, (officer, identity) in enumerate(zip(officers, identities, strict=True)):
        if officer.role == "supervisor" and identity in managing:
            checks.add([*loc, i, "role"], "supervisor_conflict")
    if entity_type not in COMPANY_TYPES or not complete:
        return
    if not by_role["director"] and not by_role["executive_director"]:
        checks.add(loc, "directors_required")
    elif len(by_role["executive_director"]) > 1 or (by_role["executive_director"] and by_role["director"]):
        checks.add(loc, "executive_director_alone")
    if legal_representative is not None and legal_representative not in managing:
        checks.add(legal_loc, "legal_representative_not_officer")


# --- 企业开办 ----------------------------------------------------------------------------------------------------


def name_taken(name: str, loc: Loc | None = None) -> Invalid:
    """The refusal of a name registered or reserved by an application in flight."""
    checks = Checks()
    checks.add(loc or ["enterprise", "name"], "name_taken", name=name)
    return Invalid(checks.problems)


def name_change_refused(loc: Loc | None = None) -> Invalid:
    """A supplement may not change the name (it was checked and reserved with the application)."""
    checks = Checks()
    checks.add(loc or ["enterprise", "name"], "name_change_not_allowed")
    return Invalid(checks.problems)


def validate(form: RegistrationCreate, *, today: date | None = None) -> list[FieldProblem]:
    """Every problem with an application, all at once (一次告知). Empty means valid. ``today`` is Jiangmen's
    date (the subscription deadline and beneficial-owner rules depend on it)."""
    today = today or local_today()
    checks = Checks()
    ent = form.enterprise
    loc_e: Loc = ["enterprise"]

    entity_type = ent.entity_type if ent.entity_type in ENTITY_TYPES else None
    if entity_type is None:
        checks.add([*loc_e, "entity_type"], "entity_type_unknown", choices=sorted(ENTITY_TYPES))
    partnership_form = ent.partnership_form
    if entity_type == "partnership":
        if partnership_form is None:
            checks.add([*loc_e, "partnership_form"], "required", what_zh="合伙企业类型", what_en="partnership_form")
        elif partnership_form not in PARTNERSHIP_FORMS:
            checks.add([*loc_e, "partnership_form"], "partnership_form_unknown", choices=sorted(PARTNERSHIP_FORMS))
    check_name(checks, ent.name, [*loc_e, "name"], entity_type, partnership_form=partnership_form)

    if ent.district_code not in COUNTY_CODES:
        checks.add([*loc_e, "district_code"], "unknown_district", choices=sorted(COUNTY_CODES))
    else:
        resolved = resolve(checks, ent.district_code, ent.address, [*loc_e, "address"])
        for i, extra in enumerate(ent.extra_addresses):  # 一照多址: every extra address must resolve too
            resolve(checks, ent.district_code, extra, [*loc_e, "extra_addresses", i])
        residential = ent.address.residential or any(a.residential for a in ent.extra_addresses)
        if resolved:
            _check_residential(checks, residential, ent.residential_use, [*loc_e, "residential_use"])

    capital, capital_known = _check_capital(checks, form, entity_type)
    _check_scope(checks, ent.business_scope, [*loc_e, "business_scope"])

    legal = _check_person(checks, form.legal_representative, ["legal_representative"], mobile_required=True)
    if form.contact is not None:
        _check_person(checks, form.contact, ["contact"], mobile_required=True)
    if entity_type == "individual_business":
        if form.operator is None:
            checks.add(["operator"], "required", what_zh="经营者", what_en="the operator")
        else:
            _check_person(checks, form.operator, ["operator"], mobile_required=False)

    _check_investors(checks, form, entity_type, today)
    check_officers(checks, form.officers, ["officers"], entity_type, legal, ["legal_representative"], today)
    _check_beneficial_owners(checks, form, entity_type, capital, capital_known, today)
    _check_package(checks, form)
    return checks.problems


def _check_capital(checks: Checks, form: RegistrationCreate, entity_type: str | None) -> tuple[Decimal | None, bool]:
    """Registered and paid-in capital; returns the registered capital and whether it is known (absent or
    valid), for the rules that depend on it."""
    ent = form.enterprise
    loc_e: Loc = ["enterprise"]
    needs_capital = ENTITY_TYPES[entity_type][2] if entity_type else True
    registered: Decimal | None = None
    known = True
    if ent.registered_capital is None:
        if needs_capital:
            checks.add([*loc_e, "registered_capital"], "required", what_zh="注册资本", what_en="registered capital")
    else:
        registered = checks.decimal(ent.registered_capital, [*loc_e, "registered_capital"], invalid="capital_invalid",
                                    precision="capital_precision", places=2, maximum=MAX_CAPITAL_YUAN)
        known = registered is not None
    paid: Decimal | None = None
    if ent.paid_in_capital is not None:
        paid = checks.decimal(ent.paid_in_capital, [*loc_e, "paid_in_capital"], invalid="paid_in_invalid", places=2,
                              maximum=MAX_CAPITAL_YUAN)
    if entity_type == "joint_stock_company":
        # 公司法 art. 98: the promoters pay the whole registered capital before incorporation.
        if ent.paid_in_capital is None:
            checks.add([*loc_e, "paid_in_capital"], "required", what_zh="实收资本", what_en="paid-in capital")
        elif paid is not None and registered is not None and paid != registered:
            checks.add([*loc_e, "paid_in_capital"], "paid_in_must_equal_registered")
    elif paid is not None and registered is not None and paid > registered:
        checks.add([*loc_e, "paid_in_capital"], "paid_in_exceeds_registered")
    return registered, known


def investor_rule(entity_type: str | None, partnership_form: str | None) -> InvestorRule | None:
    """How many investors the entity type has (None: the type is unknown, or has none, as an individual
    business)."""
    if entity_type == "partnership" and partnership_form == "limited":
        return LIMITED_PARTNERSHIP_RULE
    return INVESTOR_RULES.get(entity_type or "")


def _investor_identity(checks: Checks, investor: InvestorIn, loc: Loc, today: date) -> Identity | None:
    """An investor is a person by an identity document, or an enterprise by its USCC; never both."""
    if investor.uscc is not None:
        if investor.document_type is not None or investor.document_number is not None:
            checks.add(loc, "investor_identity_ambiguous")
            return None
        code = check_uscc(checks, investor.uscc, [*loc, "uscc"])
        return ("uscc", code) if code else None
    if investor.document_number is None:
        checks.add([*loc, "document_number"], "investor_identity_required")
        return None
    return _check_document(checks, investor.document_type or "resident_id", investor.document_number, loc, today,
                           nationality=investor.nationality, needs_nationality=True)


def _check_investors(checks: Checks, form: RegistrationCreate, entity_type: str | None, today: date) -> None:
    investors = form.investors
    loc: Loc = ["investors"]
    type_zh, type_en = (ENTITY_TYPES[entity_type][0], ENTITY_TYPES_EN[entity_type]) if entity_type else ("", "")
    if entity_type == "individual_business":
        if investors:  # an operator instead of shares
            checks.add(loc, "investors_not_allowed")
        return
    rule = investor_rule(entity_type, form.enterprise.partnership_form)
    if not investors:
        checks.add(loc, "investors_required")
    elif rule is not None and not rule.minimum <= len(investors) <= rule.maximum:
        checks.add(loc, "investors_count", type_zh=type_zh, type_en=type_en, rule_zh=rule.zh, rule_en=rule.en,
                   count=len(investors))

    forms = PARTNER_CONTRIBUTION_FORMS if entity_type == "partnership" else CONTRIBUTION_FORMS
    seen: dict[Identity, int] = {}
    total = Decimal(0)
    shares_valid = True
    for i, investor in enumerate(investors):
        at: Loc = [*loc, i]
        checks.text(investor.name, [*at, "name"], what=("投资人姓名", "investor name"), max_length=PERSON_NAME_LENGTH)
        identity = _investor_identity(checks, investor, at, today)
        if identity is not None:
            field = "uscc" if identity[0] == "uscc" else "document_number"
            if identity[0] == "uscc" and entity_type in NATURAL_PERSON_INVESTORS_ONLY:
                checks.add([*at, "uscc"], "investor_natural_person_required", type_zh=type_zh, type_en=type_en)
            if identity in seen:  # two investors with one ID are one investor listed twice
                checks.add([*at, field], "investor_duplicate", first=seen[identity] + 1)
            else:
                seen[identity] = i
        share = checks.decimal(investor.share_percent, [*at, "share_percent"], invalid="share_invalid",
                               places=4, maximum=Decimal(100))
        if share is None:
            shares_valid = False
        else:
            total += share
        if investor.contribution_form is None:
            if entity_type in COMPANY_TYPES:
                checks.add([*at, "contribution_form"], "required", what_zh="出资方式", what_en="contribution form")
        elif investor.contribution_form not in forms:
            checks.add([*at, "contribution_form"], "contribution_form_unknown", choices=sorted(forms))
        _check_deadline(checks, investor, at, entity_type, today)
    if investors and shares_valid and total != 100:
        checks.add(loc, "shares_not_100", total=total)


def _check_deadline(checks: Checks, investor: InvestorIn, loc: Loc, entity_type: str | None, today: date) -> None:
    """认缴期限: a limited company's subscribed capital is paid within five years of incorporation (公司法
    art. 47). A date already passed is capital paid in by then."""
    if investor.subscription_deadline is None:
        if entity_type == "limited_company":
            checks.add([*loc, "subscription_deadline"], "required", what_zh="认缴期限",
                       what_en="subscription deadline")
        return
    day = checks.date(investor.subscription_deadline, [*loc, "subscription_deadline"])
    latest = years_after(today, SUBSCRIPTION_YEARS)
    if day is not None and entity_type == "limited_company" and day > latest:
        checks.add([*loc, "subscription_deadline"], "subscription_beyond_five_years", latest=latest)


def _check_beneficial_owners(checks: Checks, form: RegistrationCreate, entity_type: str | None,
                             capital: Decimal | None, capital_known: bool, today: date) -> None:
    owners: Sequence[BeneficialOwnerIn] = form.beneficial_owners
    for i, owner in enumerate(owners):
        at: Loc = ["beneficial_owners", i]
        checks.text(owner.name, [*at, "name"], what=("姓名", "name"), max_length=PERSON_NAME_LENGTH)
        _check_document(checks, owner.document_type, owner.document_number, at, today, nationality=owner.nationality,
                        needs_nationality=True)
        if owner.basis not in BENEFICIAL_OWNER_BASES:
            checks.add([*at, "basis"], "beneficial_owner_basis_unknown", choices=sorted(BENEFICIAL_OWNER_BASES))
    files = entity_type in COMPANY_TYPES or entity_type == "partnership"
    if owners or not files or today < BENEFICIAL_OWNERS_FROM or not capital_known:
        return
    natural_persons_only = all(investor.uscc is None for investor in form.investors)
    exempt = capital is not None and capital <= BENEFICIAL_OWNER_EXEMPT_CAPITAL and natural_persons_only
    if not exempt:
        checks.add(["beneficial_owners"], "beneficial_owners_required", threshold=BENEFICIAL_OWNER_EXEMPT_CAPITAL)


def _check_invoices(checks: Checks, invoices: InvoicesIn) -> None:
    loc: Loc = ["package", "invoices"]
    unknown = [t for t in invoices.types if t not in INVOICE_TYPES]
    if not invoices.types or unknown:
        checks.add([*loc, "types"], "invoice_type_unknown", choices=sorted(INVOICE_TYPES))
    paper = any(t in PAPER_INVOICE_TYPES for t in invoices.types)
    electronic = E_INVOICE in invoices.types
    if paper:
        if invoices.quantity is None or not 1 <= invoices.quantity <= MAX_INVOICE_QUANTITY:
            checks.add([*loc, "quantity"], "invoice_quantity", max=MAX_INVOICE_QUANTITY)
    elif electronic and invoices.quantity:
        checks.add([*loc, "quantity"], "invoice_quantity_not_for_electronic")
    if electronic:
        checks.decimal(invoices.amount_limit, [*loc, "amount_limit"], invalid="invoice_amount_limit", places=2,
                       maximum=MAX_INVOICE_AMOUNT_LIMIT)
    elif invoices.amount_limit is not None:
        checks.add([*loc, "amount_limit"], "invoice_amount_limit_only_electronic")


def tax_chosen(form: RegistrationCreate) -> bool:
    """Whether the tax step is part of the application (chosen, or needed by the invoices asked for)."""
    return form.package.tax or form.package.invoices is not None


def _check_package(checks: Checks, form: RegistrationCreate) -> None:
    pkg = form.package
    if pkg.invoices is not None:
        _check_invoices(checks, pkg.invoices)
        if not pkg.tax:
            checks.add(["package", "tax"], "invoices_need_tax")
    if tax_chosen(form):
        # 实名办税: the tax office registers the finance officer and the tax agent by their real names and IDs.
        for field, what_zh, what_en in (("finance_officer", "财务负责人", "the finance officer"),
                                        ("tax_agent", "办税人", "the tax agent")):
            person = getattr(form, field)
            if person is None:
                checks.add([field], "required", what_zh=what_zh, what_en=what_en)
            else:
                _check_person(checks, person, [field], mobile_required=True)
    if pkg.bank_name is not None:
        checks.text(pkg.bank_name, ["package", "bank_name"], what=("开户银行", "the bank name"), max_length=100)


# The catalogue item of an opening (办事指南), whose materials the form must meet.
OPENING_ITEM = "enterprise_opening"
# Materials the one form carries itself (在线填报 / 线上实名认证), when the catalogue lets the online form stand
# for them: the form is the application; companies and cooperatives adopt the standard articles and partners
# the standard agreement generated from it; officers, beneficial owners, the address declaration, the real
# names for tax and the bank appointment are fields of it; people are identified by real-name authentication.
# The seal design and the neighbours' consent are documents the form does not hold: they are uploaded.
FORM_CARRIES = frozenset({
    "application_form", "articles_of_association", "partnership_agreement", "identity_proofs",
    "officers_appointment", "beneficial_owner_information", "address_declaration", "tax_real_name_information",
    "bank_appointment",
})
OVERSEAS_DOCUMENTS = frozenset({"hk_macao_permit", "taiwan_permit", "passport"})
COMPANIES = frozenset({"limited_company", "joint_stock_company"})


def opening_materials(form: RegistrationCreate) -> FormMaterials:
    """What an opening's form implies for the catalogue: its circumstances (a company, a seal chosen…), the
    materials it carries itself, and the electronic certificates the system holds for it (an enterprise
    investor's licence, 一证通办)."""
    ent, pkg = form.enterprise, form.package
    facts = {
        "company": ent.entity_type in COMPANIES,
        "partnership": ent.entity_type == "partnership",
        "farmers_cooperative": ent.entity_type == "farmers_cooperative",
        "enterprise_investor": any(i.uscc for i in form.investors),
        "overseas_investor": any(i.document_type in OVERSEAS_DOCUMENTS for i in form.investors),
        "residential_use": ent.address.residential,
        "tax_chosen": tax_chosen(form),
        "seal_chosen": pkg.seal,
        "social_insurance_chosen": pkg.social_insurance,
        "housing_fund_chosen": pkg.housing_fund,
        "bank_account_chosen": pkg.bank_account,
    }
    carried = set(FORM_CARRIES)
    if ent.residential_use is not None and ent.residential_use.commitment:
        carried.add("residential_use_declaration")
    certificates = {"business_licence"} if facts["enterprise_investor"] else set()
    return FormMaterials(circumstances=frozenset(c for c, holds in facts.items() if holds),
                         carried=frozenset(carried), certificates=frozenset(certificates))


def plan_for(form: RegistrationCreate, guide: Entry) -> Plan:
    """samr first; then only the package services chosen, in parallel; each within its step's working days in
    ``guide`` (the opening's catalogue entry in force), the whole within its time limit (one working day)."""
    pkg = form.package
    after_samr = (Department.samr,)
    chosen: list[tuple[bool, Department, str]] = [
        (pkg.seal, Department.psb, "seal_filing"),
        # Tax's step: tax information confirmation, 单位缴费登记 and the first invoices (新办纳税人套餐).
        (tax_chosen(form), Department.tax, "tax_confirmation"),
        (pkg.social_insurance, Department.hrss, "social_insurance_registration"),
        (pkg.social_insurance, Department.medicare, "medical_insurance_registration"),
        (pkg.housing_fund, Department.hpf, "housing_fund_account"),
        (pkg.bank_account, Department.bank, "bank_account_appointment"),
    ]
    steps = [Step(Department.samr, "business_licence")]
    steps += [Step(dept, kind, after_samr) for wanted, dept, kind in chosen if wanted]
    return timed_plan(steps, guide)


def uscc_category(entity_type: str) -> str:
    """The USCC category digit (authority 9): 1 enterprise, 2 individual business, 3 cooperative."""
    return ENTITY_TYPES[entity_type][1]


def registration_division(entity_type: str, district_code: str) -> str:
    """The division of the authority that registers the enterprise, which its USCC carries: the city for a
    joint-stock company (registered at city level), the district for every other type."""
    return JIANGMEN_CODE if entity_type == "joint_stock_company" else district_code


def assigned_uscc(outputs: Mapping[str, Any], *, entity_type: str, district_code: str) -> tuple[str | None,
                                                                                            list[FieldProblem]]:
    """The USCC samr assigned (赋码), from its approval's outputs, checked: a valid GB 32100 code of the market
    regulation authority (9), with the entity type's category and the registering authority's division.
    Returns the normalised code and no problems, or None and every problem."""
    checks = Checks()
    loc: Loc = ["outputs", "uscc"]
    raw = outputs.get("uscc")
    if not isinstance(raw, str) or not raw.strip():
        checks.add(loc, "uscc_missing")
        return None, checks.problems
    code = check_uscc(checks, raw, loc)
    if code is None:
        return None, checks.problems
    if code[0] != "9":
        checks.add(loc, "uscc_not_market_regulation", authority=code[0])
    category = uscc_category(entity_type)
    if code[1] != category:
        checks.add(loc, "uscc_wrong_category", expected=category, actual=code[1], type_zh=ENTITY_TYPES[entity_type][0],
                   type_en=ENTITY_TYPES_EN[entity_type])
    division = registration_division(entity_type, district_code)
    if code[2:8] != division:
        checks.add(loc, "uscc_wrong_division", expected=division, actual=code[2:8])
    return (None if checks.problems else code), checks.problems


def new_verification_code() -> str:
    """An unguessable licence verification code (what the QR code on the e-licence carries)."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(16))


# --- Changes (变更登记) and intra-province moves (省内迁移) ---------------------------------------------------------


@dataclass(frozen=True)
class EnterpriseFacts:
    """What the change rules need of the registered enterprise."""

    uscc: str
    name: str
    entity_type: str
    district_code: str
    legal_representative: Identity | None  # None for enterprises registered before it was kept


def changed_fields(form: ChangeCreate) -> list[str]:
    """The fields a change or move changes (a move changes the district, and the address with it)."""
    fields = [f for f in CHANGEABLE_FIELDS if getattr(form, f) is not None]
    if form.kind == "move":
        fields.append("district_code")
    return fields


def validate_change(form: ChangeCreate, current: EnterpriseFacts, *, today: date | None = None) -> list[FieldProblem]:
    """Every problem with a change or move of ``current``, all at once. Empty means valid."""
    today = today or local_today()
    checks = Checks()
    if form.kind not in CHANGE_KINDS:
        checks.add(["kind"], "change_kind_unknown", choices=sorted(CHANGE_KINDS))
    entity_type = current.entity_type if current.entity_type in ENTITY_TYPES else None
    if form.kind == "change" and not any(getattr(form, f) is not None for f in CHANGEABLE_FIELDS):
        checks.add([], "nothing_to_change")

    if form.name is not None:
        check_name(checks, form.name, ["name"], entity_type, partnership_form=partnership_form_of(current.name))
        if name_key(form.name) == name_key(current.name):
            checks.add(["name"], "name_unchanged")

    district: str | None = current.district_code
    if form.kind == "move":
        district = _check_move(checks, form, current)
    else:
        if form.district_code is not None and form.district_code != current.district_code:
            checks.add(["district_code"], "district_change_is_move")
        if form.to_province_city is not None:
            checks.add(["to_province_city"], "only_for_move")
    if form.address is not None and district is not None:
        if resolve(checks, district, form.address, ["address"]):
            _check_residential(checks, form.address.residential, form.residential_use, ["residential_use"])

    if form.registered_capital is not None:
        if entity_type is not None and not ENTITY_TYPES[entity_type][2]:
            checks.add(["registered_capital"], "capital_not_applicable", type_zh=ENTITY_TYPES[entity_type][0],
                       type_en=ENTITY_TYPES_EN[entity_type])
        else:
            checks.decimal(form.registered_capital, ["registered_capital"], invalid="capital_invalid",
                           precision="capital_precision", places=2, maximum=MAX_CAPITAL_YUAN)
    if form.business_scope is not None:
        _check_scope(checks, form.business_scope, ["business_scope"])
    if form.officers is not None:
        check_officers(checks, form.officers, ["officers"], entity_type, current.legal_representative, ["officers"],
                       today)
    return checks.problems


def _check_move(checks: Checks, form: ChangeCreate, current: EnterpriseFacts) -> str | None:
    """A move: a new district (of Jiangmen, which the address data covers), a new address there, and where to
    within Guangdong. Returns the new district when it is one."""
    district: str | None = None
    if form.district_code is None:
        checks.add(["district_code"], "required", what_zh="迁入地所属区（市）", what_en="the new district_code")
    elif form.district_code not in COUNTY_CODES:
        checks.add(["district_code"], "unknown_district", choices=sorted(COUNTY_CODES))
    elif form.district_code == current.district_code:
        checks.add(["district_code"], "move_same_district")
    else:
        district = form.district_code
    if form.address is None:
        checks.add(["address"], "required", what_zh="迁入地住所", what_en="the new address")
    place = display_form(form.to_province_city or "")
    if not place:
        checks.add(["to_province_city"], "required", what_zh="迁入地（省、市）", what_en="to_province_city")
    elif not place.startswith(MOVE_PROVINCE):
        checks.add(["to_province_city"], "move_outside_province")
    elif MOVE_CITY not in place:
        checks.add(["to_province_city"], "move_city_not_served")
    return district


def change_plan(kind: str, fields: Sequence[str], guide: Entry) -> Plan:
    """samr registers the change (or the move), then tax updates its registration (变更税务登记: every enterprise
    is registered for tax, through the opening's package or on its own) unless only officers changed; within
    the time limits of ``guide`` (the change's or move's catalogue entry in force: one working day)."""
    move = kind == "move"
    steps = [Step(Department.samr, "move_registration" if move else "change_registration")]
    if move or TAX_RELEVANT_FIELDS & set(fields):
        steps.append(Step(Department.tax, "tax_move" if move else "tax_change", (Department.samr,)))
    return timed_plan(steps, guide)
