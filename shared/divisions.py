"""Jiangmen's administrative divisions and standard-address resolution (标准化地址, DOMAIN.md Identifiers).

The division table (city -> 7 county-level divisions -> towns and subdistricts, national statistical codes)
ships with the package as ``shared/data/jiangmen_divisions.csv`` and is loaded once at import. It is the
seed of the standard address data: district -> town/subdistrict -> road -> number -> building/room.

``resolve_address`` turns either structured parts or a free-text address into a ``ResolvedAddress``, or
into the full list of problems (一次告知: every problem in one reply). It never raises for bad input.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

__all__ = [
    "COUNTY_CODES",
    "DIVISIONS",
    "JIANGMEN_CODE",
    "ROAD_SUFFIXES",
    "AddressProblem",
    "Division",
    "ResolvedAddress",
    "get_division",
    "is_town_of",
    "normalize_address_text",
    "resolve_address",
    "towns_of",
]

JIANGMEN_CODE = "440700"
_PROVINCE_NAME = "广东省"
_CITY_NAME = "江门市"
_TOWN_LEVELS = frozenset({"town", "subdistrict"})  # 镇 / 街道: the level below a county


@dataclass(frozen=True, slots=True)
class Division:
    """One administrative division.

    ``level`` is ``city``, ``county``, ``subdistrict`` (街道) or ``town`` (镇).
    """

    code: str
    name: str
    level: str
    parent_code: str


def _load_divisions() -> Mapping[str, Division]:
    # Read through importlib.resources so it also works from a wheel or zip, not only a source checkout.
    raw = resources.files("shared").joinpath("data", "jiangmen_divisions.csv").read_text(encoding="utf-8")
    table: dict[str, Division] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        division = Division(row["code"].strip(), row["name"].strip(), row["level"].strip(),
                            row["parent_code"].strip())
        table[division.code] = division
    return MappingProxyType(table)


DIVISIONS: Mapping[str, Division] = _load_divisions()
"""Every division in the shipped table, by code (read-only)."""

COUNTY_CODES: tuple[str, ...] = tuple(sorted(
    d.code for d in DIVISIONS.values() if d.level == "county" and d.parent_code == JIANGMEN_CODE
))
"""The seven county-level divisions of Jiangmen: 440703 蓬江区 ... 440785 恩平市."""


def get_division(code: str) -> Division | None:
    """Return the division with this code, or ``None`` if the table does not have it."""
    return DIVISIONS.get(code) if isinstance(code, str) else None


def towns_of(county_code: str) -> tuple[Division, ...]:
    """Return the towns and subdistricts of a county-level division, ordered by code (empty if unknown)."""
    towns = (d for d in DIVISIONS.values() if d.parent_code == county_code and d.level in _TOWN_LEVELS)
    return tuple(sorted(towns, key=lambda d: d.code))


def is_town_of(town_code: str, county_code: str) -> bool:
    """Tell whether ``town_code`` is a town or subdistrict directly under the county ``county_code``."""
    town = get_division(town_code)
    return town is not None and town.level in _TOWN_LEVELS and town.parent_code == county_code


# ---------------------------------------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------------------------------------

# Longest first so that "大道" wins over "道" and "大街" over "街".
ROAD_SUFFIXES: tuple[str, ...] = (
    "大道", "大街", "胡同", "路", "街", "道", "巷", "里", "村", "坊", "围", "弄", "横",
)
"""Endings a road name (路名) may have; a direction (东/南/西/北/中, optionally 段) may follow."""

_SUFFIX_ALT = "|".join(ROAD_SUFFIXES)
_DIRECTION = "(?:[东南西北中]段?)?"  # 江门大道中, 建设路东段
_ROAD_RE = re.compile(rf"[^号]+?(?:{_SUFFIX_ALT}){_DIRECTION}")
_ROAD_PREFIX_RE = re.compile(rf"[^号]+(?:{_SUFFIX_ALT}){_DIRECTION}")  # greedy: longest road-like prefix
_NUMBER_RE = re.compile(r"(?P<main>[0-9]+)(?P<sub>[-之][0-9]+)?号?")
_TEXT_NUMBER_RE = re.compile(r"(?P<main>[0-9]+)(?P<sub>[-之][0-9]+)?(?:号|$)")
_BUILDING_RE = re.compile(r".+?(?:号楼|栋|幢|座)")
# A town-like token that is not in the table, so the applicant is told which name was not recognised.
_TOWN_TOKEN_RE = re.compile(rf"[^0-9号]{{1,8}}?(?:街道|镇|乡)(?!{_SUFFIX_ALT})")

_PREFIXES = ("中国", "广东省", "广东", "江门市")
_MAX_TEXT = 200  # longer than any real address; bounds the work done on hostile input
_MAX_ROAD = 40


def _compact(text: str) -> str:
    # NFKC folds full-width letters, digits and punctuation (８８号, Ａ座, －) to their ASCII forms.
    folded = unicodedata.normalize("NFKC", text)
    # Format characters (zero-width space, BOM) come along with text pasted from web pages and documents.
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) != "Cf")


def _starts_with_road_suffix(text: str) -> bool:
    return text.startswith(ROAD_SUFFIXES)


def normalize_address_text(text: str) -> str:
    """Normalise an address for comparison and parsing.

    Folds full-width characters to half-width (Unicode NFKC), removes all whitespace (and invisible format
    characters), and strips leading ``中国`` / ``广东省`` / ``广东`` / ``江门市`` in any order.
    A prefix is kept when it is really the start of a road name (``广东路``).
    """
    compact = _compact(text)
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            rest = compact[len(prefix):]
            if compact.startswith(prefix) and rest and not _starts_with_road_suffix(rest):
                compact, stripped = rest, True
                break
    return compact


# ---------------------------------------------------------------------------------------------------------
# Standard address resolution 标准化地址
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddressProblem:
    """Why an address did not resolve: ``field`` is the input at fault, ``code`` a stable problem code.

    Fields: ``district_code``, ``town_code``, ``road``, ``number``, ``building``, ``room``, ``text``.
    Codes: ``district_missing``, ``unknown_district``, ``district_mismatch``, ``town_missing``,
    ``unknown_town``, ``town_not_in_district``, ``town_mismatch``, ``road_missing``, ``road_unrecognised``,
    ``number_missing``, ``number_invalid``, ``too_long``.
    """

    field: str
    code: str
    message_zh: str
    message_en: str


@dataclass(frozen=True, slots=True)
class ResolvedAddress:
    """A standard address; ``full_text`` is its canonical one-line form, e.g.
    ``广东省江门市蓬江区环市街道建设三路88号1201室``."""

    district_code: str
    town_code: str
    road: str
    number: str
    building: str | None
    room: str | None
    full_text: str

    @property
    def district_name(self) -> str:
        """The county-level division's name, e.g. 蓬江区."""
        return DIVISIONS[self.district_code].name

    @property
    def town_name(self) -> str:
        """The town or subdistrict's name, e.g. 环市街道."""
        return DIVISIONS[self.town_code].name


