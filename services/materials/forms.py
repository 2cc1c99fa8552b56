"""The upload form as it arrives: ``multipart/form-data`` with one ``file`` part and an optional ``kind`` (a
catalogue material code), read as a stream straight into a file beside the store while it is hashed (SHA-256)
and counted, so a document of 20 MiB is never held in memory, and never on disk twice.

What the document *is* is the domain's (``domain.inspect``); this module only takes the parts apart and keeps
their bounds: one file of at most ``max_bytes``, a short ``kind``, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from shared.refusals import FieldProblem
from shared.validation import Checks

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
KIND_MAX = 64
FIELD_NAMES = frozenset({"file", "kind"})


class UploadRefused(Exception):
    """The upload cannot be taken as sent: ``status`` (400, 413, 415, 422), ``code`` and the field problems."""

    def __init__(self, status: int, code: str, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.problems = problems or []


@dataclass
class Upload:
    """A document written to ``path`` as it arrived, with its SHA-256 and size, and the ``kind`` it was sent as."""

    path: Path
    sha256: str
    size: int
    kind: str | None

    def discard(self) -> None:
        """Remove the written file (after a refusal)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass
class _Part:
    name: str | None = None
    filename: bool = False
    headers: dict[str, bytes] = field(default_factory=dict)


def refused(code: str, loc: list[str | int], status: int = 422, **params: Any) -> UploadRefused:
    """An ``UploadRefused`` with the one problem ``code`` at ``loc``, in both languages."""
    checks = Checks()
    checks.add(loc, code, **params)
    return UploadRefused(status, code, checks.problems[0].message_en, checks.problems)


async def read_upload(content_type: str | None, stream: AsyncIterator[bytes], *, folder: Path,
                      max_bytes: int) -> Upload:
    """Take a ``multipart/form-data`` body apart as it streams in: the ``file`` part into a new file in
    ``folder`` (hashed and counted), the ``kind`` part into a short text. ``UploadRefused`` for a body that is
    not multipart (415), a file over ``max_bytes`` (413), a missing or empty file, a second file or an unknown
    part (422)."""
    media, params = parse_options_header(content_type)
    if media != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRefused(415, "multipart_required", "send the document as multipart/form-data (a 'file' part)")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4()}.part"
    digest = hashlib.sha256()
    size = 0
    files = 0
    kind = bytearray()
    part = _Part()
    header_field = bytearray()
    header_value = bytearray()
    pending: list[bytes] = []
    problem: UploadRefused | None = None

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        part.headers[header_field.decode("latin-1").lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal files, problem
        _, disposition = parse_options_header(part.headers.get("content-disposition"))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        part.name = name
        part.filename = b"filename" in disposition
        if problem is None and name not in FIELD_NAMES:
            problem = refused("extra_forbidden_part", [name[:40] or "part"], name=name[:40])
        if name == "file":
            files += 1
            if problem is None and files > 1:
                problem = refused("upload_one_file", ["file"])

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal size, problem
        if problem is not None:
            return
        chunk = data[start:end]
        if part.name == "file":
            size += len(chunk)
            if size > max_bytes:
                problem = UploadRefused(413, "upload_too_large", f"a document may have at most {max_bytes} bytes",
                                        refused("upload_too_large", ["file"], max=max_bytes).problems)
                return
            digest.update(chunk)
            pending.append(chunk)
        elif part.name == "kind":
            kind.extend(chunk)
            if len(kind) > KIND_MAX * 4:
                problem = refused("too_long", ["kind"], what_zh="材料类型", what_en="kind", max=KIND_MAX)

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
    })
    handle: BinaryIO = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except MultipartParseError:
                raise UploadRefused(400, "multipart_malformed", "the multipart/form-data body is malformed") from None
            if pending:
                # Written off the event loop, a request chunk at a time.
                await asyncio.to_thread(handle.writelines, list(pending))
                pending.clear()
            if problem is not None and problem.status == 413:
                raise problem
        try:
            parser.finalize()
        except MultipartParseError:
            raise UploadRefused(400, "multipart_malformed", "the multipart/form-data body is malformed") from None
    except BaseException:
        await asyncio.to_thread(handle.close)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    await asyncio.to_thread(handle.close)
    upload = Upload(path=path, sha256=digest.hexdigest(), size=size, kind=None)
    if problem is None and files == 0:
        problem = refused("upload_file_missing", ["file"])
    if problem is None and size == 0:
        problem = refused("upload_empty", ["file"])
    text = kind.decode("utf-8", "replace").strip()
    if problem is None and text and (len(text) > KIND_MAX or not KIND_PATTERN.match(text)):
        problem = refused("material_kind_invalid", ["kind"], kind=text[:KIND_MAX])
    if problem is not None:
        upload.discard()
        raise problem
    upload.kind = text or None
    return upload
