"""申请材料 and 容缺受理 through the gateway: documents recognised by their content and read back by their owner
only (a department through its task's signed link); an opening checked against the service catalogue — a key
material missing is one 422 naming it, a non-key one is accepted with a deadline that a supplied upload closes
and whose passing returns the application; and another catalogue file changes the check with no code change."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from services.stack import Stack
from shared.applications import DEFERRAL_TIMER
from shared.db import create_engine
from shared.records import Timer, utcnow
from shared.workdays import add_working_days
from tests import documents
from tests.support import Api, Databases, dump, eventually, registration_body, running_stack, stream_events

pytestmark = pytest.mark.timeout(110)
MIB = 1024 * 1024


async def upload(api: Api, owner: str, content: bytes, name: str = "document.pdf", *,
                 content_type: str = "application/octet-stream", kind: str | None = None,
                 key: str | None = None) -> httpx.Response:
    headers = {**await api.as_(owner), "Idempotency-Key": key or str(uuid.uuid4())}
    data = {"kind": kind} if kind else None
    return await api.http.post("/api/v1/materials", headers=headers, data=data,
                               files={"file": (name, content, content_type)})


async def uploaded(api: Api, owner: str, content: bytes, **kwargs: Any) -> dict[str, Any]:
    resp = await upload(api, owner, content, **kwargs)
    assert resp.status_code == 201, dump(resp)
    return resp.json()


async def bank_task(api: Api, application_id: str) -> dict[str, Any]:
    officer = await api.as_("bank-officer", "dept:bank")

    async def probe() -> dict[str, Any] | None:
        queue = (await api.http.get("/api/v1/departments/bank/tasks", headers=officer)).json()["items"]
        return next((t for t in queue if t["application_id"] == application_id), None)

    return await eventually(probe, what="the bank task")


def codes(problem: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["code"], e["loc"]) for e in problem.get("errors", [])]


# --- Documents --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "media_type", "measure"), [
    (documents.png(120, 80), "image/png", {"width": 120, "height": 80, "pages": None}),
    (documents.pdf(3), "application/pdf", {"pages": 3, "width": None}),
    (documents.ofd(2), "application/ofd", {"pages": 2}),
    (documents.jpeg(800, 600), "image/jpeg", {"width": 800, "height": 600}),
])
async def test_a_document_is_recognised_by_content_and_read_back_by_its_owner(
        api: Api, content: bytes, media_type: str, measure: dict[str, Any]) -> None:
    owner = f"uploader-{uuid.uuid4().hex[:6]}"
    # Named and declared as something else: only the content counts.
    body = await uploaded(api, owner, content, name="scan.txt", content_type="text/plain", kind="seal_specimen")
    assert body["media_type"] == media_type and body["size"] == len(content) and body["kind"] == "seal_specimen"
    assert {k: body[k] for k in measure} == measure
    assert body["sha256"] == hashlib.sha256(content).hexdigest()

    meta = await api.get(owner, f"/api/v1/materials/{body['id']}")
    assert meta.status_code == 200 and meta.json() == body
    fetched = await api.get(owner, f"/api/v1/materials/{body['id']}/content")
    assert fetched.status_code == 200 and fetched.content == content
    assert fetched.headers["content-type"] == media_type
    assert fetched.headers["content-disposition"].startswith("attachment")
    assert fetched.headers["x-content-type-options"] == "nosniff"

    again = await upload(api, owner, content)  # the same bytes again: the same material
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    admin = await api.get("an-admin", f"/api/v1/materials/{body['id']}/content", "admin")
    assert admin.status_code == 200 and admin.content == content


async def test_another_applicant_is_told_the_document_does_not_exist(api: Api) -> None:
    mine = await uploaded(api, "owner-a", documents.png())
    for path in (f"/api/v1/materials/{mine['id']}", f"/api/v1/materials/{mine['id']}/content"):
        theirs = await api.get("owner-b", path)
        assert theirs.status_code == 404 and theirs.json()["code"] == "not_found"
    missing = await api.get("owner-b", f"/api/v1/materials/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_renamed_executable_and_other_non_documents_are_refused(api: Api) -> None:
    exe = await upload(api, "sly", documents.windows_executable(), name="licence.pdf", content_type="application/pdf")
    assert exe.status_code == 415, dump(exe)
    assert exe.headers["content-type"].startswith("application/problem+json")
    assert exe.json()["code"] == "upload_executable" and codes(exe.json()) == [("upload_executable", ["file"])]
    assert "可执行" in exe.json()["errors"][0]["message_zh"]
    assert (await upload(api, "sly", documents.elf_executable(), name="photo.png")).status_code == 415
    empty = await upload(api, "sly", b"")
    assert empty.status_code == 422 and empty.json()["code"] == "upload_empty"
    bomb = await upload(api, "sly", documents.png(60_000, 60_000), name="seal.png")
    assert bomb.status_code == 422 and bomb.json()["code"] == "upload_too_many_pixels"
    not_multipart = await api.http.post("/api/v1/materials", content=documents.pdf(), headers={
        **await api.as_("sly"), "Idempotency-Key": str(uuid.uuid4()), "content-type": "application/pdf"})
    assert not_multipart.status_code == 415 and not_multipart.json()["code"] == "multipart_required"
    bad_kind = await upload(api, "sly", documents.pdf(), kind="no_such_material")
    assert bad_kind.status_code == 422 and codes(bad_kind.json()) == [("material_kind_invalid", ["kind"])]


async def test_a_document_over_the_size_limit_is_refused_whether_declared_or_streamed(api: Api) -> None:
    # Declared larger than any upload: refused by the gateway before it is read.
    declared = await upload(api, "big", b"%PDF-1.4\n" + b"0" * (21 * MIB))
    assert declared.status_code == 413, dump(declared)
    assert declared.json()["code"] == "body_too_large"
    # One byte over 20 MiB: the file itself is counted as it arrives.
    just_over = await upload(api, "big", b"%PDF-1.4\n" + b"0" * (20 * MIB - 8))
    assert just_over.status_code == 413, dump(just_over)
    assert codes(just_over.json()) == [("upload_too_large", ["file"])]

    # Sent in chunks without a length: counted as it streams through the gateway and refused midway.
    boundary = "onestopboundary"

    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n"
               "Content-Type: application/pdf\r\n\r\n").encode()
        for _ in range(21):
            yield b"0" * MIB
        yield f"\r\n--{boundary}--\r\n".encode()

    streamed = await api.http.post("/api/v1/materials", content=body(), headers={
        **await api.as_("big"), "Idempotency-Key": str(uuid.uuid4()),
        "content-type": f"multipart/form-data; boundary={boundary}"})
    assert streamed.status_code == 413, dump(streamed)
    # Just under the limit is fine.
    small = documents.pdf(1)
    fits = await upload(api, "big", small[:9] + b"%" + b"0" * (19 * MIB) + b"\n" + small[9:])  # a long comment
    assert fits.status_code == 201, dump(fits)


async def test_a_department_reads_a_document_only_through_its_tasks_link(api: Api) -> None:
    owner = "linked-owner"
    seal = await uploaded(api, owner, documents.png(300, 300), kind="seal_specimen")
    body = registration_body(bank_account=True)
    body["materials"] = [{"code": "seal_specimen", "id": seal["id"]}]
    resp = await api.submit(owner, body)
    assert resp.status_code == 202, dump(resp)
    assert resp.json()["pending_materials"] == [] and resp.json()["materials_deadline"] is None
    task = await bank_task(api, resp.json()["id"])
    (sent,) = task["details"]["materials"]
    assert sent["code"] == "seal_specimen" and sent["id"] == seal["id"]
    link = sent["link"]
    assert link.startswith(f"/api/v1/materials/{seal['id']}/content?") and "department=bank" in link

    bank = await api.as_("bank-officer", "dept:bank")
    read = await api.http.get(link, headers=bank)
    assert read.status_code == 200 and read.content == documents.png(300, 300)
    # Not without the link, not with another department's token, not with the link altered.
    assert (await api.http.get(f"/api/v1/materials/{seal['id']}/content", headers=bank)).status_code == 404
    tax = await api.as_("tax-officer", "dept:tax")
    assert (await api.http.get(link, headers=tax)).status_code == 404
    forged = link.replace("department=bank", "department=tax")
    assert (await api.http.get(forged, headers=tax)).status_code == 404
    tampered = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
    assert (await api.http.get(tampered, headers=bank)).status_code == 404


# --- The catalogue decides what an opening needs ----------------------------------------------------------------


async def test_a_missing_key_material_is_one_422_naming_it_with_every_other_problem(api: Api) -> None:
    owner = "key-missing"
    body = registration_body()
    body["enterprise"]["address"]["residential"] = True  # 住改商: the neighbours' consent is a key material
    body["enterprise"]["residential_use"] = {"commitment": True, "neighbours_consent": True}
    ofd = await uploaded(api, owner, documents.ofd())
    someone_elses = await uploaded(api, "someone-else", documents.png(10, 10))
    body["materials"] = [{"code": "seal_specimen", "id": ofd["id"]},  # a seal design is PNG or PDF
                         {"code": "bank_appointment", "id": someone_elses["id"]}]  # not asked for, not theirs
    refused = await api.submit(owner, body)
    assert refused.status_code == 422, dump(refused)
    problems = refused.json()["errors"]
    assert [(p["code"], p["loc"]) for p in problems] == [
        ("material_format", ["materials", 0, "id"]),
        ("material_not_asked", ["materials", 1, "code"]),
        ("material_missing", ["materials"]),
    ]
    missing = problems[2]
    assert "neighbours_consent" in missing["message_en"] and "利害关系的业主同意" in missing["message_zh"]

    body["materials"] = [{"code": "neighbours_consent", "id": someone_elses["id"]}]
    not_theirs = await api.submit(owner, body)
    assert not_theirs.status_code == 422
    assert codes(not_theirs.json()) == [("material_unknown", ["materials", 0, "id"]),
                                        ("material_missing", ["materials"])]

    consent = await uploaded(api, owner, documents.pdf(1), kind="neighbours_consent")
    body["materials"] = [{"code": "neighbours_consent", "id": consent["id"]}]
    accepted = await api.submit(owner, body)
    assert accepted.status_code == 202, dump(accepted)


async def test_a_missing_seal_design_is_accepted_with_a_deadline_and_closed_by_an_upload(
        stack: Stack, api: Api) -> None:
    owner = "deferred-owner"
    resp = await api.submit(owner, registration_body(bank_account=True))
    assert resp.status_code == 202, dump(resp)
    app = resp.json()
    assert [p["code"] for p in app["pending_materials"]] == ["seal_specimen"]
    assert app["pending_materials"][0]["name_zh"] == "印章印模式样"
    created = datetime.fromisoformat(app["created_at"])
    assert datetime.fromisoformat(app["materials_deadline"]) == add_working_days(created, 5).at
    task = await bank_task(api, app["id"])  # the departments go on, and see what is pending
    assert [p["code"] for p in task["details"]["pending_materials"]] == ["seal_specimen"]
    assert (datetime.fromisoformat(task["details"]["materials_deadline"])
            == datetime.fromisoformat(app["materials_deadline"]))

    # Only what is pending can be supplied, and only as an upload of the applicant's in a format it takes.
    pdf = await uploaded(api, owner, documents.pdf(1))
    path = f"/api/v1/registrations/{app['id']}/materials"
    headers = await api.as_(owner)
    wrong = await api.http.post(path, headers=headers, json={"code": "neighbours_consent", "id": pdf["id"]})
    assert wrong.status_code == 422 and codes(wrong.json()) == [("material_not_pending", ["code"])]
    stranger = await api.http.post(path, headers=await api.as_("stranger"),
                                   json={"code": "seal_specimen", "id": pdf["id"]})
    assert stranger.status_code == 404

    supplied = await api.http.post(path, headers=headers, json={"code": "seal_specimen", "id": pdf["id"]})
    assert supplied.status_code == 200, dump(supplied)
    assert supplied.json()["pending_materials"] == [] and supplied.json()["materials_deadline"] is None
    assert supplied.json()["status"] == "in_progress"

    async def announced() -> list[str] | None:
        events = await stream_events(stack, "REGISTRATION", "registration.materials.>")
        mine = [e.type.rsplit(".", 1)[-1] for e in events if e.data["application_id"] == app["id"]]
        return mine if len(mine) == 2 else None

    assert await eventually(announced, what="the gap announced and closed") == ["deferred", "supplied"]


async def pass_the_deadline(stack: Stack, application_id: str) -> None:
    """Time passes: the deferral's due time moves into the past, as the clock would have moved it."""
    engine = create_engine(stack.env["ONESTOP_REGISTRATION_DATABASE_URL"])
    try:
        async with engine.begin() as conn:
            moved = await conn.execute(sa.update(Timer).where(
                Timer.target_id == application_id, Timer.kind == DEFERRAL_TIMER  # type: ignore[arg-type]
            ).values(due_at=utcnow() - timedelta(minutes=1)))
            assert moved.rowcount == 1
    finally:
        await engine.dispose()


