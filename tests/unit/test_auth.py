"""Token verification: every way a token can be wrong is a 401 problem; JWKS keys (RS256, ES256) are
found by kid, rotated, expired from the cache, and survive a short outage of the issuer."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from shared.auth import Principal, TokenVerifier, issue_token, submitting_for
from shared.problems import Problem
from shared.settings import Settings
from tests.jwks import JwksServer, SigningKey, claims_for

HS = Settings(env="test", jwt_secret="unit-test-secret-0123456789-0123456789")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    """An ``alg: none`` token: header and claims, no signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def tampered(token: str, **changes: Any) -> str:
    """The token with its claims changed and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_b64(claims)}.{signature}"


async def rejected(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as info:
        await verifier.verify(token)
    assert info.value.status == 401, info.value.detail
    assert info.value.headers["WWW-Authenticate"].startswith("Bearer")
    return info.value


def hs_token(**overrides: Any) -> str:
    return jwt.encode(claims_for(HS, "u1", ["applicant"], **overrides), HS.jwt_secret, algorithm="HS256")


async def test_a_valid_shared_secret_token_gives_its_principal() -> None:
    principal = await TokenVerifier(HS).verify(issue_token(HS, "zhang", ["applicant", "clerk"], name="张三"))
    assert principal == Principal(sub="zhang", roles=frozenset({"applicant", "clerk"}), name="张三")
    assert principal.is_clerk and principal.is_applicant and not principal.is_admin


@pytest.mark.parametrize(
    ("case", "token", "detail"),
    [
        ("expired", lambda: hs_token(iat=int(time.time()) - 7200, nbf=None, exp=int(time.time()) - 3600),
         "expired"),
        ("not yet valid", lambda: hs_token(nbf=int(time.time()) + 3600), "not yet valid"),
        ("issued in the future", lambda: hs_token(iat=int(time.time()) + 3600), "not yet valid"),
        ("wrong issuer", lambda: hs_token(iss="https://evil.example"), "issuer"),
        ("wrong audience", lambda: hs_token(aud="another-api"), "audience"),
        ("no expiry", lambda: hs_token(exp=None), "exp"),
        ("no subject", lambda: jwt.encode(claims_for(HS, None, []), HS.jwt_secret, algorithm="HS256"), "sub"),
        ("alg none", lambda: unsigned(claims_for(HS, "u1", ["admin"])), "'none'"),
        ("tampered claims", lambda: tampered(hs_token(), roles=["admin"]), "Signature"),
        ("signed with another secret",
         lambda: jwt.encode(claims_for(HS, "u1", []), "another-secret-0123456789-0123456789", algorithm="HS256"),
         "Signature"),
        ("RS256 while only the shared secret is configured", lambda: SigningKey.rsa().sign(claims_for(HS, "u1", [])),
         "'RS256'"),
        ("malformed", lambda: "not.a.token", "malformed"),
    ],
)
async def test_every_bad_token_is_401(case: str, token: Any, detail: str) -> None:
    problem = await rejected(TokenVerifier(HS), token())
    assert detail in (problem.detail or ""), (case, problem.detail)


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[JwksServer, SigningKey, SigningKey]]:
    rsa_key, ec_key = SigningKey.rsa("rsa-1"), SigningKey.ec("ec-1")
    server = JwksServer([rsa_key, ec_key]).start()
    yield server, rsa_key, ec_key
    server.stop()


def jwks_settings(server: JwksServer, **extra: Any) -> Settings:
    return Settings(env="test", jwks_url=server.url, jwks_refresh_cooldown_seconds=0, **extra)


async def test_rs256_and_es256_tokens_verify_by_kid(issuer: tuple[JwksServer, SigningKey, SigningKey]) -> None:
    server, rsa_key, ec_key = issuer
    settings = jwks_settings(server)
    verifier = TokenVerifier(settings)
    for key in (rsa_key, ec_key):
        principal = await verifier.verify(key.sign(claims_for(settings, f"user-{key.alg}", ["dept:tax"])))
        assert principal.sub == f"user-{key.alg}" and principal.is_officer_of("tax")


async def test_with_jwks_symmetric_and_confused_tokens_are_refused(
        issuer: tuple[JwksServer, SigningKey, SigningKey]) -> None:
    server, rsa_key, _ = issuer
    settings = jwks_settings(server)
    verifier = TokenVerifier(settings)
    await rejected(verifier, issue_token(settings, "dev", ["admin"]))  # the dev secret is not trusted then
    public_pem = rsa_key.public_jwk()["n"]
    # The public key used as an HMAC secret (algorithm confusion).
    await rejected(verifier, jwt.encode(claims_for(settings, "x", ["admin"]), public_pem, algorithm="HS256",
                                        headers={"kid": rsa_key.kid}))
    await rejected(verifier, unsigned(claims_for(settings, "x", ["admin"])))
    # An ES256 header on an RSA key's kid.
    await rejected(verifier, SigningKey.ec(rsa_key.kid).sign(claims_for(settings, "x", [])))
    await rejected(verifier, tampered(rsa_key.sign(claims_for(settings, "x", [])), roles=["admin"]))
    await rejected(verifier, rsa_key.sign(claims_for(settings, "x", [], aud="another-api")))
    await rejected(verifier, rsa_key.sign(claims_for(settings, "x", [], exp=int(time.time()) - 120)))


async def test_a_rotated_key_is_fetched_by_its_new_kid_and_a_removed_one_expires_with_the_cache() -> None:
    old, new = SigningKey.rsa("2024-old"), SigningKey.ec("2025-new")
    server = JwksServer([old]).start()
    try:
        settings = jwks_settings(server, jwks_cache_seconds=300)
        verifier = TokenVerifier(settings)
        assert verifier.jwks is not None
        now = [1000.0]
        verifier.jwks.clock = lambda: now[0]
        assert (await verifier.verify(old.sign(claims_for(settings, "a", [])))).sub == "a"
        await rejected(verifier, new.sign(claims_for(settings, "b", [])))  # not published yet
        server.publish([old, new])
        assert (await verifier.verify(new.sign(claims_for(settings, "b", [])))).sub == "b"
        server.publish([new])
        # Still trusted until the cached set expires; then gone.
        assert (await verifier.verify(old.sign(claims_for(settings, "a", [])))).sub == "a"
        now[0] += 301
        await rejected(verifier, old.sign(claims_for(settings, "a", [])))
        assert (await verifier.verify(new.sign(claims_for(settings, "b", [])))).sub == "b"
    finally:
        server.stop()


async def test_unknown_kids_refetch_at_most_once_per_cooldown() -> None:
    key = SigningKey.rsa()
    server = JwksServer([key]).start()
    try:
        settings = Settings(env="test", jwks_url=server.url, jwks_refresh_cooldown_seconds=60)
        verifier = TokenVerifier(settings)
        await verifier.verify(key.sign(claims_for(settings, "a", [])))
        fetched = server.fetches
        for i in range(20):
            await rejected(verifier, SigningKey.rsa(f"forged-{i}").sign(claims_for(settings, "x", [])))
        assert server.fetches == fetched  # within the cooldown after the first fetch
    finally:
        server.stop()


async def test_issuer_down_first_is_503_then_known_keys_keep_working() -> None:
    key = SigningKey.ec()
    gone = JwksServer([key])
    settings = jwks_settings(gone)
    gone.server.server_close()  # nothing listens there
    with pytest.raises(Problem) as info:
        await TokenVerifier(settings).verify(key.sign(claims_for(settings, "a", [])))
    assert info.value.status == 503

    server = JwksServer([key]).start()
    settings = jwks_settings(server, jwks_cache_seconds=1)
    verifier = TokenVerifier(settings)
    assert verifier.jwks is not None
    now = [0.0]
    verifier.jwks.clock = lambda: now[0]
    await verifier.verify(key.sign(claims_for(settings, "a", [])))
    server.stop()
    now[0] += 5  # the cache expired while the issuer is away: the known key still verifies
    assert (await verifier.verify(key.sign(claims_for(settings, "a", [])))).sub == "a"


def test_who_submits_for_whom() -> None:
    applicant = Principal("citizen", frozenset({"applicant"}))
    clerk = Principal("window-3", frozenset({"clerk"}))
    assert submitting_for(applicant, None) == "citizen"
    assert submitting_for(applicant, "citizen") == "citizen"
    assert submitting_for(clerk, "citizen") == "citizen"
    with pytest.raises(Problem) as info:
        submitting_for(applicant, "someone-else")
    assert info.value.status == 403
    with pytest.raises(Problem) as info:
        submitting_for(clerk, None)
    assert info.value.status == 422
    for roles in ({"dept:tax"}, {"admin"}, set()):
        with pytest.raises(Problem) as info:
            submitting_for(Principal("x", frozenset(roles)), None)
        assert info.value.status == 403
