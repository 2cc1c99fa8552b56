"""What an upload does: recognise the document, keep its bytes, record it once per owner and content."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from services.materials import domain, views
from services.materials.forms import Upload, refused
from services.materials.models import Material
from services.materials.storage import MaterialStore, object_key
from shared import catalogue
from shared.idempotency import Created
from shared.outbox import UnitOfWork
from shared.settings import Settings
from shared.workdays import local_today


def bounds_of(settings: Settings) -> domain.Bounds:
    """What a document may measure, as configured."""
    return domain.Bounds(max_pages=settings.material_max_pages, max_pixels=settings.material_max_pixels)


async def recognise(upload: Upload, settings: Settings) -> domain.Document:
    """What the uploaded document is, from its content (``domain.Unacceptable`` when it is none we take), and a
    ``kind`` that names a material of the catalogue in force (``UploadRefused`` otherwise)."""
    if upload.kind is not None:
        known = {m.code for e in catalogue.default_catalogue().entries(local_today()) for m in e.materials}
        if upload.kind not in known:
            raise refused("material_kind_invalid", ["kind"], kind=upload.kind)
    # Parsing reads the file: off the event loop.
    return await asyncio.to_thread(domain.inspect, upload.path, bounds_of(settings))


async def keep(uow: UnitOfWork, store: MaterialStore, owner: str, upload: Upload,
               document: domain.Document) -> Created:
    """Record the document for its owner: the one already recorded for the same owner and content (200), or a
    new one whose bytes go to the store first (201)."""
    existing = (await uow.session.execute(
        select(Material).where(Material.owner == owner, Material.sha256 == upload.sha256))).scalar_one_or_none()
    if existing is not None:
        await asyncio.to_thread(upload.discard)
        return Created(200, views.material_public(existing).model_dump(mode="json"), existing.id)
    key = object_key(upload.sha256)
    await store.put(key, upload.path, size=upload.size, sha256=upload.sha256, media_type=document.media_type)
    material = Material(owner=owner, kind=upload.kind, media_type=document.media_type, size=upload.size,
                        sha256=upload.sha256, pages=document.pages, width=document.width, height=document.height,
                        storage_key=key)
    uow.session.add(material)
    await uow.session.flush()
    return Created(201, views.material_public(material).model_dump(mode="json"), material.id)
