"""The S3 store against a real S3-compatible server (moto's, in its own thread on a free port): SigV4-signed
requests make the bucket, put a document streamed from its file with its SHA-256 as the signed payload hash,
and read it back; and the signature is AWS's own, by the documented example."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from services.materials.storage import EMPTY_SHA256, S3Store, StoreUnavailable, object_key, sigv4_headers
from services.stack import free_port
from tests import documents

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def store(endpoint: str, tmp_path: Path, secret: str = "test-secret") -> S3Store:
    return S3Store(endpoint=endpoint, bucket="onestop-materials", region="us-east-1", access_key="testing",
                   secret_key=secret, staging=tmp_path / "incoming")


async def test_a_document_goes_to_the_bucket_and_comes_back_whole(s3_endpoint: str, tmp_path: Path) -> None:
    s3 = store(s3_endpoint, tmp_path)
    await s3.start()
    await s3.start()  # the bucket exists now: starting again is fine
    content = documents.pdf(3) + b"%" + b"7" * 600_000  # several chunks
    digest = hashlib.sha256(content).hexdigest()
    source = s3.incoming() / "upload.part"
    source.write_bytes(content)
    await s3.put(object_key(digest), source, size=len(content), sha256=digest, media_type="application/pdf")
    assert not source.exists()  # consumed
    read = b"".join([chunk async for chunk in s3.read(object_key(digest))])
    assert read == content
    with pytest.raises(StoreUnavailable):
        _ = [chunk async for chunk in s3.read(object_key("0" * 64))]
    await s3.close()


def test_the_signature_is_aws_signature_version_4() -> None:
    # The worked example of the S3 documentation ("Signature calculation: GET Object", header-based auth).
    headers = sigv4_headers(
        "GET", "https://examplebucket.s3.amazonaws.com/test.txt", payload_sha256=EMPTY_SHA256,
        access_key="AKIAIOSFODNN7EXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1", now=datetime(2013, 5, 24, tzinfo=UTC), extra={"Range": "bytes=0-9"})
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
