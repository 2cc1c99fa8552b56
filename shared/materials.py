"""Applicants' materials (申请材料) as every service sees them: the reference an application form carries, what
the materials service says of an uploaded document, the check of a form's materials against the service
catalogue (which are key, which may come later under 容缺受理, which the form itself carries), and the signed
links a service puts in a department's task so that department, and no other, may read the documents.

The documents themselves live in the materials service (``services/materials``); a service never reads its
tables, it asks over HTTP with the applicant's own bearer token, so it sees only what the applicant may see.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import Depends, Request
from pydantic import BaseModel, Field

from shared.auth import bearer_token
from shared.catalogue import Catalogue, Material
from shared.problems import Problem
from shared.refusals import FieldProblem
from shared.requestid import REQUEST_ID_HEADER, current_request_id
from shared.settings import Settings, get_settings
from shared.validation import Checks

SERVICE = "materials"
MATERIALS_PATH = "/api/v1/materials"
# A form names at most this many uploaded documents (a bound, not a rule: no item asks for half as many).
MAX_MATERIALS = 30
# Catalogue formats that the online form itself is (在线填报, 线上实名认证): nothing is uploaded for them.
FORM_FORMATS = frozenset({"online_form", "real_name_auth"})
# What the materials service recognises by content, as the catalogue names the format.
FORMAT_OF_MEDIA_TYPE: Mapping[str, str] = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "application/ofd": "ofd",
}
MaterialCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
MaterialId = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                                  max_length=36)]


class MaterialRef(BaseModel):
    """A document an application names: which catalogue material it is, and the uploaded document's id."""

    code: MaterialCode = Field(description="the catalogue's material code, e.g. seal_specimen")
    id: MaterialId = Field(description="the id POST /api/v1/materials answered")


class PendingMaterial(BaseModel):
    """A deferrable material an application was accepted without (容缺受理), still to come."""

    code: str
    name_zh: str
    name_en: str
    formats: list[str]


@dataclass(frozen=True)
class MaterialInfo:
    """What the materials service says of one uploaded document."""

    id: str
    media_type: str
    kind: str | None
    size: int

    @property
    def format(self) -> str | None:
        """The catalogue's format code of the document (pdf, jpg, png, ofd)."""
        return FORMAT_OF_MEDIA_TYPE.get(self.media_type)


@dataclass(frozen=True)
class FormMaterials:
    """What a form implies for the catalogue: the circumstances it declares (``seal_chosen``…) and the
    materials it carries itself (``application_form``…; only those whose formats allow the online form count)."""

    circumstances: frozenset[str]
    carried: frozenset[str]
    certificates: frozenset[str] = frozenset()


def pending_of(material: Material) -> PendingMaterial:
    """A catalogue material as an application shows it while it is still to come."""
    return PendingMaterial(code=material.code, name_zh=material.name_zh, name_en=material.name_en,
                           formats=list(material.formats))


def check_materials(catalogue: Catalogue, item: str | Sequence[str], day: date, refs: Sequence[MaterialRef],
                    found: Mapping[str, MaterialInfo | None], facts: FormMaterials,
                    loc: Sequence[str | int] = ("materials",)) -> tuple[list[FieldProblem], list[PendingMaterial]]:
    """A form's materials against the catalogue entries of ``item`` (one code, or several when one application
    covers several items, e.g. power and water together) in force on ``day``: every problem (a key material
    missing, a document that is not the applicant's, a format the material does not take, a code no item asks
    for or given twice) and, when there is none, the deferrable materials still missing (容缺受理: the
    application is accepted without them). A material several items ask for is given once; it is key when any
    of them holds it key."""
    items = tuple(dict.fromkeys([item] if isinstance(item, str) else item))
    checks = Checks()
    entries = [catalogue.entry(code, day) for code in items]
    circumstances = circumstances_by_item(catalogue, items, facts.circumstances)
    asked: dict[str, Material] = {}
    for code in items:
        key, deferrable = catalogue.required_materials(code, day, circumstances=circumstances[code])
        for m in key:
            asked[m.code] = m
        for m in deferrable:
            asked.setdefault(m.code, m)
    supplied = {m.code for entry in entries for m in entry.materials
                if m.code in facts.carried and FORM_FORMATS & set(m.formats)}
    # An alternative the form itself stands for (a credit report it names, 信用+报装) counts as supplied; the
    # catalogue accepts it only where its circumstances hold.
    supplied |= {a.code for entry in entries for m in entry.materials for a in m.alternatives
                 if a.code in facts.carried}
    seen: set[str] = set()
    for i, ref in enumerate(refs):
        material = asked.get(ref.code)
        if material is None:
            checks.add([*loc, i, "code"], "material_not_asked", material=ref.code, item=", ".join(items))
            continue
        if ref.code in seen:
            checks.add([*loc, i, "code"], "material_twice", material=ref.code)
            continue
        seen.add(ref.code)
        problem = document_problem(catalogue, material, found.get(ref.id), ref.id)
        if problem is not None:
            code, params = problem
            checks.add([*loc, i, "id"], code, **params)
            continue
        supplied.add(ref.code)
    missing_key: dict[str, Material] = {}
    missing_deferrable: dict[str, Material] = {}
    for code in items:
        key, deferrable = catalogue.missing(code, day, supplied, circumstances=circumstances[code],
                                            certificates=facts.certificates)
        for m in key:
            missing_key.setdefault(m.code, m)
        for m in deferrable:
            missing_deferrable.setdefault(m.code, m)
    for material in missing_key.values():
        checks.add(list(loc), "material_missing", material=material.code, name_zh=material.name_zh,
                   name_en=material.name_en)
    if checks.problems:
        return checks.problems, []
    return [], [pending_of(m) for code, m in missing_deferrable.items() if code not in missing_key]


