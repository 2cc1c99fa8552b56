"""Identifiers used across services (DOMAIN.md, Identifiers).

- 统一社会信用代码 USCC (GB 32100-2015) and the organisation code embedded in it (GB 11714-1997),
- 居民身份证号码 resident ID number (GB 11643-1999),
- the travel permits and passports residents of Hong Kong, Macao and Taiwan and foreigners identify with,
- mainland mobile numbers,
- human-readable application numbers (受理编号).

Everything here is pure: no I/O, no clock except where a function says so. Validators return a bool or a
problem code and never raise for bad input; constructors (``make_*``, ``format_*``) raise ``ValueError``
because bad input there is a programming error, not an applicant's mistake.
"""

from __future__ import annotations

import random
import re
import secrets
import unicodedata
from datetime import date

__all__ = [
    "APPLICATION_NUMBER_RE",
    "DOCUMENT_TYPES",
    "ORG_CODE_BODY_CHARSET",
    "USCC_AUTHORITY_CATEGORIES",
    "USCC_CHARSET",
    "USCC_CHECKSUM_EXCEPTIONS",
    "USCC_LOOKALIKES",
    "birth_date_of",
    "document_number_problem",
    "format_application_number",
    "generate_org_code",
    "generate_uscc",
    "is_valid_mobile",
    "is_valid_org_code",
    "is_valid_resident_id",
    "is_valid_uscc",
    "make_uscc",
    "mask_document_number",
    "mask_mobile",
    "mask_resident_id",
    "normalise_document_number",
    "normalise_uscc",
    "org_code_check_char",
    "resident_id_problem",
    "uscc_check_char",
    "uscc_lookalike_fix",
]

# ---------------------------------------------------------------------------------------------------------
# USCC 统一社会信用代码 (GB 32100-2015)
# ---------------------------------------------------------------------------------------------------------

# I, O, S, V and Z are left out by the standard because they are easily misread as 1, 0, 5, U and 2.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...

# 登记管理部门代码 -> the 机构类别代码 it may use (GB 32100-2015 table 1, with the later additions
# for A 中央军委改革和编制办公室 and N 农业; Y "其他" has only category 1). Kept generous on purpose: an
# applicant's real code must never be refused because this table is narrower than the registries' practice.
USCC_AUTHORITY_CATEGORIES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),  # 机构编制: 机关, 事业单位, 中央编办直管群众团体, 其他
    "2": frozenset("19"),  # 外交: 外国常驻新闻机构, 其他
    # 司法行政: 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
    "3": frozenset("123459"),
    "4": frozenset("19"),  # 文化: 外国在华文化中心, 其他
    "5": frozenset("1239"),  # 民政: 社会团体, 民办非企业单位, 基金会, 其他
    "6": frozenset("129"),  # 旅游: 外国/港澳台旅游部门常驻代表机构, 其他
    "7": frozenset("129"),  # 宗教: 宗教活动场所, 宗教院校, 其他
    "8": frozenset("19"),  # 工会: 基层工会, 其他
    "9": frozenset("123"),  # 工商 (市场监管): 企业, 个体工商户, 农民专业合作社
    "A": frozenset("19"),  # 中央军委改革和编制办公室: 军队事业单位, 其他
    "N": frozenset("1239"),  # 农业: 组级/村级/乡镇级集体经济组织, 其他
    "Y": frozenset("1"),  # 其他
}

# Real codes issued before the checks were enforced everywhere that fail a check character but are legally
# valid. Listing them one by one (never relaxing the algorithm) keeps typos caught. Empty until one is met.
USCC_CHECKSUM_EXCEPTIONS: frozenset[str] = frozenset()

_DIVISION6_RE = re.compile(r"[0-9]{6}")


