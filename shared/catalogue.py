"""The service catalogue (办事指南, DOMAIN.md "Across all services"; seed §11-§15): for every service item its
conditions, materials (key ones, and those that may come later under 容缺受理), the electronic certificates that
replace a material (一证通办), departments and steps, time limit, fees, channels and legal basis. Pure: no HTTP,
no database, no clock (the day is always passed in); only ``load_catalogue`` reads files.

The catalogue is data, ``shared/data/catalogue.json``, with versions: each entry is in force from its
``effective_from`` until the next version of the same code. A new material list or time limit is a new version
in the file, and the checks that ask this module follow it from that day without a code change. The file is
checked when it is loaded and a malformed one is refused with every problem named (``CatalogueError``).

Figures that cost money are not copied here: a fee points to the dated data it comes from
(``utility_fees.json``, ``realestate_rates.json``), and the view shows the row in force on the day asked.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import fanout, registry
from shared.departments import Department
from shared.settings import Settings, get_settings
from shared.workdays import local_today

CATALOGUE_FILE = "catalogue.json"
LANGUAGES = ("zh", "en", "both")
# A bound against typos (a year of working days), not a legal limit: the law sets each item's own maximum.
MAX_WORKING_DAYS = 250

Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
WorkingDays = Annotated[int, Field(gt=0, le=MAX_WORKING_DAYS)]
SeedTask = Annotated[str, Field(pattern=r"^§[0-9]+$")]
KEY_FLAG_MISSING = ("missing: every material says whether it is key (true: 关键材料, it may never be missing) or may "
                    "come later under 容缺受理 (false)")


class CatalogueError(ValueError):
    """A catalogue file that cannot be used; ``problems`` names every thing wrong with it."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__(f"malformed service catalogue {source}:\n- " + "\n- ".join(self.problems))


class UnknownItem(KeyError):
    """A service item the catalogue does not hold, or holds no version of in force on the day asked."""

    def __str__(self) -> str:
        # KeyError shows its argument quoted (repr); the message reads better as it is.
        return str(self.args[0])


# --- The data, as the file has it ---------------------------------------------------------------------------


class _Data(BaseModel):
    # Strict: a "yes" for a flag or a "5" for a time limit is a mistake to report, not to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Names(_Data):
    """A name in Chinese and English."""

    name_zh: Text
    name_en: Text


class Condition(_Data):
    """A condition of a service item (受理条件), in Chinese and English."""

    zh: Text
    en: Text


class Circumstance(Names):
    """A fact of an application that makes a material or a step apply (e.g. ``residential_use``)."""

    code: Code


class Alternative(Names):
    """Something accepted instead of a material (e.g. a credit report instead of the property certificate)."""

    code: Code
    when: tuple[Code, ...] = ()  # accepted when any of these circumstances holds; always when empty


class Material(Names):
    """A material (申请材料): key (关键材料, never missing) or deferrable (容缺: may come later)."""

    code: Code
    key: bool
    formats: tuple[Code, ...] = Field(min_length=1)
    certificate: Code | None = None  # an electronic certificate the system holds that replaces it (一证通办)
    when: tuple[Code, ...] = ()  # required when any of these circumstances holds; always when empty
    alternatives: tuple[Alternative, ...] = ()

    @property
    def deferrable(self) -> bool:
        """Whether it may be supplied after acceptance (容缺受理)."""
        return not self.key

    def applies(self, circumstances: Collection[str]) -> bool:
        """Whether the material is required in these circumstances."""
        return not self.when or any(c in circumstances for c in self.when)


class Step(Names):
    """A department's part of a service item, as the service's plan has it."""

    department: Department
    kind: Code
    working_days: WorkingDays
    after: tuple[Department, ...] = ()
    when: tuple[Code, ...] = ()  # taken when any of these circumstances holds; always when empty


