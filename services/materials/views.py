"""Who may read a material, and how it is shown: its owner and administrators; an officer of a department only
through the signed link the owning service put in that department's task. Anyone else is told it does not
exist (404), never that it is someone else's."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.materials.models import Material
from services.materials.schemas import MaterialPublic
from shared.auth import Principal
from shared.materials import link_valid
from shared.records import utcnow
from shared.refusals import NotFound


@dataclass(frozen=True)
class Link:
    """The query of a department's signed link (all three, or none)."""

    department: str | None
    expires: int | None
    signature: str | None


def material_public(material: Material) -> MaterialPublic:
    """A material as its owner sees it."""
    return MaterialPublic(id=material.id, sha256=material.sha256, media_type=material.media_type,
                          size=material.size, pages=material.pages, width=material.width, height=material.height,
                          kind=material.kind, created_at=material.created_at)


def not_found() -> NotFound:
    return NotFound("not_found", "no such material")


def may_read(material: Material, principal: Principal, link: Link) -> bool:
    """The owner and admins; an officer of the link's department with a valid link to this very material."""
    if principal.is_admin or material.owner == principal.sub:
        return True
    if link.department is None or link.expires is None or link.signature is None:
        return False
    return principal.is_officer_of(link.department) and link_valid(
        material.id, link.department, link.expires, link.signature, now=utcnow())


async def readable(session: AsyncSession, material_id: str, principal: Principal, link: Link) -> Material:
    """The material, if the caller may read it (``NotFound`` otherwise, as for a missing one)."""
    material = await session.get(Material, material_id)
    if material is None or not may_read(material, principal, link):
        raise not_found()
    return material
