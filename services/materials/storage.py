"""Where the documents' bytes are kept, behind one small interface (``MaterialStore``): a local directory (the
default, under ``.data/materials``) or an S3-compatible object store (MinIO in compose), spoken to with plain
httpx and AWS Signature Version 4, which is all S3 needs and no SDK.

Only the materials service keeps documents, so the store lives here, not in ``shared``: other services reach a
document through the materials service's API (and departments through signed links), never through its store.
Objects are named by their SHA-256 (content-addressed): the same bytes are kept once, and putting them again is
harmless, so an upload whose database row is never committed leaves at worst an unreferenced object.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

import httpx

from shared.settings import Settings

CHUNK = 256 * 1024


def object_key(sha256: str) -> str:
    """Where a document's bytes are kept: by content, fanned out over 256 folders."""
    return f"{sha256[:2]}/{sha256}"


class StoreUnavailable(Exception):
    """The store did not take or give the bytes (down, refused, or answered an error)."""


class MaterialStore(Protocol):
    """Keeps documents' bytes by key."""

    async def put(self, key: str, source: Path, *, size: int, sha256: str, media_type: str) -> None:
        """Keep the file at ``source`` (written and hashed by the caller) under ``key``; ``source`` is consumed."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes kept under ``key``, in chunks."""

    def incoming(self) -> Path:
        """Where an upload is written while it arrives (beside the store, so keeping it is cheap)."""

    async def start(self) -> None:
        """Get ready (e.g. make sure the bucket exists)."""

    async def close(self) -> None:
        """Let go of connections."""


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    # Reads off the event loop: a disk read of a large file must not stall every other request.
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)


class LocalStore:
    """A directory: each document a file named by its SHA-256. The upload is written in the same directory
    tree first, so keeping it is a rename, never a second copy."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def incoming(self) -> Path:
        """Where uploads are written while they arrive."""
        return self.root / "incoming"

    async def start(self) -> None:
        await asyncio.to_thread(self.incoming().mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    async def put(self, key: str, source: Path, *, size: int, sha256: str, media_type: str) -> None:
        target = self.root / key

        def keep() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)  # atomic: a reader sees the whole file or none

        await asyncio.to_thread(keep)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        async for chunk in _file_chunks(self.root / key):
            yield chunk


# --- S3 (AWS Signature Version 4) -------------------------------------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_headers(method: str, url: str, *, payload_sha256: str, access_key: str, secret_key: str, region: str,
                  now: datetime, extra: dict[str, str] | None = None, service: str = "s3") -> dict[str, str]:
    """The headers that sign one request with AWS Signature Version 4 (header-based, path-style URL):
    ``host``, ``x-amz-date``, ``x-amz-content-sha256``, any ``extra`` ones (signed too) and ``authorization``."""
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    headers = {"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_sha256,
               **{k.lower(): v for k, v in (extra or {}).items()}}
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{k}:{' '.join(headers[k].split())}\n" for k in sorted(headers))
    query = "&".join(sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, _, v in
                            (p.partition("=") for p in parts.query.split("&") if p)))
    canonical = "\n".join([method, quote(parts.path or "/", safe="/-_.~"), query, canonical_headers, signed,
                           payload_sha256])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed}, "
                                f"Signature={signature}")
    return headers


EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Store:
    """An S3-compatible bucket (MinIO, or any S3), path-style, signed with SigV4; uploads are streamed from
    the file the upload was written to, with the SHA-256 already computed as the signed payload hash."""

    def __init__(self, *, endpoint: str, bucket: str, region: str, access_key: str, secret_key: str,
                 staging: Path, timeout: float = 30.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.staging = staging
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0))

    def incoming(self) -> Path:
        """Where uploads are written while they arrive (before they go to the bucket)."""
        return self.staging

    def _url(self, key: str = "") -> str:
        return f"{self.endpoint}/{self.bucket}" + (f"/{quote(key, safe='/')}" if key else "")

    def _signed(self, method: str, url: str, payload_sha256: str, extra: dict[str, str] | None = None
                ) -> dict[str, str]:
        return sigv4_headers(method, url, payload_sha256=payload_sha256, access_key=self.access_key,
                             secret_key=self.secret_key, region=self.region, now=datetime.now(UTC), extra=extra)

    async def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            return await self.client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"{method} {url}: {exc.__class__.__name__}") from exc

    async def start(self) -> None:
        await asyncio.to_thread(self.staging.mkdir, parents=True, exist_ok=True)
        url = self._url()
        head = await self._send("HEAD", url, headers=self._signed("HEAD", url, EMPTY_SHA256))
        if head.status_code == 404:
            made = await self._send("PUT", url, headers=self._signed("PUT", url, EMPTY_SHA256))
            if made.status_code not in (200, 409):  # 409: another replica made it first
                raise StoreUnavailable(f"cannot create bucket {self.bucket}: {made.status_code}")
        elif head.status_code != 200:
            raise StoreUnavailable(f"bucket {self.bucket}: {head.status_code}")

    async def close(self) -> None:
        await self.client.aclose()

    async def put(self, key: str, source: Path, *, size: int, sha256: str, media_type: str) -> None:
        url = self._url(key)
        headers = self._signed("PUT", url, sha256, {"content-type": media_type})
        headers["content-length"] = str(size)
        try:
            resp = await self._send("PUT", url, headers=headers, content=_file_chunks(source))
        finally:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(source.unlink)
        if resp.status_code != 200:
            raise StoreUnavailable(f"PUT {key}: {resp.status_code} {resp.text[:200]}")

    async def read(self, key: str) -> AsyncIterator[bytes]:
        url = self._url(key)
        request = self.client.build_request("GET", url, headers=self._signed("GET", url, EMPTY_SHA256))
        try:
            resp = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"GET {key}: {exc.__class__.__name__}") from exc
        try:
            if resp.status_code != 200:
                raise StoreUnavailable(f"GET {key}: {resp.status_code}")
            async for chunk in resp.aiter_bytes(CHUNK):
                yield chunk
        finally:
            await resp.aclose()


def store_from(settings: Settings) -> LocalStore | S3Store:
    """The store the settings name."""
    if settings.materials_store == "s3":
        return S3Store(endpoint=settings.s3_endpoint, bucket=settings.s3_bucket, region=settings.s3_region,
                       access_key=settings.s3_access_key, secret_key=settings.s3_secret_key,
                       staging=settings.materials_path / "incoming", timeout=settings.upstream_timeout_seconds)
    return LocalStore(settings.materials_path)