class FeeSource(_Data):
    """Where a fee's amounts are: a file in ``shared/data``, a list in it, and the rows of that list matching
    ``match``; each row carries its ``effective_from``."""

    file: Annotated[str, Field(pattern=r"^[a-z0-9_]+\.json$")]
    section: Code
    match: dict[str, str] = Field(default_factory=dict)


class Fee(Names):
    """A fee or tax of a service item: free, or charged by the dated data its source names."""

    code: Code
    free: bool
    payer: Literal["applicant", "buyer", "seller", "mortgagee"] | None = None
    source: FeeSource | None = None
    note_zh: Text | None = None
    note_en: Text | None = None


class LegalBasis(Names):
    """A law or regulation and the articles relied on."""

    articles: tuple[Text, ...] = ()


class Period(Names):
    """A statutory period of the item that is not a time limit (a notice, a window), with its unit."""

    code: Code
    value: Annotated[int, Field(gt=0)]
    unit: Literal["calendar_days", "working_days", "years"]


class Certificate(Names):
    """An electronic certificate the system issues and verifies by code (电子证照)."""

    code: Code
    issued_by: Text
    verify_path: Text


class Entry(Names):
    """One version of a service item's guide."""

    code: Code
    effective_from: date
    service: Text
    application_path: Text
    seed: tuple[SeedTask, ...] = Field(min_length=1)
    conditions: tuple[Condition, ...] = Field(min_length=1)
    circumstances: tuple[Circumstance, ...] = ()
    materials: tuple[Material, ...] = Field(min_length=1)
    steps: tuple[Step, ...] = Field(min_length=1)
    time_limit_working_days: WorkingDays
    deferral_working_days: WorkingDays | None = None
    periods: tuple[Period, ...] = ()
    fees: tuple[Fee, ...] = Field(min_length=1)
    channels: tuple[Code, ...] = Field(min_length=1)
    legal_basis: tuple[LegalBasis, ...] = Field(min_length=1)

    @property
    def departments(self) -> tuple[Department, ...]:
        """The departments of its steps, in step order."""
        return tuple(dict.fromkeys(s.department for s in self.steps))

    def material(self, code: str) -> Material:
        """One of its materials (KeyError when it has none of that code)."""
        for m in self.materials:
            if m.code == code:
                return m
        raise UnknownItem(f"{self.code} (from {self.effective_from}) has no material {code!r}")


class _File(_Data):
    about: Text
    formats: dict[Code, Names]
    channels: dict[Code, Names]
    department_names_en: dict[Department, Text]
    certificates: tuple[Certificate, ...]
    entries: tuple[Entry, ...] = Field(min_length=1)


# --- The catalogue and its queries ----------------------------------------------------------------------------

SourceKey = tuple[str, str, tuple[tuple[str, str], ...]]
Row = tuple[date, Mapping[str, Any]]


def _source_key(source: FeeSource) -> SourceKey:
    return source.file, source.section, tuple(sorted(source.match.items()))