def _district_pattern() -> re.Pattern[str]:
    names = sorted((DIVISIONS[c].name for c in COUNTY_CODES), key=len, reverse=True)
    # "江门蓬江区": people drop the 市 of the city; normalize_address_text only strips the full 江门市.
    return re.compile("(?:江门)?(" + "|".join(map(re.escape, names)) + ")")


_DISTRICT_RE = _district_pattern()
_DISTRICT_BY_NAME = {DIVISIONS[c].name: c for c in COUNTY_CODES}
# Town names are unique within Jiangmen (checked below), which lets a town name alone imply its district.
_TOWNS = [d for d in DIVISIONS.values() if d.level in _TOWN_LEVELS and d.parent_code in COUNTY_CODES]
_TOWN_BY_NAME = {d.name: d for d in _TOWNS}
_TOWN_NAMES_LONGEST_FIRST = sorted(_TOWN_BY_NAME, key=len, reverse=True)
if len(_TOWN_BY_NAME) != len(_TOWNS):
    raise RuntimeError("jiangmen_divisions.csv: town and subdistrict names must be unique within Jiangmen")


def _blank(value: str | None) -> bool:
    return value is None or not isinstance(value, str) or not _compact(value)


def _division_label(code: str) -> str:
    division = DIVISIONS.get(code)
    return f"{division.name}（{code}）" if division else code


def _check_district(code: str, field: str, problems: list[AddressProblem]) -> str | None:
    if code in COUNTY_CODES:
        return code
    problems.append(AddressProblem(
        field, "unknown_district",
        f"区（县级市）代码 {code} 不是江门市的县级行政区，"
        "应为蓬江区、江海区、新会区、台山市、开平市、鹤山市或恩平市之一",
        f"district code {code} is not one of Jiangmen's seven county-level divisions "
        f"({', '.join(COUNTY_CODES)})",
    ))
    return None


def _check_town(code: str, district: str | None, field: str, problems: list[AddressProblem]) -> str | None:
    town = get_division(code)
    if town is None or town.level not in _TOWN_LEVELS or town.parent_code not in COUNTY_CODES:
        problems.append(AddressProblem(
            field, "unknown_town",
            f"乡镇（街道）代码 {code} 不存在",
            f"town/subdistrict code {code} does not exist in Jiangmen",
        ))
        return None
    return _town_in_district(town, district, field, problems)


