"""The one list of services: what each is called, where it listens, which public paths it owns, which of them
list its applications, how its applications end, and whether it owns a database.

Settings, migrations, the dev stack, the event streams and the gateway (routing, OpenAPI merge, progress)
read this list; nothing else names the services. A service added here is migrated, started, routed and
streamed with no other edit. Extra services (a test's throwaway service, a plug-in) are declared in modules
named by ``ONESTOP_SERVICE_MODULES`` (comma separated), each calling ``register``; every process of a stack
shares its environment, so every process sees the same list.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = "gateway"
GATEWAY_PORT = 8000
# Every application reaches one of these states at last; a service adds its own (e.g. "objected").
COMMON_FINAL_STATUSES = frozenset({"completed", "rejected"})
SERVICE_MODULES_VARIABLE = "ONESTOP_SERVICE_MODULES"


@dataclass(frozen=True)
class ServiceSpec:
    """One back-end service, declared once."""

    name: str  # also its stream (upper case), its event prefix and its role in task subjects
    port: int
    title: str
    # Public path prefixes under /api/v1 the gateway forwards to this service.
    public_prefixes: tuple[str, ...]
    # Of those, the ones anybody may call without a token (e.g. verifying a licence by its code).
    anonymous_prefixes: tuple[str, ...] = ()
    # Where the caller's applications are listed (``GET``) and one is shown (``GET {path}/{id}``).
    application_paths: tuple[str, ...] = ()
    # Statuses after which an application changes no more (its progress stream ends there).
    final_statuses: frozenset[str] = COMMON_FINAL_STATUSES
    # The Python package holding ``app.py`` (``app``) and ``migrations/``.
    package: str = ""
    has_database: bool = True
    # Whether department tasks are answered here (the gateway gathers queues and decisions from these).
    has_departments: bool = True
    # Paths (exact) whose POST carries an upload: its body may reach ``max_upload_bytes`` and is streamed
    # through the gateway and the service instead of being held whole.
    upload_paths: tuple[str, ...] = ()

    @property
    def app_path(self) -> str:
        """The ASGI app, as uvicorn imports it."""
        return f"{self.package or 'services.' + self.name}.app:app"

    @property
    def migrations_dir(self) -> Path:
        """The Alembic script folder of this service."""
        package = self.package or f"services.{self.name}"
        return ROOT.joinpath(*package.split(".")) / "migrations"

    @property
    def env_prefix(self) -> str:
        """``ONESTOP_<NAME>``: the prefix of this service's per-service variables (URL, port, database)."""
        return f"ONESTOP_{self.name.upper()}"


_BUILTIN: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="registration", port=8001, title="Registration service (企业开办)",
        public_prefixes=("/api/v1/registrations", "/api/v1/licenses", "/api/v1/changes"),
        anonymous_prefixes=("/api/v1/licenses/",),
        application_paths=("/api/v1/registrations", "/api/v1/changes"),
    ),
    ServiceSpec(
        name="deregistration", port=8002, title="Deregistration service (套餐式注销, 歇业备案)",
        public_prefixes=("/api/v1/deregistrations", "/api/v1/suspensions"),
        application_paths=("/api/v1/deregistrations",),
        # A simplified deregistration also ends when an objection stops it during the public notice.
        final_statuses=COMMON_FINAL_STATUSES | {"objected"},
    ),
    ServiceSpec(
        name="utilities", port=8003, title="Utilities service (水电气网联合报装)",
        public_prefixes=("/api/v1/connections", "/api/v1/utility-accounts"),
        application_paths=("/api/v1/connections",),
    ),
    ServiceSpec(
        name="realestate", port=8004, title="Real-estate service (不动产登记+交易+缴税)",
        public_prefixes=("/api/v1/transfers", "/api/v1/mortgages", "/api/v1/titles",
                         "/api/v1/property-certificates", "/api/v1/admin/properties"),
        anonymous_prefixes=("/api/v1/property-certificates/",),
        application_paths=("/api/v1/transfers", "/api/v1/mortgages"),
        final_statuses=COMMON_FINAL_STATUSES | {"cancelled"},
    ),
    ServiceSpec(
        name="materials", port=8005, title="Materials service (申请材料)",
        public_prefixes=("/api/v1/materials",),
        has_departments=False,
        upload_paths=("/api/v1/materials",),
    ),
)
# Services declared by extra modules, by the module that declared them: only the modules named in the
# environment now count, so a test that declares a service does not leak it into the next test's stack.
_declared: dict[str, list[ServiceSpec]] = {}
_loading: list[str] = []


def register(spec: ServiceSpec) -> ServiceSpec:
    """Declare a service beside the built-in ones (from a module named in ``ONESTOP_SERVICE_MODULES``)."""
    if not _loading:
        raise RuntimeError("register() is called by a module named in ONESTOP_SERVICE_MODULES, when it is loaded")
    if spec.name in {s.name for s in _BUILTIN} or spec.name == GATEWAY:
        raise ValueError(f"service {spec.name!r} is declared twice")
    _declared[_loading[-1]].append(spec)
    return spec


def _extra_modules() -> list[str]:
    modules = [m.strip() for m in os.environ.get(SERVICE_MODULES_VARIABLE, "").split(",")]
    for module in filter(None, modules):
        if module not in _declared:
            _declared[module] = []
            _loading.append(module)
            try:
                importlib.import_module(module)
            finally:
                _loading.pop()
    return [m for m in modules if m]


def services() -> dict[str, ServiceSpec]:
    """Every back-end service by name: the built-in ones, then those declared by extra modules."""
    found = {s.name: s for s in _BUILTIN}
    for module in _extra_modules():
        for spec in _declared[module]:
            if spec.name in found:
                raise ValueError(f"service {spec.name!r} is declared twice")
            found[spec.name] = spec
    ports = [s.port for s in found.values()] + [GATEWAY_PORT]
    if len(set(ports)) != len(ports):
        raise ValueError(f"two services share a default port: {sorted(ports)}")
    return found


def service(name: str) -> ServiceSpec:
    """One service by name (KeyError when none is declared)."""
    return services()[name]


def default_port(process: str) -> int | None:
    """The default port of a service or the gateway; None for processes that do not listen."""
    if process == GATEWAY:
        return GATEWAY_PORT
    spec = services().get(process)
    return spec.port if spec else None


def with_database() -> list[ServiceSpec]:
    """The services that own a database (and so have migrations)."""
    return [s for s in services().values() if s.has_database]


def with_applications() -> list[ServiceSpec]:
    """The services whose applications the gateway lists and streams."""
    return [s for s in services().values() if s.application_paths]


def with_departments() -> list[ServiceSpec]:
    """The services whose department tasks the gateway gathers."""
    return [s for s in services().values() if s.has_departments]


def owner_of(path: str) -> ServiceSpec | None:
    """The service that owns a public path, or None (prefixes never overlap between services)."""
    for spec in services().values():
        for prefix in spec.public_prefixes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return spec
    return None


def is_anonymous(path: str) -> bool:
    """Whether a public path may be called without a token."""
    return any(path.startswith(p) for s in services().values() for p in s.anonymous_prefixes)


def upload_paths() -> frozenset[str]:
    """Every path whose POST carries an upload (streamed, bounded by ``max_upload_bytes``)."""
    return frozenset(p for s in services().values() for p in s.upload_paths)


def serve_command(name: str) -> str:
    """The command line that serves a declared service."""
    return f"python -m shared.serve {name}"
