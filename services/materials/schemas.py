"""What the materials service answers with (the upload itself is a multipart form: ``forms.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from services.materials.forms import KIND_MAX, KIND_PATTERN


class MaterialPublic(BaseModel):
    """An uploaded document as its owner sees it: what it was recognised as (from its content), its measure,
    and its SHA-256."""

    id: str
    sha256: str
    media_type: str = Field(description="application/pdf, application/ofd, image/jpeg or image/png")
    size: int = Field(description="bytes")
    pages: int | None = Field(default=None, description="a PDF's or OFD's pages")
    width: int | None = Field(default=None, description="an image's width in pixels")
    height: int | None = Field(default=None, description="an image's height in pixels")
    kind: str | None = Field(default=None, description="the catalogue material code it was uploaded as")
    created_at: datetime


# The upload form as the OpenAPI document declares it (the route reads the stream itself).
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "a PDF, OFD, JPEG or PNG document (recognised by content, not by name)"},
            "kind": {"type": "string", "maxLength": KIND_MAX, "pattern": KIND_PATTERN.pattern,
                     "description": "optional: the catalogue material code it is meant as (e.g. seal_specimen)"},
        },
        "additionalProperties": False,
    }}},
}
