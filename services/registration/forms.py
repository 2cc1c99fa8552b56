"""The forms of the registration service as the applicant fills them in: 企业开办 (``RegistrationCreate``) and a
registered enterprise's change or intra-province move (``ChangeCreate``). The domain's input, strict from a
request, lenient when read back from storage (``shared.forms``).

Field types are deliberately lenient (strings for codes, amounts, dates and ID numbers): the domain rules check
their content so that every problem is reported in one reply (一次告知). The bounds here only keep absurd
requests out; the rules give the applicant's messages. USCCs are normalised as they are read (half-width,
no spaces, upper case: ``shared.identifiers.normalise_uscc``), before any rule sees them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from shared.forms import AddressPartsIn, FormModel, FormShape
from shared.identifiers import normalise_uscc
from shared.materials import MAX_MATERIALS, MaterialRef

SHORT = 100  # names, codes, numbers
LONG = 300  # bank names

# A USCC as typed: normalised at the edge; its rules (and the O/0, I/1 hint) are the domain's.
UsccIn = Annotated[str, BeforeValidator(normalise_uscc), Field(max_length=SHORT)]


class AddressIn(AddressPartsIn):
    """An address in the standard address data (住所申报: declared, no property certificate)."""

    residential: bool = Field(default=False, description="a residential property used for business (住改商)")


class ResidentialUseDeclaration(FormModel):
    """住改商: the applicant's declaration for using a residence as business premises, and the consent of the
    owners it affects (民法典 art. 279)."""

    commitment: bool = False
    neighbours_consent: bool = False


class EnterpriseIn(FormModel):
    name: str = Field(max_length=SHORT)
    entity_type: str = Field(max_length=SHORT)
    district_code: str = Field(max_length=SHORT)
    address: AddressIn
    extra_addresses: list[AddressIn] = Field(default_factory=list, max_length=20, description="一照多址")
    residential_use: ResidentialUseDeclaration | None = None
    registered_capital: str | None = Field(default=None, max_length=40)
    paid_in_capital: str | None = Field(default=None, max_length=40,
                                        description="实收资本, yuan (a joint-stock company's: all of its capital)")
    partnership_form: str | None = Field(default=None, max_length=SHORT,
                                         description="合伙企业: general (普通合伙), limited (有限合伙) or "
                                                     "special_general (特殊普通合伙)")
    business_scope: list[str] = Field(default_factory=list, max_length=50)


class PersonIn(FormModel):
    name: str = Field(max_length=SHORT)
    id_number: str = Field(max_length=40)
    mobile: str | None = Field(default=None, max_length=40)


class InvestorIn(FormModel):
    """An investor (股东, 发起人, 合伙人, 投资人): a person by an identity document, or an enterprise by its USCC."""

    name: str = Field(max_length=SHORT)
    document_type: str | None = Field(default=None, max_length=SHORT,
                                      description="resident_id, hk_macao_permit, taiwan_permit or passport "
                                                  "(a person; resident_id when only the number is given)")
    document_number: str | None = Field(default=None, max_length=40)
    nationality: str | None = Field(default=None, max_length=SHORT, description="a passport holder's, ISO 3166-1 "
                                                                                "alpha-3")
    uscc: UsccIn | None = Field(default=None, description="an enterprise investor")
    share_percent: str = Field(max_length=40)
    contribution_form: str | None = Field(default=None, max_length=SHORT,
                                          description="出资方式: monetary, in_kind, intellectual_property, "
                                                      "land_use_right, equity or debt_claim")
    subscription_deadline: str | None = Field(default=None, max_length=40, description="认缴期限, YYYY-MM-DD")


class OfficerIn(FormModel):
    """A director, supervisor or manager filed with the registration (董事、监事、经理备案)."""

    name: str = Field(max_length=SHORT)
    id_number: str = Field(max_length=40)
    document_type: str = Field(default="resident_id", max_length=SHORT)
    role: str = Field(max_length=SHORT, description="director, executive_director, supervisor or manager")


class BeneficialOwnerIn(FormModel):
    """A beneficial owner (受益所有人, filed since 2024-11-01): a natural person."""

    name: str = Field(max_length=SHORT)
    document_type: str = Field(default="resident_id", max_length=SHORT)
    document_number: str = Field(max_length=40)
    nationality: str | None = Field(default=None, max_length=SHORT)
    basis: str = Field(max_length=SHORT, description="ownership (25% or more of the shares), benefit (of the "
                                                     "profits or votes), control, or senior_manager")


class InvoicesIn(FormModel):
    types: list[str] = Field(default_factory=list, max_length=10)
    quantity: int | None = Field(default=None, ge=0, le=1_000_000, description="copies of paper invoices")
    amount_limit: str | None = Field(default=None, max_length=40,
                                     description="数电发票: the amount limit (额度) asked for, yuan")


class PackageIn(FormModel):
    """The package services chosen with the licence."""

    seal: bool = False
    tax: bool = True
    invoices: InvoicesIn | None = None
    social_insurance: bool = False
    housing_fund: bool = False
    bank_account: bool = False
    bank_name: str | None = Field(default=None, max_length=LONG)


class RegistrationCreate(FormModel):
    """One 企业开办 application: the enterprise, its people, and the package services chosen."""

    enterprise: EnterpriseIn
    legal_representative: PersonIn
    investors: list[InvestorIn] = Field(default_factory=list, max_length=200)
    officers: list[OfficerIn] = Field(default_factory=list, max_length=50,
                                      description="directors, supervisors and the manager (董事、监事、经理)")
    beneficial_owners: list[BeneficialOwnerIn] = Field(default_factory=list, max_length=50)
    operator: PersonIn | None = Field(default=None, description="an individual business's operator (经营者)")
    finance_officer: PersonIn | None = Field(default=None, description="财务负责人 (the tax step needs one)")
    tax_agent: PersonIn | None = Field(default=None, description="办税人 (the tax step needs one)")
    package: PackageIn = Field(default_factory=PackageIn)
    contact: PersonIn | None = None
    materials: list[MaterialRef] = Field(
        default_factory=list, max_length=MAX_MATERIALS,
        description="uploaded documents (POST /api/v1/materials) by catalogue material code; what the form itself "
                    "carries is not uploaded (see GET /api/v1/catalogue/enterprise_opening)")
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


def _investors_by_document(form: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: an investor was a resident by ``id_number``; now a person is named by a document (or an
    enterprise by its USCC)."""
    investors = []
    for investor in form.get("investors") or []:
        investor = dict(investor)
        if "id_number" in investor and "document_number" not in investor:
            investor["document_type"] = "resident_id"
            investor["document_number"] = investor.pop("id_number")
        investors.append(investor)
    return {**form, "investors": investors}


