"""Department codes used in events, task subjects and roles (DOMAIN.md, Departments)."""

from __future__ import annotations

from enum import StrEnum


class Department(StrEnum):
    """A department (or outside party) that handles a part of an application."""

    samr = "samr"  # 市场监督管理局
    tax = "tax"  # 税务局
    psb = "psb"  # 公安局 (公章刻制)
    hrss = "hrss"  # 人力资源和社会保障局
    medicare = "medicare"  # 医疗保障局
    hpf = "hpf"  # 住房公积金管理中心
    bank = "bank"
    customs = "customs"  # 江门海关
    nr = "nr"  # 自然资源局 (不动产登记中心)
    housing = "housing"  # 住房和城乡建设局
    power = "power"
    water = "water"
    gas = "gas"
    telecom = "telecom"
    cabletv = "cabletv"
    urban = "urban"  # 城市管理和综合执法局
    greening = "greening"  # 林业和园林局
    traffic = "traffic"  # 公安交警: works that occupy roads (with urban)
    transport = "transport"  # 交通运输局: works on highways (公路) outside city roads

    @property
    def name_zh(self) -> str:
        """The department's Chinese name, as shown to applicants."""
        return _NAMES_ZH[self]


_NAMES_ZH: dict[Department, str] = {
    Department.samr: "市场监督管理局",
    Department.tax: "税务局",
    Department.psb: "公安局",
    Department.hrss: "人力资源和社会保障局",
    Department.medicare: "医疗保障局",
    Department.hpf: "住房公积金管理中心",
    Department.bank: "开户银行",
    Department.customs: "江门海关",
    Department.nr: "自然资源局（不动产登记中心）",
    Department.housing: "住房和城乡建设局",
    Department.power: "供电局",
    Department.water: "供水企业",
    Department.gas: "燃气企业",
    Department.telecom: "通信运营商",
    Department.cabletv: "广电网络",
    Department.urban: "城市管理和综合执法局",
    Department.greening: "林业和园林局",
    Department.traffic: "公安交警",
    Department.transport: "交通运输局",
}


def parse_department_list(value: str) -> frozenset[Department]:
    """Parse ``all``, ``none`` or a comma list of department codes (unknown codes raise ValueError)."""
    text = value.strip().lower()
    if text in ("", "none"):
        return frozenset()
    if text == "all":
        return frozenset(Department)
    return frozenset(Department(part.strip()) for part in text.split(",") if part.strip())
