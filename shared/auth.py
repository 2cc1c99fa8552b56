"""Identity: bearer JWTs verified (signature, issuer, audience, expiry) at the gateway and again in each
service; roles ``applicant``, ``clerk``, ``dept:<code>``, ``admin``."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from shared.problems import Problem
from shared.settings import Settings, get_settings

ROLE_APPLICANT = "applicant"
ROLE_CLERK = "clerk"
ROLE_ADMIN = "admin"
DEPT_ROLE_PREFIX = "dept:"


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token."""

    sub: str
    roles: frozenset[str]
    name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_admin(self) -> bool:
        return ROLE_ADMIN in self.roles

    @property
    def is_clerk(self) -> bool:
        return ROLE_CLERK in self.roles

    @property
    def is_applicant(self) -> bool:
        return ROLE_APPLICANT in self.roles

    @property
    def departments(self) -> frozenset[str]:
        """Department codes this caller is an officer of."""
        return frozenset(r[len(DEPT_ROLE_PREFIX):] for r in self.roles if r.startswith(DEPT_ROLE_PREFIX))

    def is_officer_of(self, department: str) -> bool:
        return department in self.departments


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Not authenticated", detail, code="unauthenticated",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


class TokenVerifier:
    """Verifies tokens with the shared secret (HS256) or the issuer's JWKS (RS256/ES256, by ``kid``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = (
            jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300) if settings.jwks_url else None
        )

    async def _key_for(self, token: str) -> Any:
        if self._jwks is None:
            return self.settings.jwt_secret
        # PyJWKClient fetches with urllib: keep it off the event loop. A new kid refreshes the set.
        signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
        return signing_key.key

    async def verify(self, token: str) -> Principal:
        """The caller of a valid token; a Problem 401 for anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized("malformed token") from exc
        allowed = ["HS256"] if self._jwks is None else [a for a in self.settings.jwt_algorithms if a != "HS256"]
        if header.get("alg") not in allowed:
            raise _unauthorized(f"token algorithm {header.get('alg')!r} is not accepted")
        try:
            key = await self._key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=allowed,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=30,
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _unauthorized("token not yet valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized("token audience is not this API") from exc
        except jwt.InvalidIssuerError as exc:
            raise _unauthorized("token issuer is not trusted") from exc
        except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
            raise _unauthorized(f"invalid token: {exc}") from exc
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = roles.split()
        return Principal(sub=str(claims["sub"]), roles=frozenset(map(str, roles)), name=claims.get("name"),
                         claims=claims)


def issue_token(settings: Settings, sub: str, roles: list[str], *, name: str | None = None,
                ttl_seconds: int = 8 * 3600) -> str:
    """A signed HS256 token with the configured issuer and audience (dev tokens and tests)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub, "roles": roles, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
        "iat": now, "nbf": now, "exp": now + ttl_seconds, "jti": uuid.uuid4().hex,
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def bearer_token(request: Request) -> str:
    """The bearer token of a request, or a Problem 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer token is required")
    return token.strip()


def get_verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "verifier", None)
    if verifier is None:
        verifier = request.app.state.verifier = TokenVerifier(get_settings())
    return verifier


async def current_principal(request: Request, verifier: Annotated[TokenVerifier, Depends(get_verifier)]) -> Principal:
    """The verified caller of this request (cached on the request)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await verifier.verify(bearer_token(request))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_admin(principal: CurrentPrincipal) -> Principal:
    """Only admins pass (403 for everyone else)."""
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "this endpoint is for administrators", code="forbidden")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


def require_officer(principal: Principal, department: str) -> None:
    """Officers of ``department`` (and admins) pass; anyone else gets 403."""
    if not (principal.is_officer_of(department) or principal.is_admin):
        raise Problem(403, "Forbidden", f"this queue belongs to department {department!r}", code="forbidden")


def may_read(principal: Principal, applicant: str, submitted_by: str) -> bool:
    """Object-level access to an application: its applicant, the clerk who submitted it, or an admin."""
    return principal.is_admin or principal.sub == applicant or (principal.is_clerk and principal.sub == submitted_by)


def submitting_for(principal: Principal, on_behalf_of: str | None) -> str:
    """Whose application a submission is: the applicant's own, or a clerk's for the applicant named.

    Officers and admins do not submit (403); a clerk must name the applicant (422).
    """
    if principal.is_clerk:
        if not on_behalf_of:
            from shared.problems import FieldProblem, validation_problem

            raise validation_problem([FieldProblem(
                loc=["on_behalf_of"], code="required", message_zh="窗口代办须填写申请人",
                message_en="a clerk must name the applicant (on_behalf_of)")])
        return on_behalf_of
    if principal.is_applicant:
        return principal.sub
    raise Problem(403, "Forbidden", "only applicants and service-hall clerks submit applications", code="forbidden")