@dataclass(frozen=True)
class Catalogue:
    """Every version of every service item, checked; the queries take the day they are asked for."""

    about: str
    formats: Mapping[str, Names]
    channels: Mapping[str, Names]
    department_names_en: Mapping[Department, str]
    certificates: Mapping[str, Certificate]
    versions: Mapping[str, tuple[Entry, ...]]  # by code, oldest first
    fee_rows: Mapping[SourceKey, tuple[Row, ...]]  # by source, oldest first

    def codes(self) -> tuple[str, ...]:
        """Every service item's code, in the file's order, whether in force yet or not."""
        return tuple(self.versions)

    def entry(self, code: str, day: date) -> Entry:
        """The version of ``code`` in force on ``day``. Raises ``UnknownItem`` (a ``KeyError``) for a code the
        catalogue does not hold, or one whose first version takes effect later."""
        versions = self.versions.get(code)
        if versions is None:
            raise UnknownItem(f"no service item {code!r} in the catalogue; known: {', '.join(self.versions)}")
        in_force = [v for v in versions if v.effective_from <= day]
        if not in_force:
            raise UnknownItem(f"service item {code!r} is not in force on {day}: its first version takes effect "
                              f"on {versions[0].effective_from}")
        return in_force[-1]

    def entries(self, day: date) -> tuple[Entry, ...]:
        """Every service item in force on ``day`` (its version of that day), in the file's order."""
        return tuple(self.entry(code, day) for code, versions in self.versions.items()
                     if versions[0].effective_from <= day)

    def circumstances_of(self, code: str) -> frozenset[str]:
        """Every circumstance some version of ``code`` declares (a service need not know which is in force)."""
        return frozenset(c.code for v in self.versions[code] for c in v.circumstances)

    def _circumstances(self, code: str, given: Collection[str]) -> set[str]:
        # A circumstance some version declares is fine on any day (a service need not know which version is in
        # force); one no version declares is a caller's typo that would silently drop a material.
        known = self.circumstances_of(code)
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"{code} knows no circumstance {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return set(given)

    def required_materials(self, code: str, day: date, *, circumstances: Collection[str] = ()
                           ) -> tuple[tuple[Material, ...], tuple[Material, ...]]:
        """The materials ``code`` requires on ``day`` in these circumstances: (key, deferrable), each in the
        guide's order. Key materials may never be missing; deferrable ones may come later (容缺受理)."""
        entry = self.entry(code, day)
        given = self._circumstances(code, circumstances)
        required = [m for m in entry.materials if m.applies(given)]
        return tuple(m for m in required if m.key), tuple(m for m in required if not m.key)

    def missing(self, code: str, day: date, supplied: Collection[str], *, circumstances: Collection[str] = (),
                certificates: Collection[str] = ()) -> tuple[tuple[Material, ...], tuple[Material, ...]]:
        """The required materials not supplied: (missing key, missing deferrable). Missing key materials refuse
        the application; with only deferrable ones missing it is accepted and they are due within
        ``deferral_working_days`` (容缺受理).

        ``supplied`` are material codes (or a material's alternative's code, when the alternative applies);
        codes the item does not ask for are ignored. ``certificates`` are the electronic certificates the system
        holds for this application (verified by their code): a material they replace is not asked for (一证通办).
        """
        unknown = sorted(set(certificates) - set(self.certificates))
        if unknown:
            raise ValueError(f"no certificate {', '.join(unknown)}; known: {', '.join(self.certificates)}")
        given = self._circumstances(code, circumstances)
        held = set(certificates)

        def satisfied(m: Material) -> bool:
            if m.code in supplied or (m.certificate is not None and m.certificate in held):
                return True
            return any(a.code in supplied and (not a.when or any(c in given for c in a.when))
                       for a in m.alternatives)

        key, deferrable = self.required_materials(code, day, circumstances=given)
        return tuple(m for m in key if not satisfied(m)), tuple(m for m in deferrable if not satisfied(m))

    def time_limit(self, code: str, day: date) -> int:
        """The committed time limit (承诺时限) of ``code`` on ``day``, in working days."""
        return self.entry(code, day).time_limit_working_days

    def deferral_working_days(self, code: str, day: date) -> int | None:
        """Working days to supply a deferred material after acceptance, or None when nothing may be deferred."""
        return self.entry(code, day).deferral_working_days

    def recognised_certificates(self, code: str, day: date) -> dict[str, Certificate]:
        """The electronic certificates ``code`` recognises on ``day``, by the material each replaces."""
        entry = self.entry(code, day)
        return {m.code: self.certificates[m.certificate] for m in entry.materials if m.certificate is not None}

    def fee_in_force(self, fee: Fee, day: date) -> dict[str, Any] | None:
        """The row of the fee's source in force on ``day`` (as the data file has it), or None for a free fee or
        a day before the data's first row."""
        if fee.source is None:
            return None
        rows = [row for start, row in self.fee_rows[_source_key(fee.source)] if start <= day]
        return dict(rows[-1]) if rows else None

    def public_item(self, code: str, day: date, lang: str = "zh") -> dict[str, Any]:
        """The guide of ``code`` on ``day`` as JSON-ready data (``GET /api/v1/catalogue/{item}``): ``lang`` "zh"
        or "en" gives one language, "both" gives ``*_zh`` and ``*_en`` side by side."""
        _check_lang(lang)
        return self._item(self.entry(code, day), day, lang)

    def public_view(self, day: date, lang: str = "zh") -> dict[str, Any]:
        """Every service item's guide on ``day`` as JSON-ready data (``GET /api/v1/catalogue``)."""
        _check_lang(lang)
        return {"day": day.isoformat(), "lang": lang,
                "items": [self._item(entry, day, lang) for entry in self.entries(day)]}

    def _item(self, e: Entry, day: date, lang: str) -> dict[str, Any]:
        def named(code: str, names: Names) -> dict[str, Any]:
            return {"code": code, **_text("name", names.name_zh, names.name_en, lang)}

        def department(d: Department) -> dict[str, Any]:
            return {"code": d.value, **_text("name", d.name_zh, self.department_names_en[d], lang)}

        def certificate(code: str | None) -> dict[str, Any] | None:
            if code is None:
                return None
            cert = self.certificates[code]
            return {**named(code, cert), "verify_path": cert.verify_path}

        return {
            **named(e.code, e),
            "service": e.service,
            "effective_from": e.effective_from.isoformat(),
            "application_path": e.application_path,
            "seed": list(e.seed),
            "conditions": [_text("text", c.zh, c.en, lang) for c in e.conditions],
            "circumstances": [named(c.code, c) for c in e.circumstances],
            "materials": [{
                **named(m.code, m), "key": m.key, "deferrable": m.deferrable, "when": list(m.when),
                "formats": [named(f, self.formats[f]) for f in m.formats],
                "certificate": certificate(m.certificate),
                "alternatives": [{**named(a.code, a), "when": list(a.when)} for a in m.alternatives],
            } for m in e.materials],
            "departments": [department(d) for d in e.departments],
            "steps": [{
                "department": department(s.department), "kind": s.kind,
                **_text("name", s.name_zh, s.name_en, lang), "after": [d.value for d in s.after],
                "working_days": s.working_days, "when": list(s.when),
            } for s in e.steps],
            "time_limit_working_days": e.time_limit_working_days,
            "deferral_working_days": e.deferral_working_days,
            "periods": [{**named(p.code, p), "value": p.value, "unit": p.unit} for p in e.periods],
            "fees": [{
                **named(f.code, f), "free": f.free, "payer": f.payer,
                **_text("note", f.note_zh, f.note_en, lang),
                "source": f.source.model_dump() if f.source else None,
                "in_force": self.fee_in_force(f, day),
            } for f in e.fees],
            "channels": [named(c, self.channels[c]) for c in e.channels],
            "legal_basis": [{**_text("name", b.name_zh, b.name_en, lang), "articles": list(b.articles)}
                            for b in e.legal_basis],
        }


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")


