"""Refusals: what a domain rule answers when it says no, without knowing about HTTP.

Commands and domain functions raise these; the web layer (``shared.problems``) turns each kind into its
problem+json status: ``Invalid`` 422 with every problem at once, ``Forbidden`` 403, ``NotFound`` 404,
``Conflict`` 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel


class FieldProblem(BaseModel):
    """One thing wrong with a request, in both languages (一次告知: all of them in one reply)."""

    loc: list[str | int]
    code: str
    message_zh: str
    message_en: str


class Refusal(Exception):
    """A rule refuses the request; ``code`` is stable for clients, ``detail`` explains it in English."""

    status: ClassVar[int] = 400
    default_title: ClassVar[str] = "Refused"

    def __init__(self, code: str, detail: str, *, title: str | None = None,
                 errors: Sequence[FieldProblem] = (), **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.title = title or self.default_title
        self.errors = list(errors)
        self.extra = extra


class Invalid(Refusal):
    """The request has problems: every one of them is named (一次告知)."""

    status = 422
    default_title = "The application has problems"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__("validation", f"{len(problems)} problem(s) found; fix all of them.", errors=problems)


class Forbidden(Refusal):
    """The caller may not do this to this object."""

    status = 403
    default_title = "Forbidden"


class NotFound(Refusal):
    """No such object, or not one the caller may see (answered the same way)."""

    status = 404
    default_title = "Not found"


class Conflict(Refusal):
    """The object's current state does not allow this now."""

    status = 409
    default_title = "Conflict"


class TooLarge(Refusal):
    """What the request would make is larger than the system carries (e.g. an event over the bus's limit)."""

    status = 413
    default_title = "Too large"


def refuse_if(problems: Sequence[FieldProblem]) -> None:
    """Raise ``Invalid`` naming every problem, if there are any."""
    if problems:
        raise Invalid(problems)
