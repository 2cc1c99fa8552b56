"""Fuzzing the public API from its own document: schemathesis generates requests from the gateway's merged
/openapi.json, valid and invalid, for an applicant, a department officer and an administrator, and checks
that no answer is a server error and that every status code, content type and body is the one the document
declares (and that invalid requests are refused). The run is bounded (a few examples per operation, about a
minute on two cores); ``ONESTOP_FUZZ_EXAMPLES`` asks for more, ``ONESTOP_FUZZ_RANDOM=1`` for new inputs on
every run instead of the same ones."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis.errors
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

# Imported here, while collecting, though the test would load it itself: pytest rewrites schemathesis's modules
# on import, and Python 3.11's AST constructor can fail spuriously ("recursion depth mismatch", CPython
# gh-106905) when that happens deep inside a running test.
from schemathesis.specs.openapi.schemas import OpenApiSchema  # noqa: F401

from services.stack import Stack
from shared import registry
from tests.support import Databases, dump, registration_body, running_stack

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
EXAMPLES = int(os.environ.get("ONESTOP_FUZZ_EXAMPLES", "8"))
ROLES = {"applicant": ("fuzz-applicant", "applicant"), "officer": ("fuzz-officer", "dept:tax"),
         "admin": ("fuzz-admin", "admin")}
# Failures the services owe a fix for, each with why: {(operation, failure kind, status): explanation}.
# They are reported (pytest -s shows them), not failed on; anything else fails the test.
KNOWN: dict[tuple[str, str, int], str] = {}


@dataclass(frozen=True)
class Finding:
    operation: str
    kind: str
    status: int
    role: str
    mode: str
    request: str
    answer: str
    message: str

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.operation, self.kind, self.status)

    def __str__(self) -> str:
        return (f"{self.operation} [{self.role}, {self.mode}] -> {self.status} {self.kind}\n"
                f"  request: {self.request}\n  answer: {self.answer}\n  {self.message}")


@dataclass
class Seeded:
    """Objects that exist, so some requests reach past "not found": a completed registration and its licence."""

    registration: str
    licence: str


@pytest.fixture(scope="module")
def fuzzed(session_tmp: Path, databases: Databases) -> Iterator[Stack]:
    # Rate limits off: a 429 is declared everywhere and would only hide what is behind it.
    with running_stack(session_tmp / "fuzz", databases, ONESTOP_RATE_LIMIT_WRITES_PER_MINUTE="0",
                       ONESTOP_RATE_LIMIT_READS_PER_MINUTE="0") as stack:
        yield stack


def tokens(base: str) -> dict[str, str]:
    """Dev tokens from the stack, as a front end gets them."""
    found = {}
    for role, (sub, *roles) in ROLES.items():
        resp = httpx.post(f"{base}/api/v1/auth/dev-token", json={"sub": sub, "roles": roles}, timeout=30)
        assert resp.status_code == 200, dump(resp)
        found[role] = resp.json()["access_token"]
    return found


def seed(base: str, applicant: str) -> Seeded:
    with httpx.Client(base_url=base, timeout=30) as http:
        headers = {"authorization": f"Bearer {applicant}"}
        resp = http.post("/api/v1/registrations", json=registration_body(),
                         headers={**headers, "Idempotency-Key": str(uuid.uuid4())})
        assert resp.status_code == 202, dump(resp)
        app_id = resp.json()["id"]
        deadline = time.monotonic() + 30
        while (body := http.get(f"/api/v1/registrations/{app_id}", headers=headers).json())["status"] != "completed":
            assert time.monotonic() < deadline, f"the seeded registration did not complete: {body}"
            time.sleep(0.2)
        return Seeded(app_id, body["license"]["verification_code"])


def fixed_parameters(path: str, seeded: Seeded) -> dict[str, str]:
    """Path parameters that name the seeded objects, for the operations that take them."""
    if path.startswith(("/api/v1/registrations/{application_id}", "/api/v1/applications/{application_id}")):
        return {"application_id": seeded.registration}
    if path.startswith("/api/v1/licenses/{verification_code}"):
        return {"verification_code": seeded.licence}
    return {}


def fuzz(operation: Any, role: str, token: str, mode: GenerationMode, examples: int, base: str,
         session: requests.Session, record: Callable[[Finding], None], **fixed: Any) -> int:
    """Run ``examples`` generated requests of one operation; every failed check is recorded, none raised (so
    one finding does not hide the next, and nothing is shrunk). Returns how many requests were sent."""
    sent = 0
    strategy = operation.as_strategy(generation_mode=mode, headers={"Authorization": f"Bearer {token}"}, **fixed)

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              derandomize=os.environ.get("ONESTOP_FUZZ_RANDOM") != "1", suppress_health_check=list(HealthCheck),
              print_blob=False)
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=base, session=session, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:
            failures = exc.exceptions if isinstance(exc, FailureGroup) else [exc]
            request = {"path": case.path_parameters, "query": case.query,
                       "headers": {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                       "body": None if isinstance(case.body, NotSet) else case.body}
            for failure in failures:
                record(Finding(operation.label, type(failure).__name__, response.status_code, role, mode.value,
                               json.dumps(request, ensure_ascii=False, default=str)[:600], response.text[:400],
                               str(failure).splitlines()[0] if str(failure) else ""))

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to make invalid (an operation without parameters or body)
    return sent


def test_the_public_document_declares_every_problem(fuzzed: Stack) -> None:
    """Every error answer of every operation is problem+json with the Problem schema; operations that need a
    token declare 401, those under /api 429, those with a body 413 (the gateway's and each service's own)."""
    base = fuzzed.url_of("gateway")
    documents = {"gateway": httpx.get(f"{base}/openapi.json", timeout=30).json()}
    for spec in registry.services().values():
        documents[spec.name] = httpx.get(f"{fuzzed.url_of(spec.name)}/openapi.json", timeout=30).json()
    for name, document in documents.items():
        assert {"Problem", "FieldProblem"} <= set(document["components"]["schemas"]), name
        assert "HTTPValidationError" not in document["components"]["schemas"], name
        for path, item in document["paths"].items():
            for method, operation in item.items():
                label, responses = f"{name}: {method.upper()} {path}", operation["responses"]
                for status, response in responses.items():
                    if status[0] in "45" and not (path == "/readyz" and status == "503"):
                        assert response["content"] == {"application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}}}, (label, status)
                if operation.get("security"):
                    assert "401" in responses, label
                if "requestBody" in operation:
                    assert "413" in responses, label
                if name == "gateway":
                    assert "400" in responses, label
                    if path.startswith("/api/"):
                        assert "429" in responses, label
    gateway = documents["gateway"]["paths"]
    assert "401" not in gateway["/api/v1/licenses/{verification_code}"]["get"]["responses"]  # anonymous
    assert "403" in gateway["/api/v1/admin/task-decisions"]["get"]["responses"]
    assert "403" in gateway["/api/v1/registrations"]["post"]["responses"]
    assert {"400", "409"} <= set(gateway["/api/v1/registrations"]["post"]["responses"])
    key = next(p for p in gateway["/api/v1/registrations"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert key["required"] is True


def test_fuzzing_the_public_document_finds_nothing_undeclared(fuzzed: Stack) -> None:
    base = fuzzed.url_of("gateway")
    started = time.monotonic()
    keys = tokens(base)
    seeded = seed(base, keys["applicant"])
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    # The API ignores query parameters it does not know (as HTTP APIs do; OpenAPI cannot say "no others"), and
    # the bearer token is ours, not generated.
    schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
    findings: list[Finding] = []
    sent = 0
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot read is a broken document
        operations.append(result.ok())
    assert len(operations) >= 40, [o.label for o in operations]
    with requests.Session() as session:
        for operation in operations:
            for role, token in keys.items():
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    sent += fuzz(operation, role, token, mode, EXAMPLES, base, session, findings.append)
            fixed = fixed_parameters(operation.path, seeded)
            for role in ("applicant", "admin") if fixed else ():  # the seeded objects, as their owner and an admin
                sent += fuzz(operation, role, keys[role], GenerationMode.POSITIVE, EXAMPLES, base, session,
                             findings.append, path_parameters=fixed)
    # One of each: the same failure seen for many inputs is one finding.
    known = {f.key: f for f in findings if f.key in KNOWN}
    distinct = {f.key: f for f in findings if f.key not in KNOWN}
    for key, finding in known.items():
        print(f"known ({KNOWN[key]}):\n{finding}")
    print(f"fuzzed {len(operations)} operations with {sent} requests in {time.monotonic() - started:.0f} s")
    assert sent > len(operations) * len(keys) * EXAMPLES
    assert not distinct, f"{len(distinct)} distinct failure(s):\n" + "\n\n".join(map(str, distinct.values()))
