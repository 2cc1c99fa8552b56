"""Which service owns which public path: the one routing table of the gateway."""

from __future__ import annotations

# Longest prefix first is not needed: prefixes do not overlap.
ROUTES: dict[str, str] = {
    "/api/v1/registrations": "registration",
    "/api/v1/licenses": "registration",
    "/api/v1/deregistrations": "deregistration",
    "/api/v1/suspensions": "deregistration",
}
# Paths anyone may call without a token (the service decides the rest of its own rules).
PUBLIC_PREFIXES = ("/api/v1/licenses/",)
# Services whose applications and department tasks the gateway gathers.
APPLICATION_SERVICES = ("registration", "deregistration")
# Where each of them lists the caller's applications (and, under ``/{id}``, shows one).
APPLICATION_PATHS = {"registration": "/api/v1/registrations", "deregistration": "/api/v1/deregistrations"}


def owner_of(path: str) -> str | None:
    """The service that owns a public path, or None."""
    for prefix, service in ROUTES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIXES)