def _text(field: str, zh: str | None, en: str | None, lang: str) -> dict[str, str | None]:
    if lang == "both":
        return {f"{field}_zh": zh, f"{field}_en": en}
    return {field: zh if lang == "zh" else en}


# --- Loading and checking -------------------------------------------------------------------------------------


def _shipped_data() -> Traversable:
    # Through importlib.resources so it also works from an installed wheel.
    return resources.files("shared").joinpath("data")


def load_catalogue(path: Path | str | None = None, *, data_dir: Traversable | Path | str | None = None) -> Catalogue:
    """Read and check a catalogue: ``path``, else the one shipped as ``shared/data/catalogue.json``. The fee
    sources it names are read from ``data_dir``, by default the shipped ``shared/data``. Raises
    ``CatalogueError`` naming every problem of a malformed file."""
    if path is None:
        text = _shipped_data().joinpath(CATALOGUE_FILE).read_text(encoding="utf-8")
        source = f"shared/data/{CATALOGUE_FILE}"
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = str(path)
    folder = _shipped_data() if data_dir is None else Path(data_dir) if isinstance(data_dir, str) else data_dir
    return parse_catalogue(text, source=source, data_dir=folder)


def parse_catalogue(text: str, *, source: str = "catalogue", data_dir: Traversable | Path | None = None) -> Catalogue:
    """A catalogue from its JSON text, checked (see ``load_catalogue``)."""
    try:
        raw = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except _DuplicateKey as duplicate:
        raise CatalogueError(source, [str(duplicate)]) from None
    except ValueError as error:
        raise CatalogueError(source, [f"not JSON: {error}"]) from None
    try:
        data = _File.model_validate_json(text)
    except ValidationError as error:
        raise CatalogueError(source, _structure_problems(error, raw)) from None
    rows, problems = _fee_rows(data, _shipped_data() if data_dir is None else data_dir)
    problems = _problems(data) + problems
    if problems:
        raise CatalogueError(source, problems)
    versions: dict[str, list[Entry]] = {}
    for entry in data.entries:
        versions.setdefault(entry.code, []).append(entry)
    return Catalogue(
        about=data.about, formats=data.formats, channels=data.channels,
        department_names_en=data.department_names_en, certificates={c.code: c for c in data.certificates},
        versions={code: tuple(v) for code, v in versions.items()}, fee_rows=rows,
    )


