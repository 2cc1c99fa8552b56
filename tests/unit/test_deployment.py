"""The deployment files agree with the code: every service has its compose entry, its settings, its
Procfile line and its migrations; Prometheus scrapes each where compose runs it, and the dashboard asks for
series the processes expose."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from services.stack import read_procfile
from shared import registry
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.parent.name for p in (ROOT / "services").glob("*/app.py"))
BACKENDS = [s for s in SERVICES if s != "gateway"]
DEFAULT_PORTS = {name: registry.default_port(name) for name in SERVICES}
MIGRATED_SERVICES = [s.name for s in registry.with_database()]


def test_every_service_folder_is_declared_in_the_registry() -> None:
    assert sorted(registry.services()) == sorted(BACKENDS)


def resolve(value: str, env: dict[str, str] | None = None) -> str:
    """A compose value with its ``${NAME:-default}`` variables filled from ``env`` (none: the defaults)."""
    env = env or {}

    def fill(match: re.Match[str]) -> str:
        return env.get(match.group(1)) or (match.group(2) or "")

    return re.sub(r"\$\{([A-Z_]+)(?::-([^}]*))?\}", fill, value)


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


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
        assert resolve(env["ONESTOP_NATS_URL"]) == "nats://nats:4222"
        assert {"ONESTOP_JWT_SECRET", "ONESTOP_JWT_ISSUER", "ONESTOP_JWT_AUDIENCE", "ONESTOP_JWKS_URL"} <= set(env)
        if service != "gateway":
            assert env["DATABASE_URL"].endswith(f"/{service}")
            assert entry["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_gateway_knows_every_service_and_is_the_only_published_port() -> None:
    entries = compose()
    env = entries["gateway"]["environment"]
    for service in BACKENDS:
        assert env[f"ONESTOP_{service.upper()}_URL"] == f"http://{service}:{DEFAULT_PORTS[service]}"
    published = [name for name, e in entries.items() if e.get("ports") and not e.get("profiles")]
    assert published == ["gateway"]
    # What an operator's profile adds listens on this host's loopback only.
    for name, entry in entries.items():
        if entry.get("profiles"):
            assert all(str(port).startswith("127.0.0.1:") for port in entry.get("ports", [])), name


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


def test_the_cluster_profile_runs_three_nats_nodes_that_every_process_knows() -> None:
    entries = compose()
    cluster_env = env_file(ROOT / "deploy/cluster.env")
    assert cluster_env["COMPOSE_PROFILES"] == "cluster"
    nodes = ["nats", *sorted(n for n, e in entries.items() if "cluster" in e.get("profiles", []))]
    assert nodes == ["nats", "nats-2", "nats-3"]
    # Each node loads its own configuration (users and permissions, its routes) and keeps its own store.
    for node in nodes:
        command = [resolve(part, cluster_env) for part in entries[node]["command"]]
        assert command[:1] == ["-js"] and command[command.index("-c") + 1] == f"/nats-auth/cluster-{node}.conf"
        assert entries[node]["healthcheck"] == entries["nats"]["healthcheck"]
    stores = [v for node in nodes for v in entries[node]["volumes"] if v.endswith(":/data")]
    assert len(set(stores)) == len(nodes)
    # The credentials step makes every node's configuration and a certificate that names every node.
    auth = entries["nats-auth"]["command"]
    assert auth[auth.index("--cluster") + 1:] == nodes
    assert set(nodes) <= set(auth[4:auth.index("--cluster")])
    # Outside the profile the one broker keeps its single configuration.
    assert resolve(entries["nats"]["command"][-1]) == "/nats-auth/nats.conf"
    for service in SERVICES:
        env = entries[service]["environment"]
        assert resolve(env["ONESTOP_NATS_URL"], cluster_env).split(",") == [f"nats://{n}:4222" for n in nodes]
        assert resolve(env["ONESTOP_STREAM_REPLICAS"], cluster_env) == "3"
        assert resolve(env["ONESTOP_STREAM_REPLICAS"]) == "1"
        # Replicas of a service share its database, which is PostgreSQL here.
        assert int(resolve(env["ONESTOP_WORKERS"], cluster_env)) > 1
        if service != "gateway":
            assert env["DATABASE_URL"].startswith("postgresql://")


def test_replicas_of_a_service_need_postgresql_and_the_bus_url_takes_every_node() -> None:
    on_sqlite = Settings(service="registration", workers=2)
    workers, why = on_sqlite.serving_workers()
    assert workers == 1 and why is not None and "PostgreSQL" in why
    on_postgres = Settings(service="registration", workers=2, DATABASE_URL="postgresql://db/registration")
    assert on_postgres.serving_workers() == (2, None)
    assert Settings(service="gateway", workers=2).serving_workers() == (2, None)  # it has no database
    seeds = Settings(nats_url="nats://nats:4222, nats://nats-2:4222,,nats://nats-3:4222")
    assert seeds.nats_servers == ["nats://nats:4222", "nats://nats-2:4222", "nats://nats-3:4222"]
def scrape_targets() -> list[tuple[str, str]]:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = []
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for group in job["static_configs"]:
            targets += [tuple(t.split(":")) for t in group["targets"]]
    return targets


def test_prometheus_scrapes_the_gateway_and_every_service_by_compose_name_and_port() -> None:
    entries = compose()
    targets = scrape_targets()
    assert sorted(host for host, _ in targets) == sorted(SERVICES)
    for host, port in targets:
        assert host in entries, host
        assert entries[host]["environment"]["ONESTOP_PORT"] == port == str(DEFAULT_PORTS[host])
    for name in ("prometheus", "grafana"):
        assert entries[name]["profiles"] == ["observability"]
        for volume in entries[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), volume
    assert any(v.endswith(":/etc/prometheus/prometheus.yml:ro") for v in entries["prometheus"]["volumes"])


def test_the_dashboard_asks_only_for_series_the_processes_expose() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/onestop.json").read_text())
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources.yml").read_text())
    uid = datasources["datasources"][0]["uid"]
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs and all(t["datasource"]["uid"] == uid for p in dashboard["panels"] for t in p.get("targets", []))
    source = "".join(p.read_text() for p in [*(ROOT / "shared").glob("*.py"), *(ROOT / "services").rglob("*.py")])
    declared = set(re.findall(r'"(onestop_[a-z_]+)"', source))
    for name in {n for e in exprs for n in re.findall(r"onestop_[a-z_]+", e)}:
        # Counters are exposed with _total, histograms with _bucket, _sum and _count.
        base = re.sub(r"_(total|bucket|sum|count)$", "", name)
        assert name in declared or base in declared, name
