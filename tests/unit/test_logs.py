"""Log lines are JSON with the request id, and resident ID and mobile numbers never appear in clear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import CurrentPrincipal, issue_token
from shared.logs import JsonFormatter, mask_personal_data
from shared.requestid import request_id_var
from shared.settings import get_settings
from shared.web import install_common

RESIDENT_ID = "11010519491231002X"
MOBILE = "13800138000"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (RESIDENT_ID, "110105********002X"),
        ("11010519491231002x", "110105********002x"),
        (f"id_number={RESIDENT_ID};", "id_number=110105********002X;"),
        (f'{{"id_number": "{RESIDENT_ID}"}}', '{"id_number": "110105********002X"}'),
        (MOBILE, "138****8000"),
        (f"tel:{MOBILE}", "tel:138****8000"),
        ("+8613800138000", "+86138****8000"),
        ("+86 138-0013-8000", "+86 138****8000"),
        ("138 0013 8000", "138****8000"),
        # Not personal numbers: left as they are.
        ("QYKB-440703-20250101-000001", "QYKB-440703-20250101-000001"),
        ("91440703MA5XXXXXXY", "91440703MA5XXXXXXY"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("duration 12.5 ms, 200 OK", "duration 12.5 ms, 200 OK"),
        # Hex ids with digit runs stay whole, so they can still be traced.
        ("c91c15398762447b88e23aefe600e06e", "c91c15398762447b88e23aefe600e06e"),
        ("ab110105194912310021cd", "ab110105194912310021cd"),
    ],
)
def test_mask_personal_data(text: str, masked: str) -> None:
    assert mask_personal_data(text) == masked


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line, formatted as the processes format them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("unit"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(previous)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_every_part_of_a_line_is_masked(captured: io.StringIO) -> None:
    token = request_id_var.set("req-42")
    try:
        log = logging.getLogger("onestop.unit")
        log.info("applicant %s called from %s", RESIDENT_ID, MOBILE,
                 extra={"form": {"legal_representative": {"id_number": RESIDENT_ID, "mobile": MOBILE}},
                        "numbers": [MOBILE, RESIDENT_ID]})
        try:
            raise ValueError(f"duplicate key (id_number)=({RESIDENT_ID}) contact {MOBILE}")
        except ValueError:
            log.exception("insert failed")
    finally:
        request_id_var.reset(token)
    text = captured.getvalue()
    assert RESIDENT_ID not in text and MOBILE not in text
    first, second = lines(captured)
    assert first["request_id"] == "req-42" and first["level"] == "INFO" and first["service"] == "unit"
    assert first["message"] == "applicant 110105********002X called from 138****8000"
    assert first["form"]["legal_representative"] == {"id_number": "110105********002X", "mobile": "138****8000"}
    assert "110105********002X" in second["exception"]


async def test_access_line_has_request_id_caller_route_status_and_duration(captured: io.StringIO) -> None:
    app = FastAPI()
    install_common(app)

    @app.get("/api/v1/things/{thing_id}")
    async def thing(thing_id: str, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": thing_id, "caller": principal.sub}

    token = issue_token(get_settings(), "citizen-7", ["applicant"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://unit") as client:
        resp = await client.get(f"/api/v1/things/{MOBILE}", headers={"authorization": f"Bearer {token}",
                                                                     "x-request-id": "trace-1"})
        assert resp.status_code == 200 and resp.headers["x-request-id"] == "trace-1"
        denied = await client.get("/api/v1/things/1")
        assert denied.status_code == 401
    access = [line for line in lines(captured) if line["logger"] == "onestop.access"]
    ok, refused = access
    assert ok["request_id"] == "trace-1" and ok["caller"] == "citizen-7" and ok["status"] == 200
    assert ok["route"] == "/api/v1/things/{thing_id}" and ok["path"] == "/api/v1/things/138****8000"
    assert ok["method"] == "GET" and isinstance(ok["duration_ms"], float)
    assert refused["status"] == 401 and refused["caller"] is None and refused["request_id"] != "trace-1"
    assert MOBILE not in captured.getvalue()