def uscc_check_char(first17: str) -> str:
    """Return the 18th (check) character of a USCC from its first 17 characters.

    GB 32100-2015: weights are ``3^(i-1) mod 31``; the check is
    ``USCC_CHARSET[(31 - sum mod 31) mod 31]``. Raises ``ValueError`` if ``first17`` is not 17 characters
    of ``USCC_CHARSET``.
    """
    if len(first17) != 17 or any(ch not in _USCC_VALUE for ch in first17):
        raise ValueError("first17 must be 17 characters of the USCC character set")
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Tell whether ``code`` is a well-formed USCC with valid check characters.

    Checks, in order: 18 characters of ``USCC_CHARSET`` (upper case; no normalisation, so callers compare
    what they store); a known registration authority and a category allowed for it; a 6-digit division
    code; the embedded organisation code's own GB 11714 check character; the final GB 32100 check
    character. A code listed in ``USCC_CHECKSUM_EXCEPTIONS`` passes the two check-character tests only.
    """
    if not isinstance(code, str) or len(code) != 18 or any(ch not in _USCC_VALUE for ch in code):
        return False
    if code[1] not in USCC_AUTHORITY_CATEGORIES.get(code[0], frozenset()):
        return False
    if not _DIVISION6_RE.fullmatch(code[2:8]):
        return False
    if code in USCC_CHECKSUM_EXCEPTIONS:
        return True
    return is_valid_org_code(code[8:17]) and uscc_check_char(code[:17]) == code[17]


# Letters the standard leaves out because they read as digits: typed for the digit, they can never be right.
USCC_LOOKALIKES = {"O": "0", "I": "1"}
_SPACES_AND_DASHES = re.compile(r"[\s\-‐‑‒–—―－]+")


def normalise_uscc(text: str) -> str:
    """A USCC as typed, in the form it is checked and stored in: full-width characters made half-width (NFKC),
    spaces and dashes removed, letters upper case. ``" ９１４４ ０７００-708039146q "`` ->
    ``"91440700708039146Q"``. Nothing else is changed (an ``O`` stays an ``O``: see ``uscc_lookalike_fix``);
    anything that is not a string comes back as it is, for the validator to refuse."""
    if not isinstance(text, str):
        return text
    return _SPACES_AND_DASHES.sub("", unicodedata.normalize("NFKC", text)).upper()


def uscc_lookalike_fix(code: str) -> str | None:
    """The valid USCC ``code`` would be with every ``O`` read as ``0`` and every ``I`` as ``1``, when ``code``
    (normalised) is itself invalid and that reading is valid; otherwise None. The standard's character set has
    no ``O`` or ``I``, so this reading is the only one that can make such a code valid."""
    code = normalise_uscc(code)
    if not isinstance(code, str) or is_valid_uscc(code) or not any(ch in USCC_LOOKALIKES for ch in code):
        return None
    fixed = "".join(USCC_LOOKALIKES.get(ch, ch) for ch in code)
    return fixed if is_valid_uscc(fixed) else None


# ---------------------------------------------------------------------------------------------------------
# Organisation code 组织机构代码 (GB 11714-1997)
# ---------------------------------------------------------------------------------------------------------

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY_RE = re.compile(r"[0-9A-Z]{8}")

# A generated body must also fit inside a USCC, so it may only use letters both standards accept.
ORG_CODE_BODY_CHARSET = USCC_CHARSET


def _org_value(ch: str) -> int:
    # GB 11714 values letters by alphabet position (A=10 .. Z=35), unlike GB 32100's index in its charset.
    return int(ch) if ch.isdigit() else ord(ch) - ord("A") + 10


def org_code_check_char(body8: str) -> str:
    """Return the GB 11714 check character for an 8-character organisation code body.

    Weights 3,7,9,10,5,8,4,2; digits count 0-9 and letters A=10 .. Z=35; ``C = 11 - sum mod 11`` with
    10 written ``X`` and 11 written ``0``. Raises ``ValueError`` if ``body8`` is not 8 of ``[0-9A-Z]``.
    """
    if not _ORG_BODY_RE.fullmatch(body8):
        raise ValueError("body8 must be 8 characters of [0-9A-Z]")
    c = 11 - sum(_org_value(ch) * w for ch, w in zip(body8, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def is_valid_org_code(code9: str) -> bool:
    """Tell whether ``code9`` is a 9-character organisation code whose last character checks (GB 11714).

    Only the compact spelling is accepted (``708039146``, not ``70803914-6``): callers strip the hyphen.
    """
    if not isinstance(code9, str) or len(code9) != 9 or not _ORG_BODY_RE.fullmatch(code9[:8]):
        return False
    return org_code_check_char(code9[:8]) == code9[8]


def _system_rng() -> random.Random:
    # Codes are handed out as identifiers: predictable ones would let anyone guess the next enterprise's.
    return secrets.SystemRandom()


def generate_org_code(rng: random.Random | None = None) -> str:
    """Generate a random new-style organisation code: ``MA`` + 6 characters + GB 11714 check character.

    The body uses only characters valid in both GB 11714 and ``USCC_CHARSET`` so the result can be embedded
    in a USCC. Uses OS randomness (``secrets``) unless ``rng`` is given (tests pass a seeded one).
    Uniqueness is not guaranteed: the caller's registry must enforce it.
    """
    rng = rng or _system_rng()
    # "MA" marks codes issued after the USCC reform, so they never collide with legacy numeric codes.
    body = "MA" + "".join(rng.choice(ORG_CODE_BODY_CHARSET) for _ in range(6))
    return body + org_code_check_char(body)


def make_uscc(division_code: str, org_code: str, authority: str = "9", category: str = "1") -> str:
    """Assemble a USCC from its parts and append the check character.

    ``authority`` is the 登记管理部门代码 (``9`` market regulation), ``category`` the 机构类别代码 (for ``9``:
    ``1`` enterprise, ``2`` individual business, ``3`` farmers' cooperative), ``division_code`` the 6-digit
    GB/T 2260 code of the registering authority, ``org_code`` a valid 9-character organisation code.
    Raises ``ValueError`` for any invalid part.
    """
    if category not in USCC_AUTHORITY_CATEGORIES.get(authority, frozenset()):
        raise ValueError(f"category {category!r} is not valid for registration authority {authority!r}")
    if not _DIVISION6_RE.fullmatch(division_code):
        raise ValueError("division_code must be 6 digits")
    if not is_valid_org_code(org_code) or any(ch not in _USCC_VALUE for ch in org_code):
        raise ValueError("org_code must be a valid organisation code using only USCC characters")
    first17 = authority + category + division_code + org_code
    return first17 + uscc_check_char(first17)


def generate_uscc(division_code: str, category: str = "1", rng: random.Random | None = None) -> str:
    """Generate a new market-regulation (authority ``9``) USCC for ``division_code`` with a fresh org code.

    Randomness as in ``generate_org_code``; the caller must still enforce uniqueness when storing it.
    """
    return make_uscc(division_code, generate_org_code(rng), authority="9", category=category)


# ---------------------------------------------------------------------------------------------------------
# Resident ID 居民身份证号码 (GB 11643-1999)
# ---------------------------------------------------------------------------------------------------------

# [0-9] rather than \d: \d also matches non-ASCII digits, which int() would then happily accept.
_RESIDENT_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)


def _normalise_resident_id(id_number: str) -> str:
    # People type the check "X" in either case; the standard letter is upper case.
    return id_number.strip().upper()


def _birth_date(normalised: str) -> date | None:
    try:
        return date(int(normalised[6:10]), int(normalised[10:12]), int(normalised[12:14]))
    except ValueError:
        return None


def resident_id_problem(id_number: str, today: date | None = None) -> str | None:
    """Return ``None`` if ``id_number`` is a valid 18-character resident ID, else what is wrong with it.

    Problem codes: ``"format"`` (not 17 digits followed by a digit or ``X``), ``"birth_date"`` (digits
    7-14 are not a real date, or are before 1900, or after ``today``, which defaults to the local date),
    ``"check_digit"`` (ISO 7064 MOD 11-2 fails). A lower-case ``x`` and surrounding spaces are accepted.
    """
    if not isinstance(id_number, str):
        return "format"
    normalised = _normalise_resident_id(id_number)
    if not _RESIDENT_ID_RE.fullmatch(normalised):
        return "format"
    born = _birth_date(normalised)
    if born is None or born < _EARLIEST_BIRTH or born > (today or date.today()):
        return "birth_date"
    total = sum(int(ch) * w for ch, w in zip(normalised[:17], _RESIDENT_ID_WEIGHTS, strict=True))
    if _RESIDENT_ID_CHECK[total % 11] != normalised[17]:
        return "check_digit"
    return None


def is_valid_resident_id(id_number: str, today: date | None = None) -> bool:
    """Tell whether ``id_number`` is a valid resident ID (see ``resident_id_problem``)."""
    return resident_id_problem(id_number, today) is None


def birth_date_of(id_number: str) -> date:
    """Return the birth date encoded in a valid resident ID; raise ``ValueError`` naming the problem."""
    problem = resident_id_problem(id_number)
    if problem is not None:
        raise ValueError(f"invalid resident ID: {problem}")
    born = _birth_date(_normalise_resident_id(id_number))
    assert born is not None  # resident_id_problem already proved the date is real
    return born


def _mask(text: str, keep_head: int, keep_tail: int) -> str:
    # Too short to keep both ends without revealing most of it: hide everything.
    if len(text) <= keep_head + keep_tail:
        return "*" * len(text)
    return text[:keep_head] + "*" * (len(text) - keep_head - keep_tail) + text[-keep_tail:]


def mask_resident_id(id_number: str) -> str:
    """Mask a resident ID for logs and public answers: ``11010519491231002X`` -> ``110105********002X``.

    Keeps the 6-digit division and the last 4 characters, so a person can recognise their own number
    without the birth date being disclosed. Works on any string (even invalid ones), never raising.
    """
    return _mask(_normalise_resident_id(id_number), 6, 4)


# ---------------------------------------------------------------------------------------------------------
# Identity documents 身份证件: resident ID, travel permits of Hong Kong, Macao and Taiwan residents, passports
# ---------------------------------------------------------------------------------------------------------

# document type -> (Chinese name, English name)
DOCUMENT_TYPES: dict[str, tuple[str, str]] = {
    "resident_id": ("居民身份证", "resident ID card"),
    "hk_macao_permit": ("港澳居民来往内地通行证", "Mainland Travel Permit for Hong Kong and Macao Residents"),
    "taiwan_permit": ("台湾居民来往大陆通行证", "Mainland Travel Permit for Taiwan Residents"),
    "passport": ("护照", "passport"),
}
# 回乡证: H (Hong Kong) or M (Macao) and 8 digits, the card of 2013 on (10 digits on the booklet before it).
_HK_MACAO_PERMIT_RE = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
# 台胞证: 8 digits on the card of 2015 on; the booklet before it had 10 digits and a letter in brackets.
_TAIWAN_PERMIT_RE = re.compile(r"[0-9]{8}|[0-9]{10}(?:\([A-Z]\)|[A-Z])?")
# ICAO 9303: a passport number is at most 9 characters in the machine-readable zone; some states issue
# longer ones in the visual zone. Letters and digits only.
_PASSPORT_RE = re.compile(r"[A-Z0-9]{5,17}")


def normalise_document_number(number: str) -> str:
    """A document number as compared and checked: half-width (NFKC), no spaces, upper case."""
    if not isinstance(number, str):
        return number
    return "".join(unicodedata.normalize("NFKC", number).split()).upper()


def document_number_problem(document_type: str, number: str, today: date | None = None) -> str | None:
    """None when ``number`` is a well-formed number of a document of ``document_type`` (a key of
    ``DOCUMENT_TYPES``), else what is wrong: for a resident ID, ``resident_id_<problem>`` as
    ``resident_id_problem`` says; otherwise ``<document_type>_invalid``; ``document_type_unknown`` for a type
    that is not one of them. Numbers are normalised first (``normalise_document_number``)."""
    if document_type not in DOCUMENT_TYPES:
        return "document_type_unknown"
    normalised = normalise_document_number(number)
    if document_type == "resident_id":
        problem = resident_id_problem(normalised, today)
        return f"resident_id_{problem}" if problem else None
    pattern = {"hk_macao_permit": _HK_MACAO_PERMIT_RE, "taiwan_permit": _TAIWAN_PERMIT_RE,
               "passport": _PASSPORT_RE}[document_type]
    return None if isinstance(normalised, str) and pattern.fullmatch(normalised) else f"{document_type}_invalid"


def mask_document_number(document_type: str, number: str) -> str:
    """Mask any identity document's number for those who do not need it whole: a resident ID as
    ``mask_resident_id``; a permit or passport keeps its first character and last two
    (``H12345678`` -> ``H******78``)."""
    if document_type == "resident_id":
        return mask_resident_id(number)
    return _mask(normalise_document_number(number), 1, 2)


# ---------------------------------------------------------------------------------------------------------
# Mobile numbers 手机号码
# ---------------------------------------------------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def is_valid_mobile(s: str) -> bool:
    """Tell whether ``s`` is a mainland mobile number: 11 ASCII digits matching ``1[3-9]\\d{9}``.

    No ``+86`` prefix, spaces or hyphens: normalise before calling if the form allows them.
    """
    return isinstance(s, str) and _MOBILE_RE.fullmatch(s) is not None


def mask_mobile(s: str) -> str:
    """Mask a mobile number for logs and public answers: ``13800138000`` -> ``138****8000``."""
    return _mask(s.strip(), 3, 4)


# ---------------------------------------------------------------------------------------------------------
# Application numbers 受理编号
# ---------------------------------------------------------------------------------------------------------

APPLICATION_NUMBER_RE = re.compile(r"(?P<prefix>[A-Z][A-Z0-9]{1,9})-(?P<district>[0-9]{6})-(?P<day>[0-9]{8})-"
                                   r"(?P<sequence>[0-9]{6})")
_PREFIX_RE = re.compile(r"[A-Z][A-Z0-9]{1,9}")


def format_application_number(prefix: str, district_code: str, day: date, sequence: int) -> str:
    """Format a human-readable application number, e.g. ``QYKB-440703-20261126-000123``.

    ``prefix`` is the service's upper-case code (2-10 characters, e.g. ``QYKB`` 企业开办), ``district_code``
    the 6-digit county-level code, ``day`` the local acceptance date, ``sequence`` that day's counter
    (0-999999; the caller allocates it uniquely per prefix, district and day). Raises ``ValueError``.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError("prefix must be 2-10 upper-case letters or digits, starting with a letter")
    if not _DIVISION6_RE.fullmatch(district_code):
        raise ValueError("district_code must be 6 digits")
    # bool is an int subclass; True as a sequence number is a bug upstream.
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not 0 <= sequence <= 999_999:
        raise ValueError("sequence must be an integer from 0 to 999999")
    # Not strftime("%Y"): it does not zero-pad years below 1000 on every platform.
    return f"{prefix}-{district_code}-{day.year:04d}{day.month:02d}{day.day:02d}-{sequence:06d}"
