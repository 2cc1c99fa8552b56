"""The 不动产登记 forms as they are filled in: the domain's input, strict from a request, lenient when read
back from storage (``shared.forms``).

- ``PropertyImport``: the registry's existing data (存量登记数据) brought in, one property at a time;
- ``TransferCreate``: 转移登记 (二手房过户), filed by the owner, confirmed by the buyer (the service's FORM);
- ``MortgageCreate`` / ``MortgageRelease``: 抵押权登记 and its cancellation (注销), filed online by a bank or
  local financial organisation (地方金融组织) officer.

Field types are deliberately lenient (strings for codes, ID numbers, amounts, areas, shares and dates): the
domain rules check their content so that every problem is reported in one reply (一次告知). The bounds here
only keep absurd requests out; the rules give the applicant's messages.
"""

from __future__ import annotations

from pydantic import Field

from shared.forms import FormModel, FormShape, PremisesIn

SHORT = 100  # codes, names, certificate and reference numbers
LONG = 200  # organisation names, authorities
AMOUNT = 40  # decimal strings: yuan, m², percent
# Numbers are bounded here only against absurd input; whether one is realistic is a rule in domain.py, so
# a negative count is reported together with every other problem, not alone by the parser.
ABSURD = 1_000_000_000
MAX_PARTIES = 50  # co-owners (共有人) of one property
MAX_ENCUMBRANCES = 50  # mortgages or seizures on one property


class OwnerIn(FormModel):
    """A holder of the right (权利人): a person with a resident ID, or an enterprise with its USCC."""

    sub: str | None = Field(default=None, max_length=SHORT,
                            description="their token subject; null for a person without an account here")
    name: str = Field(max_length=LONG)
    id_number: str | None = Field(default=None, max_length=40, description="resident ID of a person")
    uscc: str | None = Field(default=None, max_length=40, description="USCC of an enterprise owner")
    share_percent: str = Field(max_length=AMOUNT, description='co-ownership share (共有份额), e.g. "50"')


class ExistingMortgageIn(FormModel):
    """A mortgage already in the register (抵押权)."""

    mortgagee_uscc: str = Field(max_length=40, description="the bank's or organisation's USCC")
    mortgagee_name: str = Field(max_length=LONG)
    amount_yuan: str = Field(max_length=AMOUNT, description="secured amount (被担保主债权数额), yuan")
    certificate_number: str | None = Field(default=None, max_length=SHORT,
                                           description="不动产登记证明号, e.g. 粤(2024)江门市不动产证明第0000001号")


class SeizureIn(FormModel):
    """A seizure in the register (查封登记), by a court or another authority."""

    authority: str = Field(max_length=LONG, description="e.g. 江门市蓬江区人民法院")
    reference: str = Field(max_length=SHORT, description="the ruling's reference (文书号)")


class PropertyImport(FormModel):
    """One property of the registry's existing data, as the register holds it today."""

    unit_number: str = Field(max_length=SHORT, description="不动产单元号 (28 characters)")
    premises: PremisesIn
    use: str = Field(max_length=40, description='"residential", "non_residential" or "parking"')
    area_m2: str = Field(max_length=AMOUNT, description='building area in m², e.g. "89.50"')
    owners: list[OwnerIn] = Field(default_factory=list, max_length=MAX_PARTIES)
    certificate_number: str = Field(max_length=SHORT, description="不动产权证书号")
    mortgages: list[ExistingMortgageIn] = Field(default_factory=list, max_length=MAX_ENCUMBRANCES)
    seizures: list[SeizureIn] = Field(default_factory=list, max_length=MAX_ENCUMBRANCES)


class BuyerIn(FormModel):
    """The buyer (受让方): a person or an enterprise."""

    sub: str | None = Field(default=None, max_length=SHORT,
                            description="their token subject; they confirm the transfer with it")
    name: str = Field(max_length=LONG)
    id_number: str | None = Field(default=None, max_length=40)
    uscc: str | None = Field(default=None, max_length=40)
    is_small_micro_enterprise: bool = Field(default=False, description="小微企业: exempt from the registration fee")


class NewLoanIn(FormModel):
    """The buyer's mortgage loan (买方按揭): its lender and amount."""

    lender_uscc: str = Field(max_length=40)
    lender_name: str = Field(max_length=LONG)
    amount_yuan: str = Field(max_length=AMOUNT)


class TransferMortgageIn(FormModel):
    """What happens to the seller's mortgage, and the buyer's new one (二手房带抵押过户)."""

    existing: str | None = Field(default=None, max_length=20, description=(
        '"repay": the seller\'s lender consents and is repaid at entry (带押过户); '
        '"keep": the mortgage stays on the property and the mortgagee is notified (民法典 art. 406)'))
    new_loan: NewLoanIn | None = None


class TransferCreate(FormModel):
    """One 转移登记 (二手房过户), filed by the owner; the buyer confirms it before the departments start."""

    unit_number: str = Field(max_length=SHORT)
    buyer: BuyerIn
    price_yuan: str = Field(max_length=AMOUNT, description='the contract price (成交价格), e.g. "1280000.00"')
    buyer_family_has_other_home: bool = Field(description="the buyer's family owns another home (deed tax)")
    acquired_on: str = Field(max_length=20, description="when the seller acquired it, YYYY-MM-DD (VAT, income tax)")
    seller_family_only_home: bool = Field(default=False,
                                          description="the seller's family's only home (满五唯一, income tax)")
    linked_utilities: bool = Field(default=False, description="move water, power, gas, telecom accounts too")
    mortgage: TransferMortgageIn | None = None
    extra_certificates: int = Field(default=0, ge=-ABSURD, le=ABSURD,
                                    description="certificates beyond the first (10 yuan each)")
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


class MortgagorIn(FormModel):
    """The mortgagor (抵押人): the owner who gives the property as security."""

    name: str = Field(max_length=LONG)
    id_number: str | None = Field(default=None, max_length=40)
    uscc: str | None = Field(default=None, max_length=40)


class MortgageCreate(FormModel):
    """抵押权首次登记, filed online by the mortgagee's officer."""

    unit_number: str = Field(max_length=SHORT)
    mortgagor: MortgagorIn
    mortgagee_uscc: str = Field(max_length=40)
    mortgagee_name: str = Field(max_length=LONG)
    amount_yuan: str = Field(max_length=AMOUNT, description="secured amount (被担保主债权数额)")
    term_start: str = Field(max_length=20, description="债务履行期限 from, YYYY-MM-DD")
    term_end: str = Field(max_length=20, description="债务履行期限 to, YYYY-MM-DD")


class MortgageRelease(FormModel):
    """抵押权注销登记 (free), filed by the mortgagee's officer once the debt is repaid."""

    unit_number: str = Field(max_length=SHORT)
    certificate_number: str = Field(max_length=SHORT, description="the mortgage's 不动产登记证明号")
    mortgagee_uscc: str = Field(max_length=40)


# Version 1 is the shape above; a change of shape adds an upgrade step from the version before.
FORM = FormShape(TransferCreate, version=1)