def _town_in_district(town: Division, district: str | None, field: str,
                      problems: list[AddressProblem]) -> str | None:
    # Without a valid district there is nothing to compare against; the district problem is reported already.
    if district is not None and town.parent_code != district:
        problems.append(AddressProblem(
            field, "town_not_in_district",
            f"{_division_label(town.code)}不属于{_division_label(district)}，"
            f"而属于{_division_label(town.parent_code)}",
            f"{town.name} ({town.code}) is not in {DIVISIONS[district].name} ({district}); it belongs to "
            f"{DIVISIONS[town.parent_code].name} ({town.parent_code})",
        ))
        return None
    return town.code


def _check_road(road: str, field: str, problems: list[AddressProblem]) -> str | None:
    if len(road) <= _MAX_ROAD and _ROAD_RE.fullmatch(road):
        return road
    problems.append(AddressProblem(
        field, "road_unrecognised",
        f"无法识别道路名称“{road}”，道路名称应以路、街、道、巷、大道、里、村、坊、围等结尾",
        f"road {road!r} is not recognised: a road name ends with 路, 街, 道, 巷, 大道, 里, 村, 坊, 围 "
        "or similar",
    ))
    return None


def _check_number(number: str, field: str, problems: list[AddressProblem]) -> str | None:
    match = _NUMBER_RE.fullmatch(number)
    # Leading zeros are a typing habit, not a different number; 0号 does not exist.
    if match and int(match["main"]) > 0:
        return f"{int(match['main'])}{match['sub'] or ''}号"
    problems.append(AddressProblem(
        field, "number_invalid",
        f"门牌号“{number}”无效，应为数字门牌号，如“88号”",
        f"house number {number!r} is invalid: expected a number such as 88号 or 88",
    ))
    return None


def _missing(field: str, part: str, problems: list[AddressProblem]) -> None:
    zh, en = {
        "district": ("区（县级市）", "district (county-level division)"),
        "town": ("乡镇（街道）", "town or subdistrict"),
        "road": ("道路名称", "road name"),
        "number": ("门牌号", "house number"),
    }[part]
    if field == "text":
        where_zh, where_en = "地址中缺少", "the address text has no "
    else:
        where_zh, where_en = "请填写", "missing "
    problems.append(AddressProblem(field, f"{part}_missing", f"{where_zh}{zh}", f"{where_en}{en}"))


def _normalise_room(room: str | None) -> str | None:
    if room is None:
        return None
    # A bare number is a room number (1201 -> 1201室), so the full text does not read as one long number.
    return f"{room}室" if room.isascii() and room.isdigit() else room


@dataclass(slots=True)
class _TextParts:
    district: str | None = None
    town: Division | None = None
    unknown_town_name: str | None = None
    road: str | None = None
    number: str | None = None
    building: str | None = None
    room: str | None = None


def _parse_text(text: str) -> _TextParts:
    parts = _TextParts()
    rest = text
    if match := _DISTRICT_RE.match(rest):
        parts.district = _DISTRICT_BY_NAME[match[1]]
        rest = rest[match.end():]
    town_name = next((name for name in _TOWN_NAMES_LONGEST_FIRST if rest.startswith(name)), None)
    if town_name is not None:
        parts.town = _TOWN_BY_NAME[town_name]
        rest = rest[len(town_name):]
    elif match := _TOWN_TOKEN_RE.match(rest):
        parts.unknown_town_name = match[0]
        rest = rest[match.end():]
    if match := _TEXT_NUMBER_RE.search(rest):
        parts.road = rest[:match.start()] or None
        parts.number = match[0]
        rest = rest[match.end():]
    elif match := _ROAD_PREFIX_RE.match(rest):
        parts.road = match[0]
        rest = rest[match.end():]
    else:
        # Whatever is left is the applicant's idea of a road; _check_road explains why it is not one.
        parts.road, rest = rest or None, ""
    if rest:
        if match := _BUILDING_RE.match(rest):
            parts.building = match[0]
            rest = rest[match.end():]
        parts.room = rest or None
    return parts


