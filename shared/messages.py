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
    "uscc_lookalike": (
        "统一社会信用代码不正确：代码中没有字母O和I，只有数字0和1，应为{suggestion}？",
        "not a valid unified social credit code: it has no letters O or I, only the digits 0 and 1 "
        "(did you mean {suggestion}?)",
    ),
    "document_type_unknown": ("证件类型不正确", "document_type must be one of {choices}"),
    "hk_macao_permit_invalid": (
        "港澳居民来往内地通行证号码应为H或M加8位数字",
        "a Mainland Travel Permit for Hong Kong and Macao Residents number is H or M and 8 digits",
    ),
    "taiwan_permit_invalid": (
        "台湾居民来往大陆通行证号码应为8位数字",
        "a Mainland Travel Permit for Taiwan Residents number is 8 digits",
    ),
    "passport_invalid": ("护照号码应为5至17位字母或数字", "a passport number is 5 to 17 letters or digits"),
    "nationality_invalid": (
        "国籍应为三位字母代码（ISO 3166-1），如USA",
        "nationality is an ISO 3166-1 alpha-3 code such as USA",
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
    "residential_consent_required": (
        "住宅用作经营场所须经有利害关系的业主同意",
        "a residential address used for business needs the consent of the owners it affects (民法典 art. 279)",
    ),
    "name_words_not_allowed": ("{type_zh}的名称中不得含有“{words}”", "the name of a {type_en} may not contain {words}"),
    "name_lacks_form": ("{type_zh}的名称中应含有“{form_zh}”字样", "the name of a {type_en} must contain {form_zh}"),
    "partnership_form_unknown": (
        "合伙企业类型应为普通合伙、有限合伙或特殊普通合伙",
        "partnership_form must be one of {choices}",
    ),
    "paid_in_invalid": (
        "实收资本应为大于0、不超过{max}元的金额（最多两位小数）",
        "paid-in capital must be a plain decimal amount greater than 0 and at most {max} yuan, with at most 2 "
        "decimal places",
    ),
    "paid_in_must_equal_registered": (
        "股份有限公司的注册资本应在成立前全部缴足，实收资本应等于注册资本",
        "a joint-stock company pays its whole registered capital before incorporation: paid_in_capital must "
        "equal registered_capital (公司法 art. 98)",
    ),
    "paid_in_exceeds_registered": ("实收资本不能超过注册资本", "paid-in capital cannot exceed the registered capital"),
    "capital_invalid": (
        "注册资本应为大于0、不超过{max}元的金额（仅数字和小数点）",
        "registered capital must be a plain decimal amount (digits and a point) greater than 0 and at most {max} yuan",
    ),
    "capital_precision": ("注册资本最多保留两位小数", "registered capital has at most 2 decimal places"),
    "business_scope_empty": ("经营范围不能为空", "business scope needs at least one non-empty item"),
    "investors_required": ("至少需要一名投资人", "at least one investor is required"),
    "investors_count": (
        "{type_zh}的投资人应为{rule_zh}，现为{count}名",
        "a {type_en} has {rule_en} investors, not {count}",
    ),
    "investors_not_allowed": (
        "个体工商户不设投资人出资，请填写经营者",
        "an individual business has no investors' shares: name its operator instead",
    ),
    "investor_natural_person_required": (
        "{type_zh}的投资人应为自然人",
        "the investor of a {type_en} is a natural person",
    ),
    "investor_identity_required": (
        "请填写投资人的身份证件号码（自然人）或统一社会信用代码（企业）",
        "an investor is a person (document_type and document_number) or an enterprise (uscc)",
    ),
    "investor_identity_ambiguous": (
        "投资人应为自然人（身份证件）或企业（统一社会信用代码）之一，不能同时填写",
        "an investor is either a person (document) or an enterprise (uscc), not both",
    ),
    "investor_duplicate": (
        "与第{first}名投资人的证件号码相同，同一投资人只能填写一次",
        "the same ID as investor {first}: each investor is listed once",
    ),
    "contribution_form_unknown": (
        "出资方式应为货币、实物、知识产权、土地使用权、股权或债权",
        "contribution_form must be one of {choices}",
    ),
    "subscription_beyond_five_years": (
        "有限责任公司股东认缴的出资额应自公司成立之日起五年内缴足，认缴期限最迟为{latest}",
        "a limited company's subscribed capital is paid within five years of incorporation: the deadline is "
        "{latest} at the latest (公司法 art. 47)",
    ),
    "officer_role_unknown": ("职务应为董事、执行董事、监事或经理", "role must be one of {choices}"),
    "officer_duplicate": ("同一人员的同一职务重复填写", "the same person is listed twice in the same role"),
    "supervisor_conflict": (
        "董事、高级管理人员不得兼任监事",
        "a director or the manager may not also be a supervisor (公司法 art. 76, 130)",
    ),
    "directors_required": (
        "公司应备案董事会成员或一名执行董事",
        "a company files its directors, or its one executive director",
    ),
    "executive_director_alone": (
        "设一名执行董事的公司不设董事会，不再备案其他董事",
        "a company with an executive director has no board: no other director is filed",
    ),
    "legal_representative_not_officer": (
        "法定代表人应由代表公司执行公司事务的董事或者经理担任",
        "the legal representative must be one of the directors or the manager (公司法 art. 10)",
    ),
    "beneficial_owners_required": (
        "应备案受益所有人信息（注册资本不超过{threshold}元且股东全部为自然人的，可承诺免于备案）",
        "beneficial owners (受益所有人) must be filed; only a company or partnership with capital of at most "
        "{threshold} yuan and only natural persons as investors may commit it is exempt",
    ),
    "beneficial_owner_basis_unknown": ("受益所有人的认定依据不正确", "basis must be one of {choices}"),
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
    "invoice_amount_limit": (
        "数电发票额度应为大于0、不超过{max}元的金额（最多两位小数）",
        "the 数电发票 amount limit (amount_limit) is a plain decimal amount in yuan, greater than 0 and at "
        "most {max}, with at most 2 decimal places",
    ),
    "invoice_quantity_not_for_electronic": (
        "数电发票按额度核定，不填写领用份数",
        "数电发票 are granted as an amount limit (amount_limit), not a quantity",
    ),
    "invoice_amount_limit_only_electronic": ("发票额度仅适用于数电发票", "amount_limit is for vat_electronic only"),
    "uscc_missing": (
        "登记机关核准时应赋予统一社会信用代码",
        "samr's approval must carry the enterprise's uscc (赋码)",
    ),
    "uscc_not_market_regulation": (
        "统一社会信用代码的登记管理部门代码应为9（市场监管）",
        "the USCC's registration authority must be 9 (market regulation), not {authority}",
    ),
    "uscc_wrong_category": (
        "{type_zh}的统一社会信用代码机构类别代码应为{expected}，而非{actual}",
        "a {type_en}'s USCC has category {expected}, not {actual}",
    ),
    "uscc_wrong_division": (
        "统一社会信用代码的登记管理机关行政区划码应为{expected}，而非{actual}",
        "the USCC's division must be {expected} (the registering authority's), not {actual}",
    ),
    "uscc_mismatch": (
        "统一社会信用代码与该企业不符",
        "the uscc is not the enterprise's ({expected}); a change keeps its code",
    ),
    # 变更登记 and 省内迁移
    "change_kind_unknown": ("申请类型应为变更登记或省内迁移", "kind must be one of {choices}"),
    "nothing_to_change": (
        "请填写需要变更的事项",
        "name at least one thing that changes: name, address, registered_capital, business_scope or officers",
    ),
    "name_unchanged": ("新名称与现名称相同", "the new name is the enterprise's name already"),
    "capital_not_applicable": ("{type_zh}不登记注册资本", "a {type_en} has no registered capital"),
    "district_change_is_move": (
        "住所迁至其他区（市）请申请省内迁移",
        "a new district is a move (kind: move), not a change",
    ),
    "only_for_move": ("仅省内迁移须填写此项", "only a move (kind: move) gives this"),
    "move_same_district": (
        "迁入地与现住所在同一区（市），请申请住所变更",
        "the new district is the current one: change the address instead (kind: change)",
    ),
    "move_outside_province": (
        "省内迁移的迁入地应在广东省内",
        "an intra-province move goes to a place in Guangdong (广东省)",
    ),
    "move_city_not_served": (
        "本平台办理迁入江门市的省内迁移",
        "this platform moves enterprises to Jiangmen (江门市) only: its address data covers Jiangmen",
    ),
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
    # 申请材料 and 容缺受理 (the catalogue decides what is needed)
    "material_missing": (
        "缺少关键材料：{name_zh}（关键材料不予容缺）",
        "the key material {name_en} ({material}) is missing; a key material cannot come later",
    ),
    "material_not_asked": (
        "本事项不需要材料“{material}”",
        "{item} asks for no material {material!r} in these circumstances",
    ),
    "material_carried_by_form": (
        "{name_zh}已通过在线表单提交，无需上传",
        "{name_en} ({material}) is carried by the online form itself; nothing is uploaded for it",
    ),
    "material_unknown": (
        "未找到您上传的材料{id}",
        "no material {id} uploaded by the applicant",
    ),
    "material_format": (
        "{name_zh}应为以下格式之一：{formats_zh}",
        "{name_en} ({material}) must be one of {formats_en}; the upload is {media_type}",
    ),
    "material_twice": ("材料“{material}”重复提交", "the material {material!r} is given twice"),
    "material_not_pending": (
        "材料“{material}”不在待补齐的容缺材料中",
        "{material!r} is not among the materials this application still waits for",
    ),
    # Uploads
    "upload_empty": ("上传的文件为空", "the uploaded file is empty"),
    "upload_executable": (
        "上传的文件是可执行程序，不是申请材料",
        "the upload is an executable program, whatever its name says; send a PDF, OFD, JPEG or PNG document",
    ),
    "upload_unsupported": (
        "只接受PDF、OFD、JPG、PNG格式的材料（按文件内容识别）",
        "only PDF, OFD, JPEG and PNG documents are taken, recognised by their content",
    ),
    "extra_forbidden_part": ("不允许的字段“{name}”", "no part {name!r} is taken: send 'file' and, optionally, 'kind'"),
    "upload_one_file": ("每次只能上传一个文件", "one file per upload"),
    "material_kind_invalid": (
        "材料类型应为办事指南中的材料代码",
        "kind must be a material code of the service catalogue (e.g. seal_specimen); got {kind!r}",
    ),
    "upload_too_large": ("上传的文件不能超过{max}字节", "a document may have at most {max} bytes"),
    "upload_file_missing": ("请上传文件（字段file）", "send the document in the multipart field 'file'"),
    "upload_too_many_pages": ("文件页数不能超过{max}页", "a document may have at most {max} pages; it has more"),
    "upload_too_many_pixels": (
        "图片像素不能超过{max}（{width}×{height}）",
        "an image may have at most {max} pixels; it is {width}×{height}",
    ),
    "upload_unreadable": ("文件内容无法识别：{why_zh}", "the document cannot be read: {why_en}"),
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
