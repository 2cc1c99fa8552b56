"""What the gateway refuses before routing, and who the client is.

- A path with a dot segment (``.``, ``..``, also percent-encoded), an encoded slash or backslash (``%2F``,
  ``%5C``), a backslash, an empty segment (``//``) or a control character is 400: such a path means one thing
  to the gateway's routing and prefix checks and another to the service it is forwarded to (``/api/v1/
  licenses/../../openapi.json`` is anonymous by its prefix and reaches a service's own document).
- Two ``Authorization`` headers are 400: the gateway would check one and forward the other.
- The client's address is the peer's, unless the peer is a trusted proxy (``ONESTOP_TRUSTED_PROXIES``):
  then it is the nearest address in ``X-Forwarded-For`` that is not a trusted proxy. The gateway sets it as
  the request's client (per-address rate limits count it) and forwards it as the only ``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import unquote

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth import duplicate_authorization
from shared.problems import PROBLEM_JSON, Problem

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ENCODED_SEPARATOR = re.compile(rb"%(2f|5c)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The networks of ``ONESTOP_TRUSTED_PROXIES`` (a comma list of addresses or networks)."""
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in setting.split(",") if item.strip())
    except ValueError as exc:
        raise ValueError(f"ONESTOP_TRUSTED_PROXIES: {exc}") from exc


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1:value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(peer: str | None, forwarded_for: list[str], networks: tuple[Network, ...]) -> str | None:
    """The client of a request from ``peer`` carrying ``X-Forwarded-For`` values ``forwarded_for``.

    Each proxy appends the address it was called from, so the list is read from the right: past the trusted
    proxies, the first address is the one the outermost trusted proxy saw. Anything there that is not an
    address (a proxy that is misconfigured) leaves the last trusted proxy as the client.
    """
    if not networks or not forwarded_for or not _trusted(_address(peer or ""), networks):
        return peer
    client = peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return client
        client = str(address)
        if not _trusted(address, networks):
            return client
    return client


def path_problem(raw_path: bytes, path: str) -> str | None:
    """Why a request path is refused, or None."""
    if _ENCODED_SEPARATOR.search(raw_path) or _ENCODED_SEPARATOR.search(path.encode()) or b"\\" in raw_path:
        return "an encoded slash or a backslash in the path"
    # The decoded path, and decoded once more: a dot segment encoded twice is one for a server that decodes again.
    for candidate in (path, unquote(path)):
        if _CONTROL.search(candidate):
            return "a control character in the path"
        segments = candidate.split("/")[1:]
        if any(segment in (".", "..") for segment in segments):
            return "a dot segment in the path"
        if "" in segments[:-1]:
            return "an empty segment (//) in the path"
    return None


class RequestGuardMiddleware:
    """Refuses malformed paths and two Authorization headers (400), and sets the request's client address."""

    def __init__(self, app: ASGIApp, trusted_proxies: str = "") -> None:
        self.app = app
        self.networks = trusted_networks(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem: Problem | None = None
        why = path_problem(scope.get("raw_path") or scope["path"].encode(), scope["path"])
        if why is not None:
            problem = Problem(400, "Malformed path", f"refused: {why}", code="malformed_path")
        elif sum(1 for name, _ in scope["headers"] if name.lower() == b"authorization") > 1:
            problem = duplicate_authorization()
        if problem is not None:
            response = JSONResponse(problem.body(), status_code=problem.status, media_type=PROBLEM_JSON)
            await response(scope, receive, send)
            return
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"x-forwarded-for"]
        peer = scope["client"][0] if scope.get("client") else None
        client = client_address(peer, forwarded, self.networks)
        if client != peer and client is not None:
            scope["client"] = (client, 0)
        await self.app(scope, receive, send)
