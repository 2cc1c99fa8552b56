"""The request id (``X-Request-ID``): taken in, given out, logged, and carried in event headers."""

from __future__ import annotations

import contextvars
import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


def accept_request_id(value: str | None) -> str:
    """Keep a caller's request id when it is sane, else make a new one (ids end up in logs and headers)."""
    if value and _ACCEPTABLE.match(value):
        return value
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id of the work in progress, or None outside a request or event."""
    value = request_id_var.get()
    return None if value == "-" else value
