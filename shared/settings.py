"""Settings every process reads from the environment (prefix ``ONESTOP_``), in one place."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import registry

DEV_JWT_SECRET = "onestop-dev-secret-not-for-production-use-0123456789"
# Secrets that are published (in this repository, in examples) and so sign nothing outside dev.
KNOWN_SECRETS = frozenset({DEV_JWT_SECRET, "change-me", "changeme", "secret", "password", "onestop"})
MIN_SECRET_LENGTH = 32
# Signs the links to applicants' materials that a service puts in a department's task (shared.materials).
DEV_MATERIAL_LINK_SECRET = "onestop-dev-material-links-not-for-production-0123456789"
# Our own nats-server; 4222 is left to whatever else runs on the machine.
DEFAULT_NATS_PORT = 14222


class Settings(BaseSettings):
    """Configuration of one process. Each service process sets ``ONESTOP_SERVICE`` to its name."""

    model_config = SettingsConfigDict(env_prefix="ONESTOP_", extra="ignore")

    env: Literal["dev", "test", "prod"] = "prod"
    service: str = "gateway"
    host: str = "127.0.0.1"
    port: int | None = None
    data_dir: Path = Path(".data")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ONESTOP_DATABASE_URL")
    )
    # One broker, or a cluster's seeds as a comma list ("nats://n1:4222,nats://n2:4222,nats://n3:4222"): a
    # process connects to any of them and fails over to the others when its node goes away.
    nats_url: str = f"nats://127.0.0.1:{DEFAULT_NATS_PORT}"
    # Copies of every stream the services keep (JetStream replicas): 3 on a three-node cluster, so losing a
    # node loses no event and the stream stays writable; 1 on a single broker.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # Where the bus identities' nkey seeds are (``shared.natsauth``); each process connects as its own.
    nats_credentials_dir: Path | None = None
    # The CA that certifies the broker when it speaks TLS (``shared.bustls``); None: a plain connection.
    nats_tls_ca: Path | None = None
    log_level: str = "INFO"
    # Processes per service. Replicas share the service's durable consumers (JetStream spreads the
    # messages), its outbox and its sweeps; more than one wants PostgreSQL, as SQLite has one writer.
    workers: int = 1

    # Identity: HS256 with a shared secret (dev), or an OIDC issuer's JWKS (production).
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "https://auth.onestop.jiangmen.gov.cn"
    jwt_audience: str = "onestop-api"
    jwks_url: str | None = None
    jwt_algorithms: list[str] = ["HS256", "RS256", "ES256"]
    # How long a fetched key set is trusted (a key removed at the issuer stops verifying after this),
    # and the least time between two fetches prompted by an unknown ``kid`` (a new key after rotation);
    # the cooldown stops a stream of forged kids from hammering the issuer.
    jwks_cache_seconds: float = 300.0
    jwks_refresh_cooldown_seconds: float = 10.0

    # Where the gateway finds each service: ONESTOP_<SERVICE>_URL, by default its registry port on 127.0.0.1.
    upstream_timeout_seconds: float = 10.0

    # Gateway limits, per caller (token subject, or client address without a token); 0 switches one off.
    # Writes are POST/PUT/PATCH/DELETE, reads are GET/HEAD. Each is a token bucket that holds a minute's
    # worth, so a burst up to the limit passes and the rest is refused with 429 and Retry-After.
    rate_limit_writes_per_minute: int = 1200
    rate_limit_reads_per_minute: int = 12000
    max_body_bytes: int = 1024 * 1024
    # An uploaded material (申请材料) may be larger than any other body: only the routes the registry names as
    # uploads (``ServiceSpec.upload_paths``) take up to this, streamed, never held in memory whole.
    max_upload_bytes: int = 20 * 1024 * 1024
    # The proxies in front of the gateway whose X-Forwarded-For it believes: a comma list of addresses or
    # networks (e.g. "10.0.0.0/8,127.0.0.1"). Empty (the default): nobody's, and the peer address is the client.
    trusted_proxies: str = ""
    # Live progress streams open at once per caller (token subject) and in all at one gateway process;
    # one more is 429 with Retry-After.
    progress_streams_per_caller: int = 5
    progress_streams_total: int = 200

    # Background loops.
    relay_enabled: bool = True
    relay_batch_size: int = 200
    relay_idle_seconds: float = 0.5
    # How long the relay waits for the stream to acknowledge a batch before sending it again (the copies are
    # dropped by Nats-Msg-Id). Short, so an ack lost with a broker or a stream leader costs little.
    relay_ack_timeout_seconds: float = 2.0
    sweep_interval_seconds: float = 2.0
    # /readyz answers 503 when events have waited longer than this to be published while the relay cannot
    # publish (its last attempt failed, or the bus is away): the process's announcements are stuck.
    outbox_stall_seconds: float = Field(default=30.0, gt=0)

    # Simulated department back offices in the dev stack: "all", "none" or a comma list of department codes,
    # where "<service>.<department>" (e.g. "registration.tax") simulates a department for that service only.
    simulated_departments: str = "all"

    # Holiday arrangement (JSON: holidays, workdays) for years chinese-calendar does not cover yet;
    # None means the file shipped in shared/data.
    workday_arrangement: Path | None = None

    # 办不成事: the working days supervisors have to record the outcome of an escalation (a parameter: the seed
    # fixes none).
    escalation_working_days: int = Field(default=3, ge=1, le=60)

    # The service catalogue (办事指南) the services read their materials and time limits from; None means the
    # file shipped in shared/data. Another file changes what is asked for without a code change.
    catalogue_path: Path | None = None

    # Periods in calendar days (parameters of the deregistration procedures); 0 means no wait.
    public_notice_days: float = 20
    creditor_notice_days: float = 45
    # 水电气网 (utilities): the low-voltage zero-approval threshold in kW (零上门、零审批、零投资); the districts
    # where a credit report may replace the property certificate for power (信用+报装: "all", "none" or a
    # comma list of district codes); how long a proactive offer (主动办) stays open, in days.
    low_voltage_max_kw: int = 160
    credit_report_districts: str = "all"
    connection_offer_days: float = 30

    # How long one day of a suspension (歇业备案) lasts for its automatic end, in seconds. A suspension ends
    # when its end date is over (local midnight); a test environment shortens the days to see that happen.
    suspension_day_seconds: float = 86400

    # Materials (申请材料): where the documents are kept ("local": a directory; "s3": an S3-compatible store
    # such as MinIO), the bounds of what is accepted, and the secret and lifetime of the links departments
    # follow to read an application's materials.
    materials_store: Literal["local", "s3"] = "local"
    materials_dir: Path | None = None  # local store; None: <data_dir>/materials
    s3_endpoint: str = "http://127.0.0.1:9000"
    s3_bucket: str = "onestop-materials"
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""
    material_max_pages: int = 500
    material_max_pixels: int = 100_000_000
    material_link_secret: str = DEV_MATERIAL_LINK_SECRET
    material_link_days: int = 90

    @property
    def materials_path(self) -> Path:
        """The directory of the local material store."""
        return self.materials_dir or self.data_dir / "materials"

    @property
    def listen_port(self) -> int:
        """The port this process listens on: ``ONESTOP_PORT`` or the service's default."""
        if self.port is not None:
            return self.port
        return registry.default_port(self.service) or registry.GATEWAY_PORT

    @property
    def db_url(self) -> str:
        """The async SQLAlchemy URL of this service's own database."""
        url = self.database_url or f"sqlite+aiosqlite:///{self.data_dir / (self.service + '.db')}"
        return async_database_url(url)

    @property
    def nats_servers(self) -> list[str]:
        """The brokers ``nats_url`` names (one, or a cluster's seeds)."""
        return nats_servers(self.nats_url)

    def serving_workers(self) -> tuple[int, str | None]:
        """How many processes serve this service, and why fewer than ``workers`` asked for (or None).

        Replicas share the service's database; SQLite has one writer per file and a file per machine, so a
        service on SQLite runs one process whatever was asked."""
        has_database = any(s.name == self.service for s in registry.with_database())
        if self.workers > 1 and has_database and self.db_url.startswith("sqlite"):
            return 1, (f"ONESTOP_WORKERS={self.workers} needs PostgreSQL (DATABASE_URL): {self.service} runs one "
                       "process on SQLite")
        return max(1, self.workers), None

    def unsafe_reasons(self) -> list[str]:
        """Why this configuration must not serve outside dev: a default, published or short token secret
        (anyone could sign an admin token), or an event bus without credentials."""
        if self.env == "dev":
            return []
        reasons = []
        if not self.jwks_url:
            if self.jwt_secret in KNOWN_SECRETS:
                reasons.append("ONESTOP_JWT_SECRET is a published default: set a secret of your own (or a JWKS URL)")
            elif len(self.jwt_secret) < MIN_SECRET_LENGTH:
                reasons.append(f"ONESTOP_JWT_SECRET has fewer than {MIN_SECRET_LENGTH} characters")
        if self.material_link_secret in KNOWN_SECRETS | {DEV_MATERIAL_LINK_SECRET}:
            reasons.append("ONESTOP_MATERIAL_LINK_SECRET is a published default: anyone could sign a department's "
                           "link to an applicant's documents")
        elif len(self.material_link_secret) < MIN_SECRET_LENGTH:
            reasons.append(f"ONESTOP_MATERIAL_LINK_SECRET has fewer than {MIN_SECRET_LENGTH} characters")
        if self.env == "prod" and self.nats_credentials_dir is None:
            reasons.append("ONESTOP_NATS_CREDENTIALS_DIR is not set: no process connects to the bus anonymously")
        return reasons

    def refuse_unsafe(self) -> None:
        """Stop a process whose configuration ``unsafe_reasons`` finds unsafe, saying why."""
        reasons = self.unsafe_reasons()
        if reasons:
            raise SystemExit("refusing to start outside dev: " + "; ".join(reasons))

    def nats_seed(self, identity: str) -> Path | None:
        """The seed file an identity connects to NATS with, when credentials are configured."""
        return self.nats_credentials_dir / f"{identity}.nk" if self.nats_credentials_dir else None

    def service_url(self, service: str) -> str:
        """Base URL of a sibling service, as the gateway reaches it."""
        spec = registry.service(service)
        return os.environ.get(f"{spec.env_prefix}_URL") or f"http://127.0.0.1:{spec.port}"


def nats_servers(url: str) -> list[str]:
    """The broker URLs of a comma list (spaces and empty entries ignored)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("no NATS server URL given")
    return servers


def async_database_url(url: str) -> str:
    """Map plain ``postgresql://`` and ``sqlite://`` URLs to their asyncio drivers."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