class _DuplicateKey(ValueError):
    pass


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys silently: a pasted-over material would vanish unnoticed.
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            where = f" (in the object with code {seen['code']!r})" if isinstance(seen.get("code"), str) else ""
            raise _DuplicateKey(f"the key {name!r} appears twice in one object{where}")
        seen[name] = value
    return seen


def _entry_label(raw: Any, index: int) -> str:
    """``entries[3] (enterprise_opening from 2024-07-01)``, with what the raw data has of the code and date."""
    items = raw.get("entries") if isinstance(raw, dict) else None
    item = items[index] if isinstance(items, list) and index < len(items) else None
    if isinstance(item, dict) and isinstance(item.get("code"), str):
        return f"entries[{index}] ({item['code']} from {item.get('effective_from')})"
    return f"entries[{index}]"


def _structure_problems(error: ValidationError, raw: Any) -> list[str]:
    problems = []
    for e in error.errors():
        loc = list(e["loc"])
        label = ""
        if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
            label, loc = _entry_label(raw, loc[1]), loc[2:]
        path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
        key_flag = e["type"] == "missing" and len(loc) >= 3 and loc[-3] == "materials" and loc[-1] == "key"
        message = KEY_FLAG_MISSING if key_flag else e["msg"]
        where = ": ".join(part for part in (label, path) if part)
        problems.append(f"{where}: {message}")
    return problems


