"""A stand-in OIDC issuer for tests: RS256/ES256 key pairs, tokens signed with them, and their JWKS served
over HTTP on 127.0.0.1 from a thread of the test process (the key set can be changed to rotate keys)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.settings import Settings


@dataclass
class SigningKey:
    """A private key with its ``kid`` and algorithm."""

    kid: str
    alg: str
    private: Any = field(repr=False)

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"rsa-{uuid.uuid4().hex[:8]}", "RS256",
                   rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"ec-{uuid.uuid4().hex[:8]}", "ES256", ec.generate_private_key(ec.SECP256R1()))

    def public_jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": self.alg})
        return jwk

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


def claims_for(settings: Settings, subject: str | None, roles: list[str], **overrides: Any) -> dict[str, Any]:
    """Valid claims for this API (issuer, audience, a lifetime of an hour), with any claim overridden
    (``None`` leaves it out)."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "roles": roles, "iss": settings.jwt_issuer, "aud": settings.jwt_audience,
                              "iat": now, "nbf": now, "exp": now + 3600, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/jwks.json``; ``publish`` replaces the set, ``fetches`` counts GETs."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self._lock = threading.Lock()
        self._body = b""
        self.fetches = 0
        self.publish(keys)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                with owner._lock:
                    body = owner._body
                    owner.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="jwks", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"

    def publish(self, keys: list[SigningKey]) -> None:
        body = json.dumps({"keys": [k.public_jwk() for k in keys]}).encode()
        with self._lock:
            self._body = body

    def start(self) -> JwksServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
