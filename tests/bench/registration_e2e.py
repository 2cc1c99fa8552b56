"""Throughput and latency of 企业开办 through the whole stack on this machine, side by side with a workflow engine.

    make bench                      # SQLite; C=20 and C=100 in flight
    make bench-peer                 # the same, then Temporal (../shared/peers beside the project) with the same N and C
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres make bench
    python -m tests.bench.registration_e2e --n 400 --concurrency 20 100 [--peer] [--profile-seconds 10]
        [--profile-service gateway] [--deregistration]

Starts its own nats-server and stack on free ports (simulated departments answer at once, rate limits off),
then for each concurrency C runs a closed loop: C clients each POST an enterprise opening through the gateway
and wait for its ``registration.application.completed`` event on NATS before sending the next, until N were
sent. Latency is POST to completion event. CPU is read from /proc for every process of the stack (and of the
peer), before and after each run, and printed per application.

``--peer`` runs the Temporal peer in the same run after ours (stack stopped first, so the two never share
the CPU): ``temporal server start-dev --headless`` on free loopback ports and ``temporal_peer.py`` from the
throwaway virtualenv ``.peer`` (``make bench-peer`` creates it; never a dependency of the project).

``--deregistration`` times general deregistrations (套餐式注销) instead: N enterprises per concurrency are
opened first (not timed), then each deregistered, POST to ``deregistration.application.completed``. The
creditors' announcement lasts no time and the sweeps run every 0.1 s, so the notice's end waits at most that.
``--profile-seconds`` runs py-spy (without ``--gil``: time outside the GIL, in SQLite or OpenSSL, is CPU too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
from nats.aio.msg import Msg

from shared.events import CloudEvent
from tests import documents
from tests.support import Databases, NatsServer, eventually, make_stack, registration_body


def bench_body() -> dict[str, Any]:
    """The README's example with a fresh name, in the form's current shape (an investor's ``id_number``
    became ``document_number`` while the form grew; the bench follows whichever the form takes)."""
    from services.registration.forms import InvestorIn, RegistrationCreate

    body = registration_body()
    person = {"name": body["legal_representative"]["name"], "id_number": body["legal_representative"]["id_number"],
              "mobile": body["legal_representative"].get("mobile")}
    fields = RegistrationCreate.model_fields
    for investor in body.get("investors", []):
        if "id_number" not in InvestorIn.model_fields and "id_number" in investor:
            investor["document_number"] = investor.pop("id_number")
        if "contribution_form" in InvestorIn.model_fields:
            investor.setdefault("contribution_form", "monetary")
            investor.setdefault("subscription_deadline", "2029-12-31")
    if "officers" in fields:
        body.setdefault("officers", [{"name": person["name"], "id_number": person["id_number"],
                                      "role": "executive_director"},
                                     {"name": "李四", "id_number": "440703199001011239", "role": "supervisor"}])
    for role in ("finance_officer", "tax_agent"):
        if role in fields:
            body.setdefault(role, person)
    return body


ROOT = Path(__file__).resolve().parents[2]
PEER_DIR = Path(os.environ.get("ONESTOP_PEER_DIR", ROOT.parent / "shared" / "peers"))
PEER_VENV = ROOT / ".peer"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU from /proc -------------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, session id, CPU seconds user+system) of a live process, with that of its children that have
    exited (a database server's backends come and go with its clients' pools)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[3]), sum(int(f) for f in fields[11:15]) / CLOCK_TICKS


def _all_stats() -> dict[int, tuple[int, int, float]]:
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                stats[int(entry)] = found
    return stats


def cpu_of(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process and all its descendants."""
    stats = _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _sid, _cpu) in stats.items():
        children.setdefault(ppid, []).append(pid)
    totals = {}
    for name, root in roots.items():
        seen, todo, total = set(), [root], 0.0
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in stats:
                continue
            seen.add(pid)
            total += stats[pid][2]
            todo.extend(children.get(pid, ()))
        totals[name] = total
    return totals


def postmaster() -> int | None:
    """The PostgreSQL server's first process on this machine (its backends are its children), if one runs."""
    stats = _all_stats()
    for pid, (parent, _sid, _cpu) in stats.items():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                if Path(f"/proc/{parent}/comm").read_text().strip() != "postgres":
                    return pid
    return None


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --- figures -----------------------------------------------------------------------------------------


