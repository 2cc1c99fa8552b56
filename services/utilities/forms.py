"""The 水电气网联合报装 form as the applicant fills it in: the domain's input, strict from a request, lenient
when read back from storage (``shared.forms``).

Field types are deliberately lenient (strings for codes and certificate numbers, plain integers for
amounts): the domain rules check their content so that every problem is reported in one reply (一次告知).
The bounds here only keep absurd requests out; the rules give the applicant's messages.
"""

from __future__ import annotations

from pydantic import Field

from shared.forms import FormModel, FormShape, PremisesIn

SHORT = 100  # codes, names, certificate numbers
# Numbers are bounded here only against absurd input. Whether one is positive and realistic is a rule in
# domain.py, so a zero or negative amount is reported together with every other problem, not alone by the
# parser before the rules run.
ABSURD = 1_000_000_000


class ProofIn(FormModel):
    """Proof of the premises: a property certificate (不动产权证书) — its number, or the verification code of the
    electronic certificate (一证通办: the number and unit are then taken from it) — or, for power only where the
    district has it switched on, a credit report (信用+报装)."""

    kind: str = Field(max_length=40, description='"property_certificate" or "credit_report"')
    number: str | None = Field(default=None, max_length=SHORT,
                               description="the certificate's number, e.g. 粤(2026)江门市不动产权第0000001号, "
                                           "or the credit report's number; not needed with verification_code")
    verification_code: str | None = Field(default=None, max_length=40,
                                          description="一证通办: the verification code of an electronic property "
                                                      "certificate, in place of the paper and its number")
    unit_number: str | None = Field(default=None, max_length=40,
                                    description="不动产单元号: filled from the electronic certificate (a value sent "
                                                "is not used)")


class PowerIn(FormModel):
    """用电报装."""

    voltage: str = Field(max_length=20, description='"low" (低压) or "high" (高压)')
    capacity_kw: int = Field(ge=-ABSURD, le=ABSURD, description="requested capacity (报装容量) in kW")


class WaterIn(FormModel):
    """用水报装."""

    diameter_mm: int = Field(ge=-ABSURD, le=ABSURD, description="connection pipe diameter (接水管径) in mm")


class GasIn(FormModel):
    """用气报装."""

    monthly_m3: int = Field(ge=-ABSURD, le=ABSURD, description="expected use in cubic metres per month")


class TelecomIn(FormModel):
    """通信（宽带、专线）报装."""

    bandwidth_mbps: int = Field(ge=-ABSURD, le=ABSURD, description="requested bandwidth in Mbit/s")


class CableTvIn(FormModel):
    """有线电视报装: nothing to choose yet; the empty object says "connect cable TV"."""


class UtilitiesIn(FormModel):
    """The utilities wanted: any non-empty subset of the five (一窗受理、业务联办)."""

    power: PowerIn | None = None
    water: WaterIn | None = None
    gas: GasIn | None = None
    telecom: TelecomIn | None = None
    cabletv: CableTvIn | None = None


class ExternalWorksIn(FormModel):
    """Connection works outside the premises (外线工程) that need permits."""

    dig_city_road: bool = Field(default=False, description="dig a city road (挖掘城市道路)")
    occupy_city_road: bool = Field(default=False, description="occupy a city road without digging (占用城市道路)")
    occupy_green_space: bool = Field(default=False, description="occupy green space (占用绿地)")
    highway: bool = Field(default=False, description="works on a highway outside city roads (涉路施工, 公路)")


class ConnectionCreate(FormModel):
    """One 水电气网联合报装 application: the premises, its proof, the utilities and the works they need."""

    premises: PremisesIn
    uscc: str | None = Field(default=None, max_length=40, description="when an enterprise applies")
    proof: ProofIn
    utilities: UtilitiesIn
    external_works: ExternalWorksIn = Field(default_factory=ExternalWorksIn)
    on_behalf_of: str | None = Field(default=None, max_length=200,
                                     description="a clerk names the applicant they act for")


# Version 1 is the shape above; a change of shape adds an upgrade step from the version before.
FORM = FormShape(ConnectionCreate, version=1)
