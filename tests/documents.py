"""Small real documents built byte by byte for the tests: PNG, JPEG, PDF (plain and with its pages in a
compressed object stream), OFD, and what must be refused (executables, a ZIP that is no OFD, an image that
declares a billion pixels)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib


def png(width: int = 2, height: int = 3) -> bytes:
    """A valid PNG of ``width`` × ``height`` grey pixels (the data only as large as a tiny image needs: a test
    of the pixel bound declares far more than it holds, as a decompression bomb does)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x80" * min(width, 64) for _ in range(min(height, 64)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def jpeg(width: int = 640, height: int = 480) -> bytes:
    """A JPEG's structure: SOI, a JFIF APP0, a baseline frame header (SOF0) with the dimensions, a scan, EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    sos = b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00"
    return b"\xff\xd8" + app0 + sof0 + sos + b"\x12\x34\x56" + b"\xff\xd9"


def pdf(pages: int = 2) -> bytes:
    """A plain PDF with ``pages`` page objects."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>" for _ in range(pages)]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write(b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets))
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def pdf_with_object_stream(pages: int = 3) -> bytes:
    """A PDF 1.5 whose page objects are all inside a compressed object stream (/Type /ObjStm)."""
    inner = b" ".join(b"<< /Type /Page /Parent 2 0 R >>" for _ in range(pages))
    packed = zlib.compress(inner)
    return (b"%PDF-1.5\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            + f"5 0 obj\n<< /Type /ObjStm /N {pages} /First 0 /Filter /FlateDecode /Length {len(packed)} >>\n".encode()
            + b"stream\n" + packed + b"\nendstream\nendobj\nstartxref\n0\n%%EOF\n")


def ofd(pages: int = 2, *, root: str = "OFD.xml") -> bytes:
    """An OFD package (GB/T 33190): a ZIP whose root holds OFD.xml, with ``pages`` page contents."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(root, '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"'
                               ' Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml'
                               '</ofd:DocRoot></ofd:DocBody></ofd:OFD>')
        package.writestr("Doc_0/Document.xml", "<ofd:Document xmlns:ofd='http://www.ofdspec.org/2016'/>")
        for i in range(pages):
            package.writestr(f"Doc_0/Pages/Page_{i}/Content.xml", "<ofd:Page xmlns:ofd='http://www.ofdspec.org/2016'/>")
    return buffer.getvalue()


def windows_executable() -> bytes:
    """The start of a Windows PE file ("MZ", the DOS stub), as a renamed ``.exe`` would be."""
    stub = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    return stub + b"This program cannot be run in DOS mode.\r\n"


def elf_executable() -> bytes:
    """The start of an ELF binary."""
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