async def test_the_deadline_passing_returns_the_opening_until_the_material_comes(stack: Stack, api: Api) -> None:
    owner = "lapsed-owner"
    app = (await api.submit(owner, registration_body(bank_account=True))).json()
    task = await bank_task(api, app["id"])
    path = f"/api/v1/registrations/{app['id']}"

    async def others_approved() -> bool:
        tasks = (await api.get(owner, path)).json()["tasks"]
        return all(t["status"] == "approved" for t in tasks if t["department"] != "bank")

    # The simulated departments asked with the bank answer on their own time; the deadline passes after them.
    await eventually(others_approved, what="every department but the bank to approve")
    await pass_the_deadline(stack, app["id"])
    returned = await api.wait_status(owner, path, {"returned"})
    assert any("印章印模式样" in m for m in returned["missing"])
    assert [p["code"] for p in returned["pending_materials"]] == ["seal_specimen"]

    # The bank approves meanwhile: recorded, but the opening goes no further while the design is missing.
    bank = await api.as_("bank-officer", "dept:bank")
    decided = await api.http.post(f"/api/v1/departments/bank/tasks/{task['id']}/decision", headers=bank,
                                  json={"outcome": "approved"})
    assert decided.status_code == 200, dump(decided)
    held = (await api.get(owner, path)).json()
    assert held["status"] == "returned" and all(t["status"] == "approved" for t in held["tasks"])

    png = await uploaded(api, owner, documents.png(200, 200))
    supplied = await api.http.post(f"{path}/materials", headers=await api.as_(owner),
                                   json={"code": "seal_specimen", "id": png["id"]})
    assert supplied.status_code == 200, dump(supplied)
    done = await api.wait_status(owner, path, {"completed"})
    assert done["enterprise"]["uscc"] and done["missing"] == [] and done["pending_materials"] == []


