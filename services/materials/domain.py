"""What an uploaded document is, decided by its content alone (never its name or declared type): PDF, JPEG, PNG
or OFD (GB/T 33190: a ZIP container whose root holds OFD.xml), each parsed far enough to know it is one and to
measure it (pages; width and height), within bounds. An executable renamed ``.pdf`` is what it is.

Pure: the functions read a file the caller has already written (the upload streamed to disk) and raise
``Unacceptable`` naming what is wrong; nothing here decodes an image, so a decompression bomb is refused by its
declared dimensions before anyone inflates it.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
OFD = "application/ofd"
MEDIA_TYPES = (PDF, JPEG, PNG, OFD)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Executables (Windows PE, ELF, Mach-O, a shell script) refused by name, so the applicant is told what they sent.
EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe",
                    b"\xce\xfa\xed\xfe", b"#!")
# A JPEG's start-of-frame markers (baseline, progressive, lossless, arithmetic...): they carry the dimensions.
JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# A PDF page object, not the /Pages tree nodes; PDF allows any white space (or none) between the names.
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
PDF_STREAM = re.compile(rb"stream\r?\n")
CHUNK = 1024 * 1024
# Bounds on what reading a document may cost: how far into a JPEG to look for its frame header, how much of a
# PDF's compressed object streams to inflate in all, and how large an OFD's entries may be.
JPEG_HEADER_SCAN = 4 * 1024 * 1024
PDF_INFLATE_BUDGET = 64 * 1024 * 1024
PDF_OBJECT_STREAMS = 10_000
OFD_XML_MAX = 1024 * 1024
OFD_MAX_ENTRIES = 100_000


class Unacceptable(ValueError):
    """A document refused: ``status`` 415 (not a type we take), 422 (a type we take, but broken or past a bound)."""

    def __init__(self, status: int, code: str, **params: Any) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.params = params


@dataclass(frozen=True)
class Bounds:
    """What a document may measure."""

    max_pages: int = 500
    max_pixels: int = 100_000_000


@dataclass(frozen=True)
class Document:
    """What an accepted document is: its media type and its measure (pages, or width and height)."""

    media_type: str
    pages: int | None = None
    width: int | None = None
    height: int | None = None


def unreadable(why_zh: str, why_en: str) -> Unacceptable:
    return Unacceptable(422, "upload_unreadable", why_zh=why_zh, why_en=why_en)


def unsupported(head: bytes) -> Unacceptable:
    if head.startswith(EXECUTABLE_MAGIC):
        return Unacceptable(415, "upload_executable")
    return Unacceptable(415, "upload_unsupported")


def sniff(head: bytes) -> str:
    """The media type the first bytes of a document announce (``Unacceptable`` 415 for anything else)."""
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    # A PDF header may follow some junk, within the first 1024 bytes (ISO 32000-1, implementation note).
    if b"%PDF-" in head[:1024]:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return OFD  # a ZIP: only an OFD package is taken, which ``inspect`` checks
    raise unsupported(head)


def inspect(path: Path, bounds: Bounds = Bounds()) -> Document:
    """Parse the document at ``path`` far enough to know what it is and to measure it, within ``bounds``."""
    with path.open("rb") as f:
        head = f.read(4096)
        if not head:
            raise Unacceptable(422, "upload_empty")
        media_type = sniff(head)
        f.seek(0)
        if media_type == PNG:
            return _png(f, bounds)
        if media_type == JPEG:
            return _jpeg(f, bounds)
        if media_type == PDF:
            return _pdf(f, bounds)
    return _ofd(path, bounds)


def _pixels(width: int, height: int, bounds: Bounds) -> None:
    if width <= 0 or height <= 0:
        raise unreadable("图片尺寸为零", "the image declares no width or height")
    if width * height > bounds.max_pixels:
        raise Unacceptable(422, "upload_too_many_pixels", max=bounds.max_pixels, width=width, height=height)


def _png(f: BinaryIO, bounds: Bounds) -> Document:
    header = f.read(8 + 8 + 13)
    # The IHDR chunk comes first: length 13, then width and height as big-endian 32-bit integers.
    if len(header) < 29 or header[12:16] != b"IHDR" or struct.unpack(">I", header[8:12])[0] != 13:
        raise unreadable("PNG文件缺少IHDR头", "a PNG without its IHDR header")
    width, height = struct.unpack(">II", header[16:24])
    _pixels(width, height, bounds)
    return Document(PNG, width=width, height=height)


def _jpeg(f: BinaryIO, bounds: Bounds) -> Document:
    f.seek(2)
    scanned = 2
    while scanned < JPEG_HEADER_SCAN:
        byte = f.read(1)
        if not byte:
            break
        if byte != b"\xff":
            continue  # between segments only fill bytes are allowed; be lenient and look on
        marker = f.read(1)
        scanned += 2
        while marker == b"\xff":  # fill bytes
            marker = f.read(1)
            scanned += 1
        if not marker:
            break
        code = marker[0]
        if code == 0xD9 or code == 0xDA:  # end of image, or the scan starts before any frame header
            break
        if code in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            continue
        raw = f.read(2)
        if len(raw) < 2:
            break
        length = struct.unpack(">H", raw)[0]
        if length < 2:
            break
        if code in JPEG_SOF:
            frame = f.read(5)
            if len(frame) < 5:
                break
            height, width = struct.unpack(">HH", frame[1:5])
            _pixels(width, height, bounds)
            return Document(JPEG, width=width, height=height)
        f.seek(length - 2, 1)
        scanned += length
    raise unreadable("JPEG文件中没有图像帧头", "a JPEG without a frame header (SOF) before its image data")


def _count_pages(data: bytes, since: int = 0, until: int | None = None) -> int:
    """Page objects in ``data`` whose match ends in ``[since, until)`` (``until`` None: anywhere after ``since``)."""
    return sum(1 for m in PDF_PAGE.finditer(data) if m.end() >= since and (until is None or m.end() < until))


def _pdf(f: BinaryIO, bounds: Bounds) -> Document:
    pages = 0
    overlap = 64
    tail = ending = b""
    compressed: list[bytes] = []
    block = f.read(CHUNK)
    while block:
        following = f.read(CHUNK)
        window = tail + block
        # Each page object is counted in the window where its match ends: a match that ends where the window
        # ends may yet continue ("/Pages") and is counted in the next window, which starts with this tail.
        pages += _count_pages(window, len(tail), None if not following else len(window))
        if pages > bounds.max_pages:
            raise Unacceptable(422, "upload_too_many_pages", max=bounds.max_pages)
        if b"/ObjStm" in window:
            compressed.append(window)
        ending = window[-2048:]
        tail, block = window[-overlap:], following
    if b"%%EOF" not in ending:
        raise unreadable("PDF文件不完整（缺少%%EOF）", "an incomplete PDF (no %%EOF at its end)")
    if pages == 0 and compressed:
        # PDF 1.5+ may keep every page object inside compressed object streams: count there, within a budget.
        pages = _pages_in_object_streams(compressed, bounds)
    if pages == 0:
        raise unreadable("PDF文件中没有页面", "a PDF with no page objects")
    return Document(PDF, pages=pages)


def _pages_in_object_streams(chunks: list[bytes], bounds: Bounds) -> int:
    pages = 0
    budget = PDF_INFLATE_BUDGET
    streams = 0
    for chunk in chunks:
        for m in PDF_STREAM.finditer(chunk):
            streams += 1
            if streams > PDF_OBJECT_STREAMS or budget <= 0:
                return pages
            inflater = zlib.decompressobj()
            try:
                data = inflater.decompress(chunk[m.end():], budget)
            except zlib.error:
                continue
            budget -= len(data)
            pages += _count_pages(data)
            if pages > bounds.max_pages:
                raise Unacceptable(422, "upload_too_many_pages", max=bounds.max_pages)
    return pages


def _ofd(path: Path, bounds: Bounds) -> Document:
    try:
        with zipfile.ZipFile(path) as package:
            infos = package.infolist()
            if len(infos) > OFD_MAX_ENTRIES:
                raise unreadable("OFD包中的文件过多", f"an OFD package with more than {OFD_MAX_ENTRIES} entries")
            root = next((i for i in infos if i.filename == "OFD.xml"), None)
            if root is None:
                raise Unacceptable(415, "upload_unsupported")  # a ZIP, but not an OFD package
            if root.file_size > OFD_XML_MAX:
                raise unreadable("OFD.xml过大", "an OFD.xml over 1 MiB")
            with package.open(root) as entry:
                text = entry.read(OFD_XML_MAX + 1)
            if len(text) > OFD_XML_MAX:  # the declared size lied: the entry inflates past the bound
                raise unreadable("OFD.xml过大", "an OFD.xml over 1 MiB")
            pages = sum(1 for i in infos if re.fullmatch(r"Doc_\d+/Pages/Page_\d+/Content\.xml", i.filename))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, NotImplementedError) as exc:
        raise unreadable("ZIP/OFD包已损坏", f"a broken ZIP/OFD package ({exc.__class__.__name__})") from None
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise unreadable("OFD.xml含有DTD或实体声明", "an OFD.xml with a DTD or entity declarations")
    try:
        element = ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise unreadable("OFD.xml不是合法的XML", "an OFD.xml that is not well-formed XML") from None
    if element.tag.rsplit("}", 1)[-1] != "OFD":
        raise unreadable("OFD.xml的根元素不是OFD", "an OFD.xml whose root element is not ofd:OFD")
    if pages > bounds.max_pages:
        raise Unacceptable(422, "upload_too_many_pages", max=bounds.max_pages)
    return Document(OFD, pages=pages or None)
