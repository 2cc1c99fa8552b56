"""Identity and access through the real gateway and services: every bad token is a 401 problem at the
gateway and at a service called directly; a table of (role, endpoint, object) → status; answers carry
whitelisted fields with personal data masked where the caller has no need of it; and a stack that trusts
an OIDC issuer's JWKS (RS256, ES256, rotation by kid) instead of the shared secret."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from services.stack import Stack
from shared.settings import Settings
from tests.jwks import JwksServer, SigningKey, claims_for
from tests.sse import read_events
from tests.support import (
    EXAMPLE_REGISTRATION,
    Api,
    Databases,
    dump,
    eventually,
    registration_body,
    running_stack,
)

RESIDENT_ID = EXAMPLE_REGISTRATION["legal_representative"]["id_number"]
MOBILE = EXAMPLE_REGISTRATION["legal_representative"]["mobile"]
DEV = Settings()  # the stacks' issuer, audience and dev secret


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(settings: Settings, good: str, sign: Any) -> dict[str, str]:
    """Every kind of bad token, made with the signer the stack would otherwise trust."""
    now = int(time.time())
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return {
        "expired": sign(claims_for(settings, "x", ["admin"], iat=now - 7200, nbf=now - 7200, exp=now - 3600)),
        "not yet valid": sign(claims_for(settings, "x", ["admin"], nbf=now + 3600)),
        "wrong issuer": sign(claims_for(settings, "x", ["admin"], iss="https://idp.evil.example")),
        "wrong audience": sign(claims_for(settings, "x", ["admin"], aud="some-other-api")),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'roles': ['admin']})}.",
        "tampered": f"{header}.{_b64({**claims, 'roles': ['admin']})}.{signature}",
        "garbage": "not.a.token",
    }


async def assert_401(http: httpx.AsyncClient, url: str, token: str | None, case: str) -> None:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    resp = await http.get(url, headers=headers)
    assert resp.status_code == 401, (case, url, resp.status_code, resp.text[:300])
    assert resp.headers["content-type"].startswith("application/problem+json"), case
    assert resp.headers["www-authenticate"].startswith("Bearer"), case
    body = resp.json()
    assert body["status"] == 401 and body["code"] == "unauthenticated" and body["request_id"], case


async def test_every_forged_token_is_401_at_the_gateway_and_at_the_service(stack: Stack, api: Api) -> None:
    good = await api.token("forger")
    tokens = forged_tokens(DEV, good, lambda c: jwt.encode(c, DEV.jwt_secret, algorithm="HS256"))
    tokens["another secret"] = jwt.encode(claims_for(DEV, "x", ["admin"]), "guessed-secret-0123456789-0123456789",
                                          algorithm="HS256")
    tokens["RS256 unknown key"] = SigningKey.rsa().sign(claims_for(DEV, "x", ["admin"]))
    urls = [f"{stack.url_of('gateway')}/api/v1/registrations", f"{stack.url_of('gateway')}/api/v1/applications",
            f"{stack.url_of('registration')}/api/v1/registrations",
            f"{stack.url_of('registration')}/api/v1/admin/task-decisions"]
    for url in urls:
        await assert_401(api.http, url, None, "no token")
        for case, token in tokens.items():
            await assert_401(api.http, url, token, case)
        ok = await api.http.get(url.replace("/admin/task-decisions", "/registrations"),
                                headers={"authorization": f"Bearer {good}"})
        assert ok.status_code == 200, url


@dataclass
class World:
    """Objects the authorization table is about."""

    own: str  # alice's application, with a bank task waiting for an officer
    clerks: str  # submitted by window clerk-1 for carol
    bank_task: str
    licence: str


@pytest.fixture(scope="module")
async def world(stack: Stack) -> AsyncIterator[World]:
    api = Api(stack.url_of("gateway"))
    try:
        own = await api.submit("alice", registration_body(bank_account=True, bank_name="中国银行江门分行"))
        assert own.status_code == 202, dump(own)
        body = registration_body()
        body["on_behalf_of"] = "carol"
        clerks = await api.submit("clerk-1", body, roles=("clerk",))
        assert clerks.status_code == 202, dump(clerks)
        assert clerks.json()["applicant"] == "carol" and clerks.json()["submitted_by"] == "clerk-1"
        officer = await api.as_("bank-officer", "dept:bank")

        async def bank_task() -> dict | None:
            queue = (await api.http.get("/api/v1/departments/bank/tasks", headers=officer)).json()["items"]
            return next((t for t in queue if t["application_id"] == own.json()["id"]), None)

        task = await eventually(bank_task, what="alice's bank task")
        done = await api.wait_status("carol", f"/api/v1/registrations/{clerks.json()['id']}", {"completed"})
        yield World(own.json()["id"], clerks.json()["id"], task["id"], done["license"]["verification_code"])
    finally:
        await api.close()


# (caller, roles, method, path, body, expected); {own}, {clerks}, {task}, {licence} name the world's objects.
TABLE: list[tuple[str | None, tuple[str, ...], str, str, Any, int]] = [
    ("alice", (), "GET", "/api/v1/registrations/{own}", None, 200),
    ("bob", (), "GET", "/api/v1/registrations/{own}", None, 404),
    ("bob", (), "PATCH", "/api/v1/registrations/{own}", {"note": "x"}, 404),
    ("carol", (), "GET", "/api/v1/registrations/{clerks}", None, 200),
    ("clerk-1", ("clerk",), "GET", "/api/v1/registrations/{clerks}", None, 200),
    ("clerk-2", ("clerk",), "GET", "/api/v1/registrations/{clerks}", None, 404),
    ("clerk-1", ("clerk",), "GET", "/api/v1/registrations/{own}", None, 404),
    ("bank-officer", ("dept:bank",), "GET", "/api/v1/registrations/{own}", None, 404),
    ("root", ("admin",), "GET", "/api/v1/registrations/{own}", None, 200),
    ("alice", (), "GET", "/api/v1/applications/{own}/events", None, 200),
    ("clerk-1", ("clerk",), "GET", "/api/v1/applications/{clerks}/events", None, 200),
    ("root", ("admin",), "GET", "/api/v1/applications/{own}/events", None, 200),
    ("bob", (), "GET", "/api/v1/applications/{own}/events", None, 404),
    ("clerk-2", ("clerk",), "GET", "/api/v1/applications/{clerks}/events", None, 404),
    ("bank-officer", ("dept:bank",), "GET", "/api/v1/applications/{own}/events", None, 404),
    ("bank-officer", ("dept:bank",), "GET", "/api/v1/departments/bank/tasks", None, 200),
    ("root", ("admin",), "GET", "/api/v1/departments/bank/tasks", None, 200),
    ("samr-officer", ("dept:samr",), "GET", "/api/v1/departments/bank/tasks", None, 403),
    ("alice", (), "GET", "/api/v1/departments/bank/tasks", None, 403),
    ("clerk-1", ("clerk",), "GET", "/api/v1/departments/bank/tasks", None, 403),
    ("samr-officer", ("dept:samr",), "POST", "/api/v1/departments/bank/tasks/{task}/decision",
     {"outcome": "approved"}, 403),
    ("root", ("admin",), "POST", "/api/v1/departments/bank/tasks/{task}/decision", {"outcome": "approved"}, 403),
    ("alice", (), "POST", "/api/v1/departments/bank/tasks/{task}/decision", {"outcome": "approved"}, 403),
    ("samr-officer", ("dept:samr",), "POST", "/api/v1/departments/samr/tasks/{task}/decision",
     {"outcome": "approved"}, 404),
    ("root", ("admin",), "GET", "/api/v1/admin/task-decisions", None, 200),
    ("alice", (), "GET", "/api/v1/admin/task-decisions", None, 403),
    ("clerk-1", ("clerk",), "GET", "/api/v1/admin/task-decisions", None, 403),
    ("bank-officer", ("dept:bank",), "GET", "/api/v1/admin/task-decisions", None, 403),
    ("bank-officer", ("dept:bank",), "POST", "/api/v1/registrations", "form", 403),
    ("root", ("admin",), "POST", "/api/v1/registrations", "form", 403),
    ("alice", (), "POST", "/api/v1/registrations", "form for bob", 403),
    ("clerk-1", ("clerk",), "POST", "/api/v1/registrations", "form", 422),
    ("alice", (), "GET", "/api/v1/applications", None, 200),
    (None, (), "GET", "/api/v1/licenses/{licence}", None, 200),
    (None, (), "GET", "/api/v1/registrations/{own}", None, 401),
]


async def call(api: Api, base: str, caller: str | None, roles: tuple[str, ...], method: str, path: str,
               body: Any, world: World) -> int:
    url = base + path.format(own=world.own, clerks=world.clerks, task=world.bank_task, licence=world.licence)
    headers = await api.as_(caller, *roles) if caller else {}
    if url.endswith("/events"):
        stream = await read_events(api.http, url, headers, stop=lambda seen: len(seen) >= 1)
        return stream.status
    if isinstance(body, str):
        form = registration_body()
        if body == "form for bob":
            form["on_behalf_of"] = "bob"
        body = form
        headers["Idempotency-Key"] = str(uuid.uuid4())
    resp = await api.http.request(method, url, json=body, headers=headers)
    if resp.status_code >= 400:
        assert resp.headers["content-type"].startswith("application/problem+json"), (path, resp.text[:200])
    return resp.status_code


async def test_authorization_table_through_the_gateway(stack: Stack, api: Api, world: World) -> None:
    results = [(caller, roles, method, path, await call(api, stack.url_of("gateway"), caller, roles, method, path,
                                                        body, world), expected)
               for caller, roles, method, path, body, expected in TABLE]
    wrong = [r for r in results if r[4] != r[5]]
    assert not wrong, "\n".join(f"{c} {r} {m} {p}: got {got}, expected {exp}" for c, r, m, p, got, exp in wrong)


async def test_services_check_again_when_called_directly(stack: Stack, api: Api, world: World) -> None:
    """The gateway is not the only line: the same rows against the service itself."""
    rows = [row for row in TABLE if row[3].startswith(("/api/v1/registrations", "/api/v1/departments",
                                                        "/api/v1/admin"))]
    base = stack.url_of("registration")
    for caller, roles, method, path, body, expected in rows:
        got = await call(api, base, caller, roles, method, path, body, world)
        assert got == expected, (caller, roles, method, path, got, expected)


async def test_own_department_decides_once(api: Api, world: World) -> None:
    officer = await api.as_("bank-officer", "dept:bank")
    url = f"/api/v1/departments/bank/tasks/{world.bank_task}/decision"
    assert (await api.http.post(url, headers=officer, json={"outcome": "approved"})).status_code == 200
    again = await api.http.post(url, headers=officer, json={"outcome": "approved"})
    assert again.status_code == 409 and again.json()["code"] == "task_already_decided"
    await api.wait_status("alice", f"/api/v1/registrations/{world.own}", {"completed"})


FORBIDDEN_KEYS = {"form", "id_number", "mobile", "details", "decided_by", "overdue_at", "depends_on",
                  "working_days", "request_hash", "response_body", "payload"}


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


async def test_answers_whitelist_fields_and_mask_what_the_caller_does_not_need(api: Api, world: World) -> None:
    answers = [await api.get("carol", f"/api/v1/registrations/{world.clerks}"),
               await api.get("clerk-1", "/api/v1/registrations", "clerk"),
               await api.get("carol", "/api/v1/applications"),
               await api.http.get(f"/api/v1/licenses/{world.licence}")]
    for resp in answers:
        assert resp.status_code == 200, dump(resp)
        assert not keys_of(resp.json()) & FORBIDDEN_KEYS, (resp.url, keys_of(resp.json()) & FORBIDDEN_KEYS)
        assert RESIDENT_ID not in resp.text and MOBILE not in resp.text, resp.url
    # A clerk lists what they submitted, the applicant what is theirs; both see the clerk recorded.
    assert [i["id"] for i in answers[1].json()["items"]] == [world.clerks]
    mine = [i for i in answers[2].json()["items"] if i["id"] == world.clerks]
    assert mine and mine[0]["submitted_by"] == "clerk-1" and mine[0]["applicant"] == "carol"
    licence = answers[-1].json()
    assert set(licence) <= {"verification_code", "status", "uscc", "name", "entity_type", "entity_type_zh",
                            "legal_representative", "registered_capital", "address", "business_scope",
                            "registered_at", "status_changed_at"}

    # A department sees what it needs: samr the whole form, psb (seal filing) the real identity the law asks
    # for, the others the legal representative masked.
    admin = await api.as_("root", "admin")
    seen: dict[str, dict] = {}
    for department in ("samr", "tax", "psb", "hrss", "medicare"):
        queue = await api.http.get(f"/api/v1/departments/{department}/tasks", params={"status": "", "limit": 500},
                                headers=admin)
        assert queue.status_code == 200, dump(queue)
        task = next(t for t in queue.json()["items"] if t["application_id"] == world.clerks)
        seen[department] = task["details"]
    assert seen["samr"]["form"]["legal_representative"]["id_number"] == RESIDENT_ID
    assert seen["psb"]["legal_representative"]["id_number"] == RESIDENT_ID
    for department in ("tax", "hrss", "medicare"):
        text = json.dumps(seen[department], ensure_ascii=False)
        assert RESIDENT_ID not in text and MOBILE not in text, department
        assert seen[department]["legal_representative"]["id_number"] == "110105********002X"


async def test_gateway_readiness_includes_the_broker(stack: Stack, api: Api) -> None:
    resp = await api.http.get(f"{stack.url_of('gateway')}/readyz")
    assert resp.status_code == 200 and resp.json()["checks"] == {"nats": "ok"}


# --- A stack that trusts an OIDC issuer's JWKS ------------------------------------------------------------


@dataclass
class Issuer:
    server: JwksServer
    rsa: SigningKey
    ec: SigningKey


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    keys = Issuer(JwksServer([]), SigningKey.rsa("rsa-2025"), SigningKey.ec("ec-2025"))
    keys.server.publish([keys.rsa, keys.ec])
    keys.server.start()
    yield keys
    keys.server.stop()


@pytest.fixture(scope="module")
def oidc_stack(session_tmp: Path, databases: Databases, issuer: Issuer) -> Iterator[Stack]:
    with running_stack(session_tmp / "oidc", databases, ONESTOP_JWKS_URL=issuer.server.url,
                       ONESTOP_JWKS_REFRESH_COOLDOWN_SECONDS="0", ONESTOP_SIMULATED_DEPARTMENTS="all") as stack:
        yield stack


async def test_oidc_tokens_by_kid_and_rotation(oidc_stack: Stack, issuer: Issuer) -> None:
    gateway, service = oidc_stack.url_of("gateway"), oidc_stack.url_of("registration")
    async with httpx.AsyncClient(timeout=30) as http:
        for key in (issuer.rsa, issuer.ec):
            token = key.sign(claims_for(DEV, f"oidc-{key.alg}", ["applicant"]))
            for base in (gateway, service):
                resp = await http.get(f"{base}/api/v1/registrations", headers={"authorization": f"Bearer {token}"})
                assert resp.status_code == 200, (key.alg, base, resp.text[:300])

        # A submission carries the issuer's identity through to the service.
        token = issuer.ec.sign(claims_for(DEV, "oidc-citizen", ["applicant"]))
        resp = await http.post(f"{gateway}/api/v1/registrations", json=registration_body(),
                               headers={"authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
        assert resp.status_code == 202 and resp.json()["applicant"] == "oidc-citizen", dump(resp)

        # The dev secret is not trusted when an issuer is configured, nor any forgery.
        dev = jwt.encode(claims_for(DEV, "x", ["admin"]), DEV.jwt_secret, algorithm="HS256")
        forged = forged_tokens(DEV, issuer.rsa.sign(claims_for(DEV, "x", ["applicant"])), issuer.rsa.sign)
        forged["dev secret"] = dev
        forged["unknown kid"] = SigningKey.ec("never-published").sign(claims_for(DEV, "x", ["admin"]))
        forged["rsa key named as ec"] = SigningKey.rsa(issuer.ec.kid).sign(claims_for(DEV, "x", ["admin"]))
        for base in (gateway, service):
            for case, bad in forged.items():
                await assert_401(http, f"{base}/api/v1/registrations", bad, case)

        # The issuer rotates: a new key by a new kid is fetched without a restart.
        rotated = SigningKey.rsa("rsa-2026")
        early = rotated.sign(claims_for(DEV, "rotated", ["applicant"]))
        await assert_401(http, f"{gateway}/api/v1/registrations", early, "not yet published")
        issuer.server.publish([rotated, issuer.ec])
        for base in (gateway, service):
            resp = await http.get(f"{base}/api/v1/registrations", headers={"authorization": f"Bearer {early}"})
            assert resp.status_code == 200, (base, resp.text[:300])


async def test_one_list_across_services_newest_first_and_paginated(api: Api) -> None:
    ids = []
    for _ in range(3):
        resp = await api.submit("pager", registration_body())
        assert resp.status_code == 202
        ids.append(resp.json()["id"])
    page = (await api.get("pager", "/api/v1/applications?limit=2")).json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2] and page["total"] == 3
    rest = (await api.get("pager", "/api/v1/applications?limit=2&offset=2")).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]]
    assert all(i["service"] == "registration" for i in page["items"] + rest["items"])


async def test_dead_letters_are_an_admins_view_and_readiness_counts_them(stack: Stack, api: Api) -> None:
    listed = await api.get("root", "/api/v1/admin/dead-letters", "admin")
    assert listed.status_code == 200, dump(listed)
    assert listed.json()["items"] == [] and listed.json()["unavailable_services"] == []
    assert (await api.get("nosy-applicant", "/api/v1/admin/dead-letters")).status_code == 403
    async with httpx.AsyncClient(timeout=5) as client:
        for service in ("registration", "deregistration", "utilities", "realestate"):
            ready = (await client.get(f"{stack.url_of(service)}/readyz")).json()
            assert ready["checks"]["dead_letters"] == "ok", (service, ready)
