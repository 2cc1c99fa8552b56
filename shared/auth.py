"""Identity: bearer JWTs verified (signature, issuer, audience, expiry) at the gateway and again in each
service; roles ``applicant``, ``clerk``, ``dept:<code>``, ``supervisor`` (办不成事: the escalations' queue),
``admin``."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request

from shared.problems import Problem
from shared.refusals import Forbidden
from shared.settings import Settings, get_settings

log = logging.getLogger("onestop.auth")

ROLE_APPLICANT = "applicant"
ROLE_CLERK = "clerk"
ROLE_ADMIN = "admin"
# 办不成事 / 首问负责: who answers an applicant's escalation of a stuck or unfairly refused application.
ROLE_SUPERVISOR = "supervisor"
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
    def is_supervisor(self) -> bool:
        return ROLE_SUPERVISOR in self.roles

    @property
    def departments(self) -> frozenset[str]:
        """Department codes this caller is an officer of."""
        return frozenset(r[len(DEPT_ROLE_PREFIX):] for r in self.roles if r.startswith(DEPT_ROLE_PREFIX))

    def is_officer_of(self, department: str) -> bool:
        return department in self.departments


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "Not authenticated", detail, code="unauthenticated",
                   headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def duplicate_authorization() -> Problem:
    return Problem(400, "Two Authorization headers", "send one Authorization header", code="duplicate_authorization")


def expires_at(principal: Principal) -> float | None:
    """When the caller's token expires (epoch seconds), for work that outlasts the request's check."""
    exp = principal.claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def token_expired() -> Problem:
    return _unauthorized("token expired")


class JwksKeys:
    """The issuer's signing keys by ``kid``, fetched from its JWKS over HTTP (without blocking the loop).

    The set is trusted for ``cache_seconds``; a token naming an unknown ``kid`` (the issuer rotated its
    keys) fetches the set again, at most once per ``cooldown_seconds``. When the issuer does not answer,
    the keys already known stay in use: a short outage of the identity provider does not log everyone out.
    """

    def __init__(self, url: str, *, cache_seconds: float = 300.0, cooldown_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def _fetch(self) -> dict[str, jwt.PyJWK]:
        async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as client:
            resp = await client.get(self.url, headers={"accept": "application/json"})
            resp.raise_for_status()
            data = resp.json()
        keys: dict[str, jwt.PyJWK] = {}
        for jwk in data.get("keys", []) if isinstance(data, dict) else []:
            # Symmetric keys never come from an issuer's public set; taking one would let HS256 in.
            if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct":
                continue
            try:
                keys[str(jwk.get("kid", ""))] = jwt.PyJWK(jwk)
            except jwt.PyJWTError as exc:
                log.warning("JWKS key skipped", extra={"kid": jwk.get("kid"), "error": str(exc)})
        return keys

    def _due(self, now: float) -> bool:
        """No fetch was tried within the cooldown (so a down issuer is not asked on every request)."""
        return self._attempted_at is None or now - self._attempted_at >= self.cooldown_seconds

    async def _refresh(self) -> None:
        async with self._lock:
            now = self.clock()
            if not self._due(now):
                return  # another request fetched while this one waited for the lock
            self._attempted_at = now
            try:
                self._keys = await self._fetch()
                self._fetched_at = now
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("JWKS fetch failed", extra={"jwks_url": self.url, "error": repr(exc)})

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # A token without kid is acceptable only while the issuer has a single key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The verification key a token names; Problem 401 for a key the issuer does not have, 503 while
        the issuer's key set could never be fetched."""
        now = self.clock()
        expired = self._fetched_at is None or now - self._fetched_at >= self.cache_seconds
        if expired and self._due(now):
            await self._refresh()
        key = self._lookup(kid)
        if key is None and self._due(self.clock()):
            await self._refresh()  # an unknown kid: the issuer may have rotated its keys
            key = self._lookup(kid)
        if key is None:
            if self._fetched_at is None:
                raise Problem(503, "Identity provider unavailable",
                              "the signing keys of the identity provider cannot be fetched; try again shortly",
                              code="jwks_unavailable", headers={"Retry-After": "5"})
            raise _unauthorized("the token's signing key is not one of the issuer's keys")
        return key


def _is_symmetric(alg: str) -> bool:
    return alg.upper().startswith("HS")