def _problems(data: _File) -> list[str]:
    """What the file's shape cannot say: references, uniqueness, order, and agreement with the registry."""
    problems: list[str] = []
    services = registry.services()
    for i, cert in enumerate(data.certificates):
        at = f"certificates[{i}] ({cert.code})"
        if cert.code in {c.code for c in data.certificates[:i]}:
            problems.append(f"{at}: code {cert.code!r} appears twice")
        if cert.issued_by not in services:
            problems.append(f"{at}: issued_by {cert.issued_by!r} is not a service in shared.registry "
                            f"(known: {', '.join(services)})")
        elif _owner(cert.verify_path) != cert.issued_by or not registry.is_anonymous(cert.verify_path):
            problems.append(f"{at}: verify_path {cert.verify_path!r} is not a public (anonymous) path of "
                            f"{cert.issued_by}")
    first: dict[tuple[str, date], int] = {}
    latest: dict[str, Entry] = {}
    for i, entry in enumerate(data.entries):
        at = f"entries[{i}] ({entry.code} from {entry.effective_from})"
        earlier = latest.get(entry.code)
        if (entry.code, entry.effective_from) in first:
            same = first[entry.code, entry.effective_from]
            problems.append(f"{at}: a second version of {entry.code} from {entry.effective_from} (entries[{same}] "
                            "has that date); one version per code and date")
        elif earlier is not None and entry.effective_from < earlier.effective_from:
            problems.append(f"{at}: versions are listed oldest first, but this one comes after the version from "
                            f"{earlier.effective_from}")
        if earlier is not None and earlier.service != entry.service:
            problems.append(f"{at}: service {entry.service!r} differs from the earlier version's "
                            f"{earlier.service!r}; a service item keeps its service (give it a new code)")
        first.setdefault((entry.code, entry.effective_from), i)
        if earlier is None or entry.effective_from >= earlier.effective_from:
            latest[entry.code] = entry
        problems += [f"{at}: {p}" for p in _entry_problems(entry, data, services)]
    return problems


def _owner(path: str) -> str | None:
    spec = registry.owner_of(path)
    return spec.name if spec else None


def _twice(codes: Iterable[str]) -> list[str]:
    """The codes that appear again after their first time."""
    seen: set[str] = set()
    again = []
    for code in codes:
        if code in seen:
            again.append(code)
        seen.add(code)
    return again


def _entry_problems(e: Entry, data: _File, services: Mapping[str, registry.ServiceSpec]) -> list[str]:
    problems: list[str] = []
    if e.service not in services:
        problems.append(f"service {e.service!r} is not a service in shared.registry (known: {', '.join(services)})")
    elif _owner(e.application_path) != e.service:
        problems.append(f"application_path {e.application_path!r} is not a public path of {e.service}")

    circumstances = {c.code for c in e.circumstances}
    problems += [f"circumstance {c!r} appears twice" for c in _twice(c.code for c in e.circumstances)]

    def unknown_when(where: str, when: Iterable[str]) -> None:
        problems.extend(f"{where}: when {w!r} is not one of the entry's circumstances" for w in when
                        if w not in circumstances)

    codes = [m.code for m in e.materials] + [a.code for m in e.materials for a in m.alternatives]
    problems += [f"material code {c!r} appears twice (material codes are unique within an entry)"
                 for c in _twice(codes)]
    for k, m in enumerate(e.materials):
        where = f"materials[{k}] ({m.code})"
        problems += [f"{where}: format {f!r} is not one of the catalogue's formats ({', '.join(data.formats)})"
                     for f in m.formats if f not in data.formats]
        if m.certificate is not None and m.certificate not in {c.code for c in data.certificates}:
            problems.append(f"{where}: certificate {m.certificate!r} is not one of the catalogue's certificates")
        unknown_when(where, m.when)
        for a in m.alternatives:
            unknown_when(f"{where}.alternatives ({a.code})", a.when)
    deferrable = [m.code for m in e.materials if not m.key]
    if deferrable and e.deferral_working_days is None:
        problems.append(f"materials {', '.join(deferrable)} may come later (key: false) but deferral_working_days, "
                        "the time to supply them, is missing")

    departments = [s.department for s in e.steps]
    problems += [f"department {d} has two steps (one step per department)" for d in _twice(departments)]
    for k, s in enumerate(e.steps):
        where = f"steps[{k}] ({s.department.value})"
        problems += [f"{where}: after {d.value!r}, which has no step in the entry" for d in s.after
                     if d not in departments]
        if s.working_days > e.time_limit_working_days:
            problems.append(f"{where}: takes {s.working_days} working days, more than the item's time limit of "
                            f"{e.time_limit_working_days}")
        if s.department not in data.department_names_en:
            problems.append(f"{where}: department {s.department.value} has no name in department_names_en")
        unknown_when(where, s.when)
    cycle = _cycle(e.steps)
    if cycle:
        problems.append(f"steps wait for each other in a circle: {' → '.join(cycle)}")

    problems += [f"channel {c!r} is not one of the catalogue's channels ({', '.join(data.channels)})"
                 for c in e.channels if c not in data.channels]
    problems += [f"channel {c!r} appears twice" for c in _twice(e.channels)]
    problems += [f"fee {c!r} appears twice" for c in _twice(f.code for f in e.fees)]
    for k, f in enumerate(e.fees):
        if f.free and f.source is not None:
            problems.append(f"fees[{k}] ({f.code}): a free fee names no source")
        if not f.free and f.source is None:
            problems.append(f"fees[{k}] ({f.code}): a fee that costs money names its source (the dated data of its "
                            "amounts) instead of an amount")
    problems += [f"period {c!r} appears twice" for c in _twice(p.code for p in e.periods)]
    return problems