def circumstances_by_item(catalogue: Catalogue, items: Sequence[str], given: Collection[str]) -> dict[str, set[str]]:
    """The circumstances a form declares, as each item knows them: one item may know one another does not
    (power's 信用+报装 district); one that no item knows is a caller's typo and raises ``ValueError``."""
    known = {code: catalogue.circumstances_of(code) for code in items}
    unknown = sorted(set(given) - set().union(*known.values()))
    if unknown:
        raise ValueError(f"{', '.join(items)} know no circumstance {', '.join(unknown)}")
    return {code: set(given) & known[code] for code in items}


def material_of(catalogue: Catalogue, items: Sequence[str], day: date, code: str) -> Material:
    """The catalogue material ``code`` as the first of ``items`` that asks for it on ``day`` has it."""
    for item in items:
        entry = catalogue.entry(item, day)
        if any(m.code == code for m in entry.materials):
            return entry.material(code)
    raise KeyError(f"{', '.join(items)} ask for no material {code!r}")


def document_problem(catalogue: Catalogue, material: Material, info: MaterialInfo | None,
                     material_id: str) -> tuple[str, dict[str, Any]] | None:
    """Why an uploaded document cannot stand for ``material`` (its code and message parameters), or None."""
    if info is None:
        return "material_unknown", {"id": material_id}
    if info.format is None or info.format not in material.formats:
        uploadable = [f for f in material.formats if f in FORMAT_OF_MEDIA_TYPE.values()]
        return "material_format", {
            "material": material.code, "name_zh": material.name_zh, "name_en": material.name_en,
            "media_type": info.media_type,
            "formats_zh": "、".join(catalogue.formats[f].name_zh for f in uploadable) or "（不接受上传）",
            "formats_en": ", ".join(catalogue.formats[f].name_en for f in uploadable) or "(no upload accepted)",
        }
    return None


# --- Links for departments ------------------------------------------------------------------------------------


def link_signature(material_id: str, department: str, expires: int, secret: str) -> str:
    """HMAC-SHA256 (hex) over the material, the department it is for and when the link expires (Unix time)."""
    message = f"{material_id}\n{department}\n{expires}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def material_link(material_id: str, department: str, *, now: datetime, settings: Settings | None = None) -> str:
    """The path (under the gateway) by which an officer of ``department`` reads one material's content, valid
    for ``material_link_days``; it works only together with that department's own bearer token."""
    settings = settings or get_settings()
    expires = int((now + timedelta(days=settings.material_link_days)).timestamp())
    query = urlencode({"department": department, "expires": expires,
                       "signature": link_signature(material_id, department, expires, settings.material_link_secret)})
    return f"{MATERIALS_PATH}/{material_id}/content?{query}"


def link_valid(material_id: str, department: str, expires: int, signature: str, *, now: datetime,
               settings: Settings | None = None) -> bool:
    """Whether a department's link to a material is ours, for that material and department, and not expired."""
    settings = settings or get_settings()
    if expires < now.timestamp():
        return False
    expected = link_signature(material_id, department, expires, settings.material_link_secret)
    return hmac.compare_digest(expected, signature)


# --- Asking the materials service -----------------------------------------------------------------------------


def materials_unavailable() -> Problem:
    """The 503 of a check that needs the materials service while it does not answer."""
    return Problem(503, "Service unavailable", "the materials service does not answer; try again shortly",
                   code="service_unavailable", service=SERVICE, headers={"Retry-After": "5"})


class MaterialsClient:
    """Looks documents up at the materials service with the caller's own bearer token: a document that is not
    the caller's answers 404 there, as a missing one does, and so is unknown here."""

    def __init__(self, authorization: str, settings: Settings, client: httpx.AsyncClient) -> None:
        self.authorization = authorization
        self.settings = settings
        self.client = client

    async def look_up(self, ids: Collection[str]) -> dict[str, MaterialInfo | None]:
        """Each document's metadata, or None for one the caller has not uploaded; ``materials_unavailable``
        (503) when the service does not answer."""
        found: dict[str, MaterialInfo | None] = {}
        if not ids:
            return found
        headers = {"authorization": self.authorization, REQUEST_ID_HEADER: current_request_id() or ""}
        timeout = httpx.Timeout(self.settings.upstream_timeout_seconds, connect=2.0)
        base = self.settings.service_url(SERVICE)
        for material_id in dict.fromkeys(ids):
            try:
                resp = await self.client.get(f"{base}{MATERIALS_PATH}/{material_id}", headers=headers,
                                             timeout=timeout)
            except httpx.HTTPError as exc:
                raise materials_unavailable() from exc
            if resp.status_code in (404, 422):
                found[material_id] = None
            elif resp.status_code != 200:
                raise materials_unavailable()
            else:
                body = resp.json()
                found[material_id] = MaterialInfo(id=body["id"], media_type=body["media_type"],
                                                  kind=body.get("kind"), size=body["size"])
        return found


async def materials_client(request: Request) -> MaterialsClient:
    """FastAPI dependency: a client of the materials service speaking with the caller's token, over the
    service's shared connections (``ServiceRuntime.http``)."""
    client: httpx.AsyncClient = request.app.state.runtime.http
    return MaterialsClient(f"Bearer {bearer_token(request)}", get_settings(), client)


Materials = Annotated[MaterialsClient, Depends(materials_client)]
# What a route that looks documents up may answer besides its own.
LOOKUP_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "the materials service does not answer (Retry-After)"},
}
