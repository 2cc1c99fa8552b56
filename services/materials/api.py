"""HTTP routes of the materials service: thin — parse, authorize, call one command, answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.materials import commands, domain, views
from services.materials.forms import UploadRefused, read_upload, refused
from services.materials.schemas import UPLOAD_BODY, MaterialPublic
from services.materials.storage import MaterialStore, StoreUnavailable
from shared.auth import CurrentPrincipal
from shared.idempotency import Created, IdempotencyKey, create_once
from shared.outbox import UnitOfWork
from shared.problems import Problem
from shared.service import Runtime

router = APIRouter(prefix="/api/v1", tags=["materials 申请材料"])
EXTENSIONS = {domain.PDF: "pdf", domain.JPEG: "jpg", domain.PNG: "png", domain.OFD: "ofd"}
MaterialIdPath = Annotated[str, Path(max_length=36)]
LinkDepartment = Annotated[str | None, Query(max_length=20, description="a department's link: its department")]
LinkExpires = Annotated[int | None, Query(ge=0, le=2**40, description="a department's link: when it expires")]
LinkSignature = Annotated[str | None, Query(max_length=64, description="a department's link: its signature")]


async def get_store(request: Request) -> MaterialStore:
    return request.app.state.store


Store = Annotated[MaterialStore, Depends(get_store)]


def store_unavailable() -> Problem:
    return Problem(503, "Service unavailable", "the document store does not answer; try again shortly",
                   code="store_unavailable", headers={"Retry-After": "5"})


def refusal_problem(refusal: UploadRefused | domain.Unacceptable) -> Problem:
    if isinstance(refusal, domain.Unacceptable):
        refusal = refused(refusal.code, ["file"], status=refusal.status, **refusal.params)
    titles = {413: "Document too large", 415: "Unsupported document", 400: "Malformed upload"}
    return Problem(refusal.status, titles.get(refusal.status, "The document has problems"), refusal.detail,
                   code=refusal.code, errors=refusal.problems)


@router.post("/materials", status_code=201, response_model=MaterialPublic, openapi_extra={"requestBody": UPLOAD_BODY},
             responses={200: {"model": MaterialPublic,
                              "description": "the caller uploaded the same content before: that material"},
                        400: {"description": "a malformed multipart body"},
                        403: {"description": "only applicants and service-hall clerks upload"},
                        415: {"description": "not multipart/form-data, or a document that is not PDF, OFD, JPEG or "
                                             "PNG by its content (an executable, whatever its name)"},
                        422: {"description": "an empty, broken or unbounded document (pages, pixels), or a kind "
                                             "that is not a catalogue material code"},
                        503: {"description": "the document store does not answer"}})
async def upload(request: Request, principal: CurrentPrincipal, runtime: Runtime, key: IdempotencyKey,
                 store: Store) -> JSONResponse:
    """Upload one document (multipart/form-data: `file`, and optionally `kind`, the catalogue material code it is
    meant as). What it is comes from its content alone: PDF, OFD, JPEG or PNG, within the size, page and pixel
    bounds. 201 with its id, SHA-256 and measure; the same content uploaded again by the same caller answers the
    same material (200)."""
    if not (principal.is_applicant or principal.is_clerk):
        raise Problem(403, "Forbidden", "only applicants and service-hall clerks upload materials", code="forbidden")
    settings = runtime.settings
    incoming = store.incoming()
    try:
        received = await read_upload(request.headers.get("content-type"), request.stream(), folder=incoming,
                                     max_bytes=settings.max_upload_bytes)
    except UploadRefused as refusal:
        raise refusal_problem(refusal) from None
    try:
        document = await commands.recognise(received, settings)
    except (UploadRefused, domain.Unacceptable) as refusal:
        received.discard()
        raise refusal_problem(refusal) from None

    async def create(uow: UnitOfWork) -> Created:
        return await commands.keep(uow, store, principal.sub, received, document)

    try:
        return await create_once(runtime.uow, principal.sub, key, {"sha256": received.sha256, "kind": received.kind},
                                 create, on_conflict=lambda: Problem(409, "Conflict", "uploaded twice at once; retry",
                                                                     code="upload_conflict"))
    except StoreUnavailable:
        raise store_unavailable() from None
    finally:
        received.discard()  # kept (moved into the store) or not needed: nothing is left behind


@router.get("/materials/{material_id}", response_model=MaterialPublic)
async def get_material(material_id: MaterialIdPath, principal: CurrentPrincipal, runtime: Runtime,
                       department: LinkDepartment = None, expires: LinkExpires = None,
                       signature: LinkSignature = None) -> MaterialPublic:
    """One material's metadata: its owner's and administrators'; another applicant's answers 404."""
    async with runtime.maker() as session:
        material = await views.readable(session, material_id, principal,
                                        views.Link(department, expires, signature))
    return views.material_public(material)


CONTENT_TYPES: dict[str, Any] = {t: {"schema": {"type": "string", "format": "binary"}} for t in domain.MEDIA_TYPES}


@router.get("/materials/{material_id}/content", response_class=StreamingResponse,
            responses={200: {"content": CONTENT_TYPES, "description": "the document as uploaded, as an attachment"},
                       503: {"description": "the document store does not answer"}})
async def material_content(material_id: MaterialIdPath, principal: CurrentPrincipal, runtime: Runtime,
                           store: Store, department: LinkDepartment = None, expires: LinkExpires = None,
                           signature: LinkSignature = None) -> StreamingResponse:
    """The document itself, with the media type recognised at upload, as an attachment. Its owner and
    administrators read it; an officer of a department only through the link in that department's task (the
    link names the department, and the caller must be its officer). Anyone else: 404."""
    async with runtime.maker() as session:
        material = await views.readable(session, material_id, principal,
                                        views.Link(department, expires, signature))
    chunks = store.read(material.storage_key)
    try:
        # The first chunk before the answer starts: a store that does not answer is a 503, not a cut body.
        first = await anext(chunks, b"")
    except (StoreUnavailable, FileNotFoundError):
        raise store_unavailable() from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        with contextlib.suppress(StopAsyncIteration):
            async for chunk in chunks:
                yield chunk

    filename = f"{material.id}.{EXTENSIONS.get(material.media_type, 'bin')}"
    return StreamingResponse(body(), media_type=material.media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff",
        "Content-Length": str(material.size), "Cache-Control": "private, no-store"})


__all__ = ["router"]