def resolve_address(
    district_code: str,
    town_code: str | None,
    road: str | None,
    number: str | None,
    building: str | None = None,
    room: str | None = None,
    text: str | None = None,
) -> tuple[ResolvedAddress | None, list[AddressProblem]]:
    """Resolve an address to a standard address, reporting every problem at once.

    Structured input: ``district_code`` must be one of ``COUNTY_CODES``; ``town_code`` a town/subdistrict
    of that district; ``road`` a road name ending with one of ``ROAD_SUFFIXES`` (a direction such as 中 or
    东段 may follow); ``number`` like ``88号`` or ``88`` (normalised to ``88号``; ``88-1号``/``88之1号`` also
    accepted); ``building`` and ``room`` are optional free detail (a bare room number gets 室). All values
    are normalised (full-width to half-width, whitespace removed).

    Free text (``text`` not blank), e.g. ``江门市蓬江区环市街道建设三路88号1201室``: it is normalised with
    ``normalize_address_text``, then split into district, town, road, number and the rest (building, room).
    A part the text lacks is taken from the matching argument if given (a form may carry the district and
    town as codes and the street address as text); a district or town code that contradicts the text is a
    problem; a town name alone implies its district. Problems found in the text have ``field="text"``.

    Returns ``(address, [])`` on success, ``(None, problems)`` otherwise. Never raises for bad input.
    """
    problems: list[AddressProblem] = []
    district_arg = None if _blank(district_code) else _compact(district_code)
    town_arg = None if _blank(town_code) else _compact(town_code or "")
    road_arg = None if _blank(road) else _compact(road or "")
    number_arg = None if _blank(number) else _compact(number or "")
    building_value = None if _blank(building) else _compact(building or "")
    room_value = None if _blank(room) else _compact(room or "")

    district: str | None = None
    town: str | None = None
    road_value: str | None = None
    number_value: str | None = None

    if district_arg is not None:
        district = _check_district(district_arg, "district_code", problems)

    if not _blank(text):
        normalised = normalize_address_text(text or "")
        if len(normalised) > _MAX_TEXT:
            problems.append(AddressProblem("text", "too_long", f"地址过长（超过{_MAX_TEXT}个字符）",
                                           f"the address text is longer than {_MAX_TEXT} characters"))
            return None, problems
        parts = _parse_text(normalised)

        if parts.district is not None:
            if district_arg is not None and parts.district != district_arg:
                problems.append(AddressProblem(
                    "text", "district_mismatch",
                    f"地址中的{DIVISIONS[parts.district].name}与所选区（县级市）{_division_label(district_arg)}不一致",
                    f"the address text names {DIVISIONS[parts.district].name} ({parts.district}) "
                    f"but the district code is {district_arg}",
                ))
            district = parts.district
        elif district_arg is None and parts.town is not None:
            district = parts.town.parent_code
        elif district_arg is None:
            _missing("text", "district", problems)

        if parts.town is not None:
            if town_arg is not None and parts.town.code != town_arg:
                problems.append(AddressProblem(
                    "text", "town_mismatch",
                    f"地址中的{parts.town.name}与所选乡镇（街道）{_division_label(town_arg)}不一致",
                    f"the address text names {parts.town.name} ({parts.town.code}) "
                    f"but the town code is {town_arg}",
                ))
            town = _town_in_district(parts.town, district, "text", problems)
        elif parts.unknown_town_name is not None:
            district_name = DIVISIONS[district].name if district else "江门市"
            problems.append(AddressProblem(
                "text", "unknown_town",
                f"{district_name}没有名为“{parts.unknown_town_name}”的乡镇（街道）",
                f"{district_name} has no town or subdistrict named {parts.unknown_town_name!r}",
            ))
        elif town_arg is not None:
            town = _check_town(town_arg, district, "town_code", problems)
        else:
            _missing("text", "town", problems)

        road_value = _part_from_text(parts.road, road_arg, "road", _check_road, problems)
        number_value = _part_from_text(parts.number, number_arg, "number", _check_number, problems)
        building_value = parts.building or building_value
        room_value = parts.room or room_value
    else:
        if district_arg is None:
            _missing("district_code", "district", problems)
        if town_arg is None:
            _missing("town_code", "town", problems)
        else:
            town = _check_town(town_arg, district, "town_code", problems)
        if road_arg is None:
            _missing("road", "road", problems)
        else:
            road_value = _check_road(road_arg, "road", problems)
        if number_arg is None:
            _missing("number", "number", problems)
        else:
            number_value = _check_number(number_arg, "number", problems)

    if problems or district is None or town is None or road_value is None or number_value is None:
        return None, problems
    room_value = _normalise_room(room_value)
    full_text = "".join((_PROVINCE_NAME, _CITY_NAME, DIVISIONS[district].name, DIVISIONS[town].name,
                         road_value, number_value, building_value or "", room_value or ""))
    address = ResolvedAddress(district, town, road_value, number_value, building_value, room_value, full_text)
    return address, []


_Check = Callable[[str, str, list[AddressProblem]], str | None]


def _part_from_text(from_text: str | None, from_arg: str | None, part: str, check: _Check,
                    problems: list[AddressProblem]) -> str | None:
    # The text wins; the separate argument only fills a gap, and is then blamed under its own name.
    if from_text is not None:
        return check(from_text, "text", problems)
    if from_arg is not None:
        return check(from_arg, part, problems)
    _missing("text", part, problems)
    return None
