"""The deployment files agree with the code: every service has its compose entry, its settings, its
Procfile line and its migrations."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.stack import read_procfile
from shared import registry

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
BACKENDS = [s for s in SERVICES if s != "gateway"]
DEFAULT_PORTS = {name: registry.default_port(name) for name in SERVICES}
MIGRATED_SERVICES = [s.name for s in registry.with_database()]


def test_every_service_folder_is_declared_in_the_registry() -> None:
    assert sorted(registry.services()) == sorted(BACKENDS)


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_every_service_has_a_compose_entry_with_its_settings() -> None:
    entries = compose()
    for service in SERVICES:
        entry = entries[service]
        assert entry["command"] == ["python", "-m", f"services.{service}"]
        env = entry["environment"]
        assert env["ONESTOP_SERVICE"] == service
        assert env["ONESTOP_PORT"] == str(DEFAULT_PORTS[service])
        assert env["ONESTOP_NATS_URL"] == "nats://nats:4222"
        assert {"ONESTOP_JWT_SECRET", "ONESTOP_JWT_ISSUER", "ONESTOP_JWT_AUDIENCE", "ONESTOP_JWKS_URL"} <= set(env)
        if service != "gateway":
            assert env["DATABASE_URL"].endswith(f"/{service}")
            assert entry["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_gateway_knows_every_service_and_is_the_only_published_port() -> None:
    entries = compose()
    env = entries["gateway"]["environment"]
    for service in BACKENDS:
        assert env[f"ONESTOP_{service.upper()}_URL"] == f"http://{service}:{DEFAULT_PORTS[service]}"
    published = [name for name, e in entries.items() if e.get("ports")]
    assert published == ["gateway"]


def test_migration_step_and_databases_cover_every_service() -> None:
    entries = compose()
    migrate = entries["migrate"]
    assert migrate["command"][:3] == ["python", "-m", "shared.migrate"]
    assert sorted(migrate["command"][3:]) == sorted(BACKENDS) == sorted(MIGRATED_SERVICES)
    init_sql = (ROOT / "deploy/postgres/init.sql").read_text()
    for service in BACKENDS:
        assert f"ONESTOP_{service.upper()}_DATABASE_URL" in migrate["environment"]
        assert f"CREATE DATABASE {service};" in init_sql
        assert (ROOT / "services" / service / "migrations" / "env.py").exists()
    assert entries["nats"]["command"][:1] == ["-js"] and entries["postgres"]["healthcheck"]


def test_procfile_runs_every_service() -> None:
    procfile = read_procfile()
    for service in SERVICES:
        assert procfile[service] == f"python -m services.{service}"
    assert procfile["nats"].startswith("nats-server -js")