# Version 1: investors by resident ID only, invoices by quantity only. Version 2 (this shape): investors by
# document or USCC with contribution form and deadline, officers, beneficial owners, operator, finance officer
# and tax agent, paid-in capital, partnership form, 数电发票 amount limit. Every field added has a default, so a
# version-1 form reads as a version-2 one after its investors are upgraded (uploaded materials too: none).
FORM = FormShape(RegistrationCreate, version=2, upgrades={1: _investors_by_document})


class ChangeCreate(FormModel):
    """A registered enterprise's 变更登记 (``kind: change``), or its 省内迁移 (``kind: move``) to another district:
    its USCC and only what changes."""

    uscc: UsccIn
    kind: str = Field(default="change", max_length=SHORT, description="change (变更登记) or move (省内迁移)")
    name: str | None = Field(default=None, max_length=SHORT)
    address: AddressIn | None = None
    residential_use: ResidentialUseDeclaration | None = None
    registered_capital: str | None = Field(default=None, max_length=40)
    business_scope: list[str] | None = Field(default=None, max_length=50)
    officers: list[OfficerIn] | None = Field(default=None, max_length=50,
                                             description="the whole list of directors, supervisors and manager")
    district_code: str | None = Field(default=None, max_length=SHORT, description="a move: the new district")
    to_province_city: str | None = Field(default=None, max_length=SHORT,
                                         description="a move: where to (迁入地), e.g. 广东省江门市")
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


CHANGE_FORM = FormShape(ChangeCreate, version=1)