def _cycle(steps: Iterable[Step]) -> list[str]:
    """A circle of steps waiting for each other (as department codes, the first repeated last), or []."""
    after = {s.department: s.after for s in steps}
    done: set[Department] = set()

    def visit(d: Department, path: list[Department]) -> list[str]:
        if d in path:
            return [x.value for x in path[path.index(d):]] + [d.value]
        if d in done or d not in after:
            return []
        for before in after[d]:
            found = visit(before, [*path, d])
            if found:
                return found
        done.add(d)
        return []

    for department in after:
        found = visit(department, [])
        if found:
            return found
    return []


def _fee_rows(data: _File, folder: Traversable | Path) -> tuple[dict[SourceKey, tuple[Row, ...]], list[str]]:
    """The dated rows each fee source names, and the problems of sources that name nothing usable."""
    files: dict[str, Any] = {}
    rows: dict[SourceKey, tuple[Row, ...]] = {}
    problems: list[str] = []
    for i, entry in enumerate(data.entries):
        for k, fee in enumerate(entry.fees):
            if fee.source is None:
                continue
            src = fee.source
            at = f"entries[{i}] ({entry.code} from {entry.effective_from}): fees[{k}] ({fee.code}).source"
            if src.file not in files:
                files[src.file] = _read_json(folder.joinpath(src.file))
            content = files[src.file]
            if isinstance(content, str):
                problems.append(f"{at}: {src.file}: {content}")
                continue
            section = content.get(src.section) if isinstance(content, dict) else None
            if not isinstance(section, list):
                problems.append(f"{at}: {src.file} has no list {src.section!r}")
                continue
            matched = [row for row in section if isinstance(row, dict)
                       and all(row.get(name) == value for name, value in src.match.items())]
            if not matched:
                problems.append(f"{at}: no row of {src.file} {src.section} matches {src.match}")
                continue
            dated: list[Row] = []
            for row in matched:
                try:
                    dated.append((date.fromisoformat(row["effective_from"]), row))
                except (KeyError, TypeError, ValueError):
                    problems.append(f"{at}: a row of {src.file} {src.section} has no ISO effective_from: {row}")
            rows[_source_key(src)] = tuple(sorted(dated, key=lambda r: r[0]))
    return rows, problems


def _read_json(file: Traversable | Path) -> Any:
    """The file's JSON, or a string saying why there is none."""
    if not file.is_file():
        return "no such data file"
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except ValueError as error:
        return f"not JSON: {error}"


def guide_working_days(entries: Iterable[Entry], department: Department | str) -> int | None:
    """限时办结: the working days of ``department``'s step in the first of ``entries`` that has one (None when
    none has), for a service that plans one application across several service items."""
    for e in entries:
        for step in e.steps:
            if step.department == department:
                return step.working_days
    return None