class TokenVerifier:
    """Verifies tokens with the shared secret (HS256) or the issuer's JWKS (RS256/ES256, by ``kid``).

    With a JWKS configured only asymmetric algorithms are accepted, so the issuer's public key can never
    be used as an HMAC secret; ``alg: none`` is never accepted.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.jwks: JwksKeys | None = (
            JwksKeys(settings.jwks_url, cache_seconds=settings.jwks_cache_seconds,
                     cooldown_seconds=settings.jwks_refresh_cooldown_seconds)
            if settings.jwks_url else None
        )
        if self.jwks is None:
            self.algorithms = ["HS256"]
        else:
            self.algorithms = [a for a in settings.jwt_algorithms if not _is_symmetric(a) and a.lower() != "none"]

    async def verify(self, token: str) -> Principal:
        """The caller of a valid token; a Problem 401 for anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized("malformed token") from exc
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _unauthorized(f"token algorithm {alg!r} is not accepted")
        key: Any = self.settings.jwt_secret
        if self.jwks is not None:
            kid = header.get("kid")
            key = await self.jwks.key_for(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
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
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"invalid token: {exc}") from exc
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = roles.split()
        if not isinstance(roles, list) or not str(claims["sub"]).strip():
            raise _unauthorized("invalid token: malformed subject or roles")
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
    """The bearer token of a request, or a Problem 401 (400 for two Authorization headers: which one counts
    would depend on who reads them)."""
    if len(request.headers.getlist("authorization")) > 1:
        raise duplicate_authorization()
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer token is required")
    return token.strip()


def verifier_of(request: Request) -> TokenVerifier:
    """The app's token verifier (made on first use)."""
    verifier = getattr(request.app.state, "verifier", None)
    if verifier is None:
        verifier = request.app.state.verifier = TokenVerifier(get_settings())
    return verifier


async def get_verifier(request: Request) -> TokenVerifier:
    # A coroutine, as every dependency here: FastAPI runs a plain function in a worker thread.
    return verifier_of(request)


async def current_principal(request: Request, verifier: Annotated[TokenVerifier, Depends(get_verifier)]) -> Principal:
    """The verified caller of this request (cached on the request)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await verifier.verify(bearer_token(request))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def require_admin(principal: CurrentPrincipal) -> Principal:
    """Only admins pass (403 for everyone else)."""
    if not principal.is_admin:
        raise Problem(403, "Forbidden", "this endpoint is for administrators", code="forbidden")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]


async def require_supervisor(principal: CurrentPrincipal) -> Principal:
    """Only supervisors pass (403 for everyone else, admins included: the outcome of an escalation is theirs)."""
    if not principal.is_supervisor:
        raise Problem(403, "Forbidden", "this endpoint is for supervisors (办不成事)", code="forbidden")
    return principal


SupervisorPrincipal = Annotated[Principal, Depends(require_supervisor)]


def require_officer(principal: Principal, department: str) -> None:
    """Officers of ``department`` (and admins) pass; anyone else gets 403."""
    if not (principal.is_officer_of(department) or principal.is_admin):
        raise Problem(403, "Forbidden", f"this queue belongs to department {department!r}", code="forbidden")


def may_read(principal: Principal, applicant: str, submitted_by: str) -> bool:
    """Object-level access to an application: its applicant, the clerk who submitted it, or an admin."""
    return principal.is_admin or may_write(principal, applicant, submitted_by)


def may_write(principal: Principal, applicant: str, submitted_by: str) -> bool:
    """Who may change an application (supplement it, resume or extend a suspension): its applicant, or the
    clerk who submitted it for them. Admins read everything and change nothing of an applicant's."""
    return principal.sub == applicant or (principal.is_clerk and principal.sub == submitted_by)


def require_write(principal: Principal, applicant: str, submitted_by: str) -> None:
    """``Forbidden`` (403) for a reader who may not change the object (an admin, another officer)."""
    if not may_write(principal, applicant, submitted_by):
        raise Forbidden("read_only", "admins and officers read applications; only the applicant (or the clerk who "
                        "submitted it) changes one", title="Read only")


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
        if on_behalf_of and on_behalf_of != principal.sub:
            raise Problem(403, "Forbidden", "only service-hall clerks submit on behalf of another applicant",
                          code="forbidden")
        return principal.sub
    raise Problem(403, "Forbidden", "only applicants and service-hall clerks submit applications", code="forbidden")
