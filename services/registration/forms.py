"""The 企业开办 form as the applicant fills it in: the domain's input, strict from a request, lenient when read
back from storage (``shared.forms``).

Field types are deliberately lenient (strings for codes, amounts and ID numbers): the domain rules check
their content so that every problem is reported in one reply (一次告知). The bounds here only keep absurd
requests out; the rules give the applicant's messages.
"""

from __future__ import annotations

from pydantic import Field

from shared.forms import AddressPartsIn, FormModel, FormShape

SHORT = 100  # names, codes, numbers
LONG = 300  # bank names


class AddressIn(AddressPartsIn):
    """An address in the standard address data (住所申报: declared, no property certificate)."""

    residential: bool = Field(default=False, description="a residential property used for business (住改商)")


class ResidentialUseDeclaration(FormModel):
    """住改商: the applicant's declaration for using a residence as business premises."""

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
    business_scope: list[str] = Field(default_factory=list, max_length=50)


class PersonIn(FormModel):
    name: str = Field(max_length=SHORT)
    id_number: str = Field(max_length=40)
    mobile: str | None = Field(default=None, max_length=40)


class InvestorIn(FormModel):
    name: str = Field(max_length=SHORT)
    id_number: str = Field(max_length=40)
    share_percent: str = Field(max_length=40)


class InvoicesIn(FormModel):
    types: list[str] = Field(default_factory=list, max_length=10)
    quantity: int = Field(default=0, ge=0, le=1_000_000)


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
    investors: list[InvestorIn] = Field(default_factory=list, max_length=50)
    package: PackageIn = Field(default_factory=PackageIn)
    contact: PersonIn | None = None
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


# Version 1 is the shape above; a change of shape adds an upgrade step from the version before.
FORM = FormShape(RegistrationCreate, version=1)
