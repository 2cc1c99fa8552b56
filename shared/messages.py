"""The one table of what applicants are told when something is wrong, in Chinese and English.

Keys are the stable ``code`` of a ``FieldProblem``; templates take named parameters (``{max}``). Services
add the codes of their own rules beside the common ones here, so every message lives in one place.
"""

from __future__ import annotations

from typing import Any

# code → (Chinese, English)
MESSAGES: dict[str, tuple[str, str]] = {
    # Common to every form
    "required": ("{what_zh}不能为空", "{what_en} is required"),
    "too_long": ("{what_zh}不能超过{max}字", "{what_en} has at most {max} characters"),
    "too_many": ("{what_zh}最多{max}项", "at most {max} {what_en}"),
    "text_invalid_characters": (
        "{what_zh}含有不允许的控制或格式字符",
        "{what_en} contains control or format characters",
    ),
    "resident_id_format": ("身份证号码应为17位数字加1位校验码", "a resident ID is 17 digits and a check character"),
    "resident_id_birth_date": ("身份证号码中的出生日期无效", "the birth date in the resident ID is not a real date"),
    "resident_id_check_digit": ("身份证号码校验位不正确", "the resident ID check character is wrong"),
    "uscc_invalid": (
        "统一社会信用代码不正确",
        "not a valid unified social credit code (18 characters, GB 32100 check)",
    ),
    "mobile_invalid": ("手机号码格式不正确", "not a valid mainland mobile number (11 digits starting 13-19)"),
    "date_invalid": ("日期格式应为YYYY-MM-DD", "a date is written YYYY-MM-DD"),
    "date_out_of_range": ("日期应在{first}至{last}之间", "the date must be between {first} and {last}"),
    "unknown_district": ("所属区（市）不是江门市的辖区", "district_code must be one of {choices}"),
    "enterprise_unknown": (
        "未查询到该统一社会信用代码对应的已登记企业",
        "no enterprise registered with USCC {uscc} is known here (registered through 企业开办)",
    ),
    # 企业开办
    "name_length": ("企业名称应为4至60个字", "the enterprise name must have 4 to 60 characters"),
    "name_taken": (
        "企业名称已被登记或正在申请中",
        "the name {name!r} is registered or reserved by an application in flight",
    ),
    "name_change_not_allowed": (
        "补正时不能更改企业名称",
        "the name cannot change in a supplement; submit a new application",
    ),
    "entity_type_unknown": ("企业类型不正确", "entity_type must be one of {choices}"),
    "residential_declaration_required": (
        "住宅用作经营场所须提交住改商承诺",
        "a residential address used for business needs the 住改商 declaration",
    ),
    "capital_invalid": (
        "注册资本应为大于0、不超过{max}元的金额（仅数字和小数点）",
        "registered capital must be a plain decimal amount (digits and a point) greater than 0 and at most {max} yuan",
    ),
    "capital_precision": ("注册资本最多保留两位小数", "registered capital has at most 2 decimal places"),
    "business_scope_empty": ("经营范围不能为空", "business scope needs at least one non-empty item"),
    "investors_required": ("至少需要一名投资人", "at least one investor is required"),
    "share_invalid": (
        "出资比例应为大于0且不超过100的数字（最多4位小数）",
        "share_percent must be a plain number greater than 0 and at most 100 (at most 4 decimals)",
    ),
    "shares_not_100": (
        "投资人出资比例合计应为100%，现为{total}%",
        "investor shares must sum to exactly 100, they sum to {total}",
    ),
    "invoice_type_unknown": ("发票种类不正确", "invoice types must be chosen from {choices}"),
    "invoice_quantity": ("发票领用数量不正确", "invoice quantity must be 1 to {max}"),
    "invoices_need_tax": ("申领发票须同时办理涉税事项", "invoices need the tax step"),
    # 套餐式注销 and 歇业备案
    "procedure_unknown": ("注销方式应为简易注销或一般注销", 'procedure must be "simplified" or "general"'),
    "undertaking_required": (
        "简易注销须提交全体投资人承诺书",
        "the simplified procedure needs the investors' undertaking",
    ),
    "debts_outstanding": (
        "简易注销须承诺无债权债务（含职工工资、社会保险费、税款）；否则请选择一般注销",
        "the simplified procedure needs the undertaking that no debts (wages, social insurance, "
        "taxes included) are outstanding; otherwise use the general procedure",
    ),
    "liquidation_required": ("一般注销须备案清算组", "the general procedure needs the liquidation group"),
    "leader_not_member": ("清算组负责人须为清算组成员", "the leader must be one of the members"),
    "start_in_past": ("歇业开始日期不能早于今天", "a suspension cannot start before today"),
    "end_before_start": ("歇业结束日期不能早于开始日期", "the end date cannot be before the start date"),
    "suspension_cap_exceeded": (
        "歇业累计不得超过{years}年（{allowed}天），本企业尚可歇业{left}天",
        "suspensions may total at most {years} years ({allowed} days); {left} days are left for this enterprise",
    ),
    "extension_window": (
        "延期须在歇业期满前{days}日内（{first}至{last}）提出",
        "an extension is filed in the {days} days before the end, from {first} to {last}",
    ),
    "not_later": ("延期后的结束日期应晚于现结束日期", "the new end date must be after {end}"),
}

# Pydantic's error types (a request that does not even fit its schema), in the applicant's language.
PYDANTIC_ZH: dict[str, str] = {
    "missing": "缺少必填项",
    "string_type": "应为文本",
    "string_too_short": "内容过短或为空",
    "string_too_long": "内容过长",
    "string_pattern_mismatch": "格式不正确",
    "int_parsing": "应为整数",
    "decimal_parsing": "应为数字",
    "decimal_max_places": "小数位数过多",
    "greater_than": "应大于规定值",
    "greater_than_equal": "不应小于规定值",
    "less_than_equal": "超出允许范围",
    "bool_type": "应为是/否",
    "bool_parsing": "应为是/否",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "extra_forbidden": "不允许的字段",
    "list_type": "应为列表",
    "too_short": "至少需要一项",
    "too_long": "项数过多",
    "date_from_datetime_parsing": "日期格式不正确",
    "date_parsing": "日期格式不正确",
    "json_invalid": "请求体不是合法的 JSON",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "value_error": "取值不正确",
}


def message(code: str, **params: Any) -> tuple[str, str]:
    """The Chinese and English message of ``code`` with its parameters filled in (KeyError for an unknown code:
    every code a rule emits is in the table)."""
    zh, en = MESSAGES[code]
    return zh.format(**params), en.format(**params)
