"""The 套餐式注销 and 歇业备案 forms as the applicant fills them in: the domain's input, strict from a request,
lenient when read back from storage (``shared.forms``).

Field types are deliberately lenient (strings for codes, dates and ID numbers): the domain rules check
their content so that every problem is reported in one reply (一次告知)."""

from __future__ import annotations

from pydantic import Field

from shared.forms import FormModel, FormShape
from shared.materials import MAX_MATERIALS, MaterialRef

SHORT = 100
MAX_PEOPLE = 50


class SignatoryIn(FormModel):
    """A person who signs: an investor under the undertaking, or a member of the liquidation group."""

    name: str = Field(max_length=SHORT)
    id_number: str = Field(max_length=40)


class UndertakingIn(FormModel):
    """简易注销: the investors' undertaking (全体投资人承诺书) that nothing is owed."""

    no_outstanding_debts: bool = False  # wages, social insurance, taxes and other debts all settled
    signatories: list[SignatoryIn] = Field(default_factory=list, max_length=MAX_PEOPLE)


class LiquidationIn(FormModel):
    """一般注销: the liquidation group (清算组) filed with the application."""

    members: list[SignatoryIn] = Field(default_factory=list, max_length=MAX_PEOPLE)
    leader: str | None = Field(default=None, max_length=SHORT,
                               description="the member who leads the group (defaults to the first)")
    formed_on: str | None = Field(default=None, max_length=20,
                                  description="ISO date the group was formed; it is filed within 10 days of it "
                                              "(defaults to the day of the application)")


class LiquidationReportIn(FormModel):
    """一般注销: the liquidation report (清算报告), confirmed by the shareholders (股东会/投资人确认)."""

    summary: str = Field(default="", max_length=4000, description="what was liquidated, paid and distributed")
    confirmed_by_shareholders: bool = False


class DeregistrationCreate(FormModel):
    uscc: str = Field(max_length=40)
    procedure: str = Field(max_length=20, description='"simplified" (简易注销) or "general" (一般注销)')
    reason: str = Field(max_length=2000)
    undertaking: UndertakingIn | None = None
    liquidation: LiquidationIn | None = None
    liquidation_report: LiquidationReportIn | None = Field(
        default=None, description="一般注销: the liquidation report, confirmed by the shareholders (required)")
    materials: list[MaterialRef] = Field(
        default_factory=list, max_length=MAX_MATERIALS,
        description="uploaded documents (POST /api/v1/materials) by catalogue material code: the signed undertaking, "
                    "or the dissolution resolution and liquidation report (see GET /api/v1/catalogue/<item>)")
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


class SuspensionCreate(FormModel):
    uscc: str = Field(max_length=40)
    cause: str | None = Field(
        default=None, max_length=30,
        description='the statutory cause: "natural_disaster" (自然灾害), "accident" (事故灾难), "public_health" '
                    '(公共卫生事件), "social_security" (社会安全事件), or "other" (then say what in reason)')
    reason: str | None = Field(default=None, max_length=2000,
                               description="what happened; required when the cause is other")
    employees_consulted: bool = Field(default=False, description="the employees were consulted first (required)")
    start_date: str = Field(max_length=20, description="ISO date, today or later")
    end_date: str = Field(max_length=20, description="ISO date; the suspension is over when this day is")
    delivery_address: str = Field(max_length=1000, description="where legal documents are delivered while suspended")
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


def _v1_to_v2(form: dict) -> dict:
    """Version 2 added ``liquidation_report``: a general deregistration accepted before had none to carry."""
    return {**form, "liquidation_report": form.get("liquidation_report")}


# Version 1 had no liquidation report; a change of shape adds an upgrade step from the version before. Uploaded
# materials came with a default (none), so a stored form without them reads as it is.
FORM = FormShape(DeregistrationCreate, version=2, upgrades={1: _v1_to_v2})