@dataclass
class Result:
    who: str
    n: int
    concurrency: int
    wall: float
    latencies: list[float]
    cpu: dict[str, float]
    # p50 and p99 in ms as a peer printed them, when its single latencies are not at hand.
    printed: tuple[float, float] | None = None

    @property
    def rate(self) -> float:
        return self.n / self.wall

    def pct(self, q: float) -> float:
        if self.printed is not None:
            return self.printed[0] if q <= .5 else self.printed[1]
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000

    def line(self) -> str:
        cpu = sum(self.cpu.values()) / self.n * 1000
        return (f"{self.who:>9} C={self.concurrency:<4} {self.rate:7.1f} applications/s  p50 {self.pct(.5):6.0f} ms  "
                f"p99 {self.pct(.99):6.0f} ms  CPU {cpu:6.1f} ms/application (n={self.n})")

    def cpu_line(self) -> str:
        parts = ", ".join(f"{k} {v / self.n * 1000:.1f}" for k, v in sorted(self.cpu.items(), key=lambda kv: -kv[1]))
        return f"          CPU ms per application: {parts}"


# --- ours --------------------------------------------------------------------------------------------


@dataclass
class Bench:
    """A running stack: its gateway's clients (one connection each), its processes for CPU, its broker."""

    stack: Any
    broker: NatsServer
    nc: nats.NATS
    roots: dict[str, int]
    tmp: Path
    clients: list[httpx.AsyncClient]
    headers: dict[str, str]
    retried: list[int]

    async def post(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
        """POST an application with an Idempotency-Key (sent again, same key, on a 503); its id."""
        key = os.urandom(8).hex()
        for _attempt in range(5):
            resp = await http.post(path, json=body, headers={**self.headers, "Idempotency-Key": key})
            if resp.status_code != 503:
                break
            # The gateway found a kept-alive connection closed under it: the same key again is safe.
            self.retried[0] += 1
        assert resp.status_code == 202, resp.text
        return str(resp.json()["id"])


@contextlib.asynccontextmanager
async def running_bench(workers: int, concurrency: int, **env: str) -> AsyncIterator[Bench]:
    """A stack of its own (own nats-server and databases, simulated departments answering at once, rate limits
    off), and ``concurrency`` gateway clients as the bench user."""
    # Stopped by a signal (a timeout, CI), the run still stops the stack it started rather than leave it running.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    tmp = Path(tempfile.mkdtemp(prefix="onestop-bench-"))
    server_url = os.environ.get("TEST_DATABASE_URL")
    if server_url:
        from shared.settings import async_database_url

        server_url = async_database_url(server_url)
    databases = Databases(tmp, server_url)
    broker = NatsServer(tmp / "nats")
    broker.start()
    # The default sweep interval (the tests' 0.3 s would have every sweeper take the database three times a
    # second) unless the run says otherwise.
    env = {"ONESTOP_SWEEP_INTERVAL_SECONDS": os.environ.get("ONESTOP_SWEEP_INTERVAL_SECONDS", "2"), **env}
    stack = make_stack(tmp, databases, broker, ONESTOP_SIMULATED_DEPARTMENTS="all",
                       ONESTOP_LOG_LEVEL="WARNING", ONESTOP_RATE_LIMIT_WRITES_PER_MINUTE="10000000",
                       ONESTOP_RATE_LIMIT_READS_PER_MINUTE="10000000", ONESTOP_WORKERS=str(workers), **env)
    nc = None
    finished = False
    # One client, with one connection, per applicant in flight: httpx's pool looks through every connection it
    # holds on each request, and one pool of 100 cost the bench more CPU per opening than the gateway.
    clients: list[httpx.AsyncClient] = []
    tls = ssl.create_default_context()  # never used on http://, but each client would load the CA store
    try:
        stack.start_all()
        assert broker.proc is not None
        roots = {name: proc.pid for name, proc in stack.procs.items()}
        roots["nats-server"] = broker.proc.pid
        server = postmaster() if server_url else None
        if server is not None:
            # The database's own work per application counts too (every backend, the writer and checkpointer).
            roots["postgresql server"] = server
        nc = await broker.connect()
        clients.extend(httpx.AsyncClient(base_url=stack.url_of("gateway"), timeout=120, verify=tls,
                                         limits=httpx.Limits(max_connections=1)) for _ in range(concurrency))
        token = (await clients[0].post("/api/v1/auth/dev-token", json={"sub": "bench", "roles": ["applicant"]})
                 ).json()["access_token"]
        yield Bench(stack, broker, nc, roots, tmp, clients, {"authorization": f"Bearer {token}"}, [0])
        print(f"          database: {'PostgreSQL' if server_url else 'SQLite'}; {workers} process(es) per service",
              flush=True)
        finished = True
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
        if nc is not None:
            await nc.close()
        stack.stop_all()
        broker.stop()
        databases.drop_all()
        if finished:
            discard_run_files(tmp)
        else:
            print(f"          the run's logs and databases are kept in {tmp}", flush=True)


def discard_run_files(tmp: Path) -> None:
    """After a run that finished, its databases, broker store and logs go (tens of MB a run); the profiles
    written there (``--profile-seconds`` without ``ONESTOP_PROFILE_DIR``) stay."""
    profiles = set(tmp.glob(PROFILE_GLOB))
    profiles |= {p.with_suffix(".log") for p in profiles}
    for entry in tmp.iterdir():
        if entry in profiles:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    if not profiles:
        tmp.rmdir()


class Arrivals:
    """When each application's announcement on ``subject`` arrived, by application id: the event may come
    before the POST that started it has its answer."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.early: dict[str, float] = {}

    async def follow(self, nc: nats.NATS, subject: str) -> None:
        async def arrived(msg: Msg) -> None:
            app_id = CloudEvent.model_validate_json(msg.data).data["application_id"]
            now = time.perf_counter()
            future = self.waiting.pop(app_id, None)
            if future is None:
                self.early[app_id] = now
            elif not future.done():
                future.set_result(now)

        await nc.subscribe(subject, cb=arrived)

    async def of(self, app_id: str) -> float:
        if app_id in self.early:
            return self.early.pop(app_id)
        future = self.waiting[app_id] = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(future, 300)


T = TypeVar("T")


async def closed_loop(bench: Bench, items: Sequence[T], concurrency: int,
                      one: Callable[[httpx.AsyncClient, T], Awaitable[float]]) -> list[float]:
    """``concurrency`` clients, each taking the next item and starting the next only when its last is done."""
    todo = list(reversed(items))
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        while todo:
            latencies.append(await one(http, todo.pop()))

    await asyncio.gather(*(client(bench.clients[i]) for i in range(concurrency)))
    return latencies


async def measured(bench: Bench, label: str, items: Sequence[T], concurrency: int,
                   one: Callable[[httpx.AsyncClient, T], Awaitable[float]], profile: tuple[str, float]) -> Result:
    """One closed loop, timed, with the CPU every process of the stack used meanwhile; printed."""
    service, seconds = profile
    profiler = start_profile(service, bench.roots.get(service), seconds, bench.tmp, concurrency)
    before, mine = cpu_of(bench.roots), own_cpu()
    t0 = time.perf_counter()
    latencies = await closed_loop(bench, items, concurrency, one)
    wall = time.perf_counter() - t0
    after = cpu_of(bench.roots)
    cpu = {k: after[k] - before.get(k, 0.0) for k in after}
    cpu["bench client"] = own_cpu() - mine
    result = Result(label, len(items), concurrency, wall, latencies, cpu)
    print(result.line(), flush=True)
    print(result.cpu_line(), flush=True)
    if bench.retried[0]:
        print(f"          ({bench.retried[0]} POSTs answered 503 and were sent again with their key)")
        bench.retried[0] = 0
    finish_profile(profiler)
    return result


async def open_one(bench: Bench, arrivals: Arrivals, http: httpx.AsyncClient) -> float:
    """One enterprise opening, POST to its completion event: its latency."""
    started = time.perf_counter()
    app_id = await bench.post(http, "/api/v1/registrations", bench_body())
    return await arrivals.of(app_id) - started


async def run_ours(n: int, concurrencies: Sequence[int], workers: int, profile: tuple[str, float]) -> list[Result]:
    """Enterprise openings (企业开办): a closed loop at each concurrency, after a warm-up and one alone."""
    results: list[Result] = []
    async with running_bench(workers, max(5, *concurrencies)) as bench:
        arrivals = Arrivals()
        await arrivals.follow(bench.nc, "registration.application.completed")

        async def one(http: httpx.AsyncClient, _item: int) -> float:
            return await open_one(bench, arrivals, http)

        # Warm up connections and code paths, then one alone.
        await closed_loop(bench, range(20), 5, one)
        singles = [await one(bench.clients[0], 0) for _ in range(5)]
        print(f"one application alone, POST to completed: median {statistics.median(singles) * 1000:.0f} ms "
              f"(min {min(singles) * 1000:.0f}, max {max(singles) * 1000:.0f}; 5 runs)", flush=True)
        for concurrency in concurrencies:
            results.append(await measured(bench, "ours", range(n), concurrency, one, profile))
    return results


# The deregistration run: the creditors' announcement of a general deregistration lasts no time, so its end is
# fired by the next sweep; a short sweep interval keeps that wait from being the whole latency.
DEREGISTRATION_SWEEP_SECONDS = "0.1"
# The signed documents a general deregistration carries (key materials in the catalogue).
GENERAL_DEREGISTRATION_MATERIALS = ("dissolution_resolution", "liquidation_report")


async def run_deregistrations(n: int, concurrencies: Sequence[int], workers: int,
                              profile: tuple[str, float]) -> list[Result]:
    """General deregistrations (套餐式注销, 一般注销) of enterprises opened first (not timed), with their signed
    documents uploaded first: POST to ``deregistration.application.completed``, through tax, samr, social and
    medical insurance and the rest, the licence revoked."""
    results: list[Result] = []
    total = n * len(concurrencies)
    async with running_bench(workers, max(20, *concurrencies), ONESTOP_CREDITOR_NOTICE_DAYS="0",
                             ONESTOP_SWEEP_INTERVAL_SECONDS=os.environ.get("ONESTOP_SWEEP_INTERVAL_SECONDS",
                                                                           DEREGISTRATION_SWEEP_SECONDS)) as bench:
        opened, closed = Arrivals(), Arrivals()
        await opened.follow(bench.nc, "registration.application.completed")
        await closed.follow(bench.nc, "deregistration.application.completed")
        usccs: list[str] = []
        all_registered = asyncio.Event()

        async def registered(msg: Msg) -> None:
            usccs.append(str(CloudEvent.model_validate_json(msg.data).subject))
            if len(usccs) == total:
                all_registered.set()

        await bench.nc.subscribe("registration.enterprise.registered", cb=registered)
        print(f"opening {total} enterprises and uploading their documents (not timed)", flush=True)
        await closed_loop(bench, range(total), 20, lambda http, _i: open_one(bench, opened, http))
        # The signed documents, uploaded once: the materials service keeps one material per owner and content.
        materials = []
        for pages, code in enumerate(GENERAL_DEREGISTRATION_MATERIALS, start=1):
            resp = await bench.clients[0].post(
                "/api/v1/materials", data={"kind": code}, headers={**bench.headers, "Idempotency-Key": code},
                files={"file": (f"{code}.pdf", documents.pdf(pages), "application/pdf")})
            assert resp.status_code in (200, 201), resp.text
            materials.append({"code": code, "id": resp.json()["id"]})

        async def known(http: httpx.AsyncClient, uscc: str) -> float:
            async def probe() -> bool:
                path = f"/api/v1/deregistrations/enterprises/{uscc}"
                return (await http.get(path, headers=bench.headers)).status_code == 200

            await eventually(probe, what=f"the deregistration service to learn of {uscc}")
            return 0.0

        await asyncio.wait_for(all_registered.wait(), 60)  # the last announcements may still be on their way
        await closed_loop(bench, usccs, 20, known)
        body = {"procedure": "general", "reason": "经营期满", "materials": materials,
                "liquidation": {"members": [{"name": "张三", "id_number": "11010519491231002X"}]},
                "liquidation_report": {"summary": "债权债务已清理完毕", "confirmed_by_shareholders": True}}

        async def one(http: httpx.AsyncClient, uscc: str) -> float:
            started = time.perf_counter()
            app_id = await bench.post(http, "/api/v1/deregistrations", {**body, "uscc": uscc})
            return await closed.of(app_id) - started

        for i, concurrency in enumerate(concurrencies):
            results.append(await measured(bench, "deregistration", usccs[i * n:(i + 1) * n], concurrency, one,
                                          profile))
    return results


# A profile's file name (its service and concurrency for the star).
PROFILE_GLOB = "*.profile.txt"


def start_profile(service: str, root: int | None, seconds: float, tmp: Path,
                  concurrency: int) -> subprocess.Popen[bytes] | None:
    """py-spy on one service's process (registration unless ``--profile-service``) for the first ``seconds`` of a
    run (``--profile-seconds``)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not seconds or root is None or spy is None:
        return None
    pid = _service_pid(root)
    out = Path(os.environ.get("ONESTOP_PROFILE_DIR", tmp)) / PROFILE_GLOB.replace("*", f"{service}-c{concurrency}")
    print(f"          profiling {service} (pid {pid}) for {seconds:.0f} s → {out}", flush=True)
    return subprocess.Popen([spy, "record", "--nonblocking", "-d", str(int(seconds)), "-r", "200", "-f", "raw",
                             "-o", str(out), "--pid", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=open(out.with_suffix(".log"), "wb"))


def finish_profile(profiler: subprocess.Popen[bytes] | None) -> None:
    if profiler is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            profiler.wait(60)


def _service_pid(root: int) -> int:
    """The python process under the shell the stack started."""
    stats = _all_stats()
    todo = [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            if "python" in os.readlink(f"/proc/{pid}/exe").rsplit("/", 1)[-1]:
                return pid
        todo.extend(p for p, (ppid, _s, _c) in stats.items() if ppid == pid)
    return root


# --- the peer ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_peer(n: int, concurrencies: Iterable[int]) -> list[Result]:
    temporal = PEER_VENV / "bin" / "temporal"
    python = PEER_VENV / "bin" / "python"
    script = PEER_DIR / "temporal_peer.py"
    if not temporal.exists() or not python.exists():
        raise SystemExit(f"no Temporal peer in {PEER_VENV}: run `make bench-peer` (it creates the throwaway venv)")
    port, ui_port, http_port, metrics_port = free_port(), free_port(), free_port(), free_port()
    server = subprocess.Popen(
        [str(temporal), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--ui-port", str(ui_port), "--http-port", str(http_port), "--metrics-port", str(metrics_port),
         "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = []
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("temporal dev server did not start")
            time.sleep(0.2)
        time.sleep(1.0)
        for concurrency in concurrencies:
            before = cpu_of({"temporal server": server.pid})
            started = time.perf_counter()
            worker = subprocess.Popen([str(python), str(script), f"127.0.0.1:{port}", str(n), str(concurrency)],
                                      stdout=subprocess.PIPE, text=True)
            peak = 0.0
            while worker.poll() is None:
                peak = max(peak, cpu_of({"w": worker.pid})["w"])
                time.sleep(0.2)
            out = worker.stdout.read() if worker.stdout else ""
            wall = time.perf_counter() - started
            after = cpu_of({"temporal server": server.pid})
            cpu = {"temporal server": after["temporal server"] - before["temporal server"],
                   "temporal worker": peak}
            match = re.search(r"([\d.]+) workflows/s, p50 (\d+) ms, p99 (\d+) ms", out)
            # (temporalio may abort in interpreter shutdown after printing: the figures are what count)
            if match is None:
                raise SystemExit(f"temporal peer failed: {out}")
            rate, p50, p99 = float(match.group(1)), float(match.group(2)), float(match.group(3))
            # The peer prints its own figures; keep them (its wall excludes its start-up) and ours for CPU.
            result = Result("temporal", n, concurrency, n / rate, [], cpu, printed=(p50, p99))
            results.append(result)
            print(result.line(), flush=True)
            print(result.cpu_line() + f"  (worker incl. start-up; run took {wall:.1f} s)", flush=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "400")),
                        help="applications per run (default 400)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[20, 100], help="applications in flight")
    parser.add_argument("--workers", type=int, default=1, help="processes per service (PostgreSQL)")
    parser.add_argument("--peer", action="store_true", help="run the Temporal peer too and print the ratio")
    parser.add_argument("--profile-seconds", type=float, default=0.0,
                        help="py-spy one service's process for this long at the start of each run")
    parser.add_argument("--profile-service", default="registration", help="the service --profile-seconds profiles")
    parser.add_argument("--deregistration", action="store_true",
                        help="time general deregistrations instead (no peer: it runs the opening's fan-out only)")
    args = parser.parse_args()
    profile = (args.profile_service, args.profile_seconds)
    if args.deregistration:
        asyncio.run(run_deregistrations(args.n, args.concurrency, args.workers, profile))
        return
    ours = asyncio.run(run_ours(args.n, args.concurrency, args.workers, profile))
    if not args.peer:
        return
    peer = run_peer(args.n, args.concurrency)
    print("\nside by side (same machine, same run, same N and C):")
    for mine, theirs in zip(ours, peer, strict=True):
        print(mine.line())
        print(theirs.line())
        print(f"          ratio ours/temporal at C={mine.concurrency}: throughput {mine.rate / theirs.rate:.2f}x, "
              f"p99 {mine.pct(.99) / theirs.pct(.99):.2f}x, CPU per application "
              f"{sum(mine.cpu.values()) / max(sum(theirs.cpu.values()), 1e-9):.2f}x")


if __name__ == "__main__":
    main()
