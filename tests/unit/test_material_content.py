"""What an uploaded document is comes from its content: PNG, JPEG, PDF and OFD are parsed far enough to be
measured; executables (whatever their name), other ZIPs, broken files and documents past the page or pixel
bounds are refused with the status and code the applicant is told."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.materials import domain
from services.materials.domain import Bounds, Unacceptable
from tests import documents


def inspect(tmp_path: Path, content: bytes, name: str = "document.pdf", bounds: Bounds = Bounds()) -> domain.Document:
    path = tmp_path / name  # the name says .pdf whatever the content is: it must not matter
    path.write_bytes(content)
    return domain.inspect(path, bounds)


def test_a_png_is_measured_by_its_header(tmp_path: Path) -> None:
    assert inspect(tmp_path, documents.png(7, 5)) == domain.Document(domain.PNG, width=7, height=5)


def test_a_jpeg_is_measured_by_its_frame_header(tmp_path: Path) -> None:
    assert inspect(tmp_path, documents.jpeg(1024, 768)) == domain.Document(domain.JPEG, width=1024, height=768)


def test_a_pdf_counts_its_page_objects_not_its_page_tree(tmp_path: Path) -> None:
    assert inspect(tmp_path, documents.pdf(3), "scan.png") == domain.Document(domain.PDF, pages=3)


def test_pages_inside_a_compressed_object_stream_are_counted(tmp_path: Path) -> None:
    assert inspect(tmp_path, documents.pdf_with_object_stream(4)) == domain.Document(domain.PDF, pages=4)


def test_an_ofd_is_a_zip_with_ofd_xml_and_its_pages_are_counted(tmp_path: Path) -> None:
    assert inspect(tmp_path, documents.ofd(2)) == domain.Document(domain.OFD, pages=2)


@pytest.mark.parametrize(("make", "status", "code"), [
    (documents.windows_executable, 415, "upload_executable"),
    (documents.elf_executable, 415, "upload_executable"),
    (lambda: b"#!/bin/sh\nrm -rf /\n", 415, "upload_executable"),
    (lambda: b"GIF89a\x01\x00\x01\x00", 415, "upload_unsupported"),
    (lambda: documents.ofd(root="content.xml"), 415, "upload_unsupported"),  # a ZIP, not an OFD package
    (lambda: b"", 422, "upload_empty"),
    (lambda: documents.pdf(2)[:-8], 422, "upload_unreadable"),  # cut short: no %%EOF
    (lambda: b"%PDF-1.4\n%%EOF\n", 422, "upload_unreadable"),  # no page at all
    (lambda: documents.png()[:20], 422, "upload_unreadable"),
    (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 40, 422, "upload_unreadable"),  # a JPEG with no frame header
    (lambda: b"PK\x03\x04" + b"\x00" * 60, 422, "upload_unreadable"),  # a broken ZIP
])
def test_what_is_refused_and_how(tmp_path: Path, make: Callable[[], bytes], status: int, code: str) -> None:
    with pytest.raises(Unacceptable) as refused:
        inspect(tmp_path, make())
    assert (refused.value.status, refused.value.code) == (status, code)


def test_a_decompression_bomb_is_refused_by_its_declared_size_before_any_decoding(tmp_path: Path) -> None:
    # 60000 × 60000 = 3.6 gigapixels declared in a file of a few hundred bytes.
    for bomb in (documents.png(60_000, 60_000), documents.jpeg(60_000, 60_000)):
        with pytest.raises(Unacceptable) as refused:
            inspect(tmp_path, bomb)
        assert refused.value.code == "upload_too_many_pixels"
        assert refused.value.params["width"] == 60_000


def test_the_page_bound_holds_for_plain_and_compressed_pdfs_and_ofd(tmp_path: Path) -> None:
    bounds = Bounds(max_pages=3)
    for document in (documents.pdf(4), documents.pdf_with_object_stream(4), documents.ofd(4)):
        with pytest.raises(Unacceptable) as refused:
            inspect(tmp_path, document, bounds=bounds)
        assert refused.value.code == "upload_too_many_pages"
    assert inspect(tmp_path, documents.pdf(3), bounds=bounds).pages == 3


def test_a_page_pattern_split_across_read_chunks_is_counted_once(tmp_path: Path) -> None:
    # Pad so that the first page object straddles the 1 MiB chunk boundary.
    body = documents.pdf(2)
    at = body.index(b"/Type /Page ")
    padded = body[:9] + b"%" + b"x" * (domain.CHUNK - at - 5) + b"\n" + body[9:]
    assert inspect(tmp_path, padded).pages == 2
