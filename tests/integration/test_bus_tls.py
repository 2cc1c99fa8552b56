"""The bus over TLS, as compose runs it: the broker's certificate comes from a CA made beside the seeds;
a process that trusts that CA connects and works; one that does not trust it, or speaks plain text, cannot."""

from __future__ import annotations

import uuid
from pathlib import Path

import nats
import pytest

from shared.bus import Bus
from shared.bustls import CA_FILE, client_context, ensure_certificates
from shared.events import CloudEvent
from tests.support import NatsServer


@pytest.fixture
def tls_broker(tmp_path: Path):  # type: ignore[no-untyped-def]
    with NatsServer(tmp_path / "nats", tls=True) as server:
        yield server


async def test_a_process_trusting_the_ca_publishes_over_tls(tls_broker: NatsServer) -> None:
    ca = tls_broker.credentials / CA_FILE
    bus = Bus(tls_broker.url, name="tls-test", seed=tls_broker.seed("service.registration"), tls_ca=ca)
    await bus.connect()
    try:
        event = CloudEvent(source="/onestop/registration", type="cn.gov.jiangmen.onestop.registration.task.overdue",
                           data={})
        await bus.publish(f"registration.task.overdue.{uuid.uuid4().hex[:6]}", event.model_dump_json().encode(),
                          event.id)
        assert bus.nc is not None and bus.nc.is_connected
    finally:
        await bus.close()


async def test_plain_text_or_another_ca_is_refused(tls_broker: NatsServer, tmp_path: Path) -> None:
    seed = str(tls_broker.seed())
    with pytest.raises(Exception):  # noqa: B017 - the client fails in the TLS handshake, whichever way
        await nats.connect(tls_broker.url, nkeys_seed=seed, allow_reconnect=False, max_reconnect_attempts=0,
                           connect_timeout=2)
    ensure_certificates(tmp_path / "other", ["127.0.0.1"])
    with pytest.raises(Exception):  # noqa: B017
        await nats.connect(tls_broker.url, nkeys_seed=seed, tls=client_context(tmp_path / "other" / CA_FILE),
                           allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)