# --- Another catalogue, another check ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[Stack]:
    """A stack reading a modified copy of the catalogue: the seal design made key."""
    folder = tmp_path_factory.mktemp("strict-catalogue")
    data = json.loads((Path(__file__).parents[2] / "shared" / "data" / "catalogue.json").read_text())
    for entry in data["entries"]:
        for material in entry["materials"]:
            if material["code"] == "seal_specimen":
                material["key"] = True
    path = folder / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    with running_stack(folder / "stack", databases, ONESTOP_CATALOGUE_PATH=str(path)) as stack:
        yield stack


async def test_a_modified_catalogue_changes_the_check_without_a_code_change(strict_stack: Stack) -> None:
    api = Api(strict_stack.url_of("gateway"))
    try:
        guide = (await api.http.get("/api/v1/catalogue/enterprise_opening")).json()
        assert next(m for m in guide["materials"] if m["code"] == "seal_specimen")["key"] is True
        refused = await api.submit("strict-owner", registration_body())
        assert refused.status_code == 422, dump(refused)
        (problem,) = refused.json()["errors"]
        assert problem["code"] == "material_missing" and "seal_specimen" in problem["message_en"]
        assert (await api.submit("strict-owner", registration_body(seal=False))).status_code == 202
    finally:
        await api.close()