def timed_plan(steps: Iterable[fanout.Step], guide: Entry | Sequence[Entry], *,
               own: Mapping[Department, Entry] | None = None) -> fanout.Plan:
    """限时办结 from the catalogue: a service's steps (its departments, what each does, who waits for whom) with the
    working days of the guide's step of each department — in its ``own`` entry when it has one (a supplier's in its
    utility's item), else in the first of the entries that has one, for a service that plans one application across
    several items — and the whole bounded by its longest chain of dependent steps, never beyond the largest
    committed time limit (承诺时限) of the entries. A department no entry has a step for gets that time limit whole
    (the shipped catalogue agrees with every plan: tests/unit/test_catalogue.py). Pure: the service picks the
    entries, those in force on the day its application was submitted (``guide_of``)."""
    entries = (guide,) if isinstance(guide, Entry) else tuple(guide)
    if not entries:
        raise ValueError("a plan is timed by at least one catalogue entry")
    limit = max(e.time_limit_working_days for e in entries)

    def days(department: Department) -> int:
        first = (own[department],) if own and department in own else ()
        found = guide_working_days((*first, *entries), department)
        return limit if found is None else found

    timed = tuple(replace(s, working_days=days(s.department)) for s in steps)
    return fanout.Plan(timed, min(fanout.longest_chain(timed), limit))


# --- The catalogue in use ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _catalogue_at(path: Path | None) -> Catalogue:
    return load_catalogue(path)


def catalogue_for(settings: Settings | None = None) -> Catalogue:
    """The catalogue a process uses: ``ONESTOP_CATALOGUE_PATH`` (``Settings.catalogue_path``), else the shipped
    file; read and checked once per process (a change of the file takes a restart)."""
    return _catalogue_at((settings or get_settings()).catalogue_path)


def default_catalogue() -> Catalogue:
    """The catalogue in use (``catalogue_for`` the process's settings)."""
    return catalogue_for()


def entry(code: str, day: date) -> Entry:
    """The version of ``code`` in force on ``day`` (``UnknownItem``, a ``KeyError``, when there is none)."""
    return default_catalogue().entry(code, day)


def entries(day: date) -> tuple[Entry, ...]:
    """Every service item in force on ``day``."""
    return default_catalogue().entries(day)


def required_materials(code: str, day: date, *, circumstances: Collection[str] = ()
                       ) -> tuple[tuple[Material, ...], tuple[Material, ...]]:
    """The materials ``code`` requires on ``day``: (key, deferrable)."""
    return default_catalogue().required_materials(code, day, circumstances=circumstances)


def missing(code: str, day: date, supplied: Collection[str], *, circumstances: Collection[str] = (),
            certificates: Collection[str] = ()) -> tuple[tuple[Material, ...], tuple[Material, ...]]:
    """The required materials not supplied: (missing key, missing deferrable); see ``Catalogue.missing``."""
    return default_catalogue().missing(code, day, supplied, circumstances=circumstances, certificates=certificates)


def guide_of(code: str, submitted_at: datetime) -> Entry:
    """The version of ``code`` an application submitted at ``submitted_at`` is held to: the one in force on that
    day in Jiangmen, in the catalogue in use. A later version applies to later applications only."""
    return default_catalogue().entry(code, local_today(submitted_at))


def time_limit(code: str, day: date) -> int:
    """The committed time limit of ``code`` on ``day``, in working days."""
    return default_catalogue().time_limit(code, day)


def recognised_certificates(code: str, day: date) -> dict[str, Certificate]:
    """The electronic certificates ``code`` recognises on ``day``, by the material each replaces."""
    return default_catalogue().recognised_certificates(code, day)


def public_view(day: date, lang: str = "zh") -> dict[str, Any]:
    """Every service item's guide on ``day``, JSON-ready (``GET /api/v1/catalogue``)."""
    return default_catalogue().public_view(day, lang)


def public_item(code: str, day: date, lang: str = "zh") -> dict[str, Any]:
    """One service item's guide on ``day``, JSON-ready (``GET /api/v1/catalogue/{item}``)."""
    return default_catalogue().public_item(code, day, lang)
