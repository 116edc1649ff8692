"""`GET /v2/sandboxes` with 1,000 sandboxes: the SDK's paginated listing through the real API.

Three processes on loopback, as deployed: a real orchestrator (gRPC) that knows 1,000
sandboxes, the real API under uvicorn (`create_app` from `CORRAL_API_*`, SQLite), and this
process driving it with the official `e2b` SDK and raw HTTP. The orchestrator gets its
sandboxes the way a restarted one does: 1,000 records in its state directory, re-adopted at
start (`Node._recover`) from the tests' fake driver, whose 1,000 runtime sandboxes share one
idle process instead of running 1,000 envds (`tests/orchestrator/parked.py`; listing never
talks to envd).

Measured: a raw `GET /v2/sandboxes?limit=100` (first page), the same with a metadata filter
(100 matches), every page of a full listing by `nextToken`, and the SDK's `Sandbox.list()`
paginator (`limit=100`, with and without a metadata query): p50/p95 per page and per full
listing. `--profile` also records the API and the orchestrator with py-spy while pages are
fetched. Run: `.venv/bin/python -m bench.list_bench [--count 1000] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import httpx

from bench.runtime_reference import summary
from tests.conftest import free_port, wait_http

SECRET = "list-bench-secret-0123456789"
RESULTS = Path(__file__).parent / "results"
SHARDS = 10
"""Each sandbox has metadata `shard=i % SHARDS`: a filter on one shard matches count / 10."""


# --- the orchestrator process -------------------------------------------------------------


async def serve_node(data_dir: Path, port_file: Path, team_id: str, count: int) -> None:
    """Park `count` sandboxes for the node to adopt, serve them until SIGTERM."""
    from pydantic import SecretStr

    from corral.orchestrator.server import OrchestratorServer
    from corral.orchestrator.settings import OrchestratorSettings
    from corral.orchestrator.templates import StaticTemplates
    from tests.orchestrator.fake_driver import FakeDriver
    from tests.orchestrator.parked import park, parked_record

    settings = OrchestratorSettings(
        host="127.0.0.1",
        port=0,
        secret=SecretStr(SECRET),
        data_dir=data_dir,
        sandbox_user="root",
        pool_size=0,
    )
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "rootfs").mkdir(exist_ok=True)
    driver = FakeDriver(user="root", log_dir=data_dir / "logs")
    now = datetime.now(UTC)
    records = [
        parked_record(
            f"ib{i:04d}{os.urandom(8).hex()}",
            now - timedelta(seconds=count - i),
            team_id=team_id,
            metadata={"bench": "list", "shard": str(i % SHARDS), "owner": f"user-{i % 37}"},
            address=str(IPv4Address("127.201.0.0") + i + 2),
        )
        for i in range(count)
    ]
    await park(driver, settings.state_dir, records)
    server = OrchestratorServer(settings, driver, StaticTemplates({"base": data_dir / "rootfs"}))
    port = await server.start()
    port_file.write_text(str(port))
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    await server.stop(grace=0)
    await driver.close()


# --- setting up and measuring -------------------------------------------------------------


async def make_team(database_url: str) -> tuple[str, str]:
    """A team whose rate limit the benchmark never reaches, and its API key."""
    from corral.api.db.database import Database
    from corral.api.db.store import Store

    database = Database(database_url)
    await database.upgrade()
    store = Store(database)
    team = await store.create_team("list-bench", rate_limit_per_s=1e6, rate_limit_burst=10**6)
    _, key = await store.create_api_key(team.id, "list-bench")
    await database.dispose()
    return team.id, key


def start_node(workdir: Path, team_id: str, count: int) -> tuple[subprocess.Popen[bytes], int]:
    port_file = workdir / "node.port"
    argv = [sys.executable, "-m", "bench.list_bench", "--node", str(workdir / "node")]
    argv += ["--port-file", str(port_file), "--team", team_id, "--count", str(count)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the orchestrator did not start")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def start_api(
    workdir: Path, database_url: str, node_port: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "CORRAL_API_DATABASE_URL": database_url,
        "CORRAL_API_DATA_DIR": str(workdir / "api"),
        "CORRAL_API_NODES": json.dumps([{"id": "node-1", "target": f"127.0.0.1:{node_port}"}]),
        "CORRAL_API_ORCHESTRATOR_SECRET": SECRET,
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "corral.api.app:create_app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(argv, env=env)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", timeout=60, proc=proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def raw_pages(client: httpx.Client, params: dict[str, str]) -> tuple[list[float], int]:
    """Every page of one listing by `nextToken`: each page's milliseconds, sandboxes seen."""
    pages, seen, token = [], 0, None
    while True:
        query = {**params, **({"nextToken": token} if token else {})}
        ms, answer = timed(lambda q=query: client.get("/v2/sandboxes", params=q))
        answer.raise_for_status()
        pages.append(ms)
        seen += len(answer.json())
        token = answer.headers.get("x-next-token")
        if not token:
            return pages, seen


def sdk_pages(metadata: dict[str, str] | None) -> tuple[list[float], int]:
    from e2b import Sandbox, SandboxQuery

    query = SandboxQuery(metadata=metadata) if metadata else None
    paginator = Sandbox.list(query=query, limit=100)
    pages, seen = [], 0
    while paginator.has_next:
        ms, items = timed(paginator.next_items)
        pages.append(ms)
        seen += len(items)
    return pages, seen


def listing(run: Any, rounds: int, expect: int) -> dict[str, Any]:
    """`rounds` full listings: per page and per listing (sum of its pages' times)."""
    run()  # warm up (connections, caches)
    pages: list[float] = []
    totals: list[float] = []
    for _ in range(rounds):
        ms, seen = run()
        assert seen == expect, (seen, expect)
        pages += ms
        totals.append(sum(ms))
    return {"pages_per_listing": len(ms), "page_ms": summary(pages), "listing_ms": summary(totals)}


def first_page(client: httpx.Client, params: dict[str, str], runs: int) -> dict[str, Any]:
    for _ in range(5):
        client.get("/v2/sandboxes", params=params).raise_for_status()
    times = []
    for _ in range(runs):
        ms, answer = timed(lambda: client.get("/v2/sandboxes", params=params))
        answer.raise_for_status()
        times.append(ms)
    return {"items": len(answer.json()), "page_ms": summary(times)}


def profile(pid: int, out: Path, seconds: int) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of `pid` (flamegraph.pl or speedscope read them)."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    argv = [spy, "record", "-p", str(pid), "-o", str(out), "-d", str(seconds), "-r", "500"]
    return subprocess.Popen([*argv, "-f", "raw"], stdout=subprocess.DEVNULL)


def measure(url: str, key: str, count: int, rounds: int, runs: int) -> dict[str, Any]:
    os.environ["E2B_API_URL"] = url
    os.environ["E2B_API_KEY"] = key
    one_shard = {"shard": "3"}
    shard_query = {"metadata": "shard=3"}  # what the SDK sends for {"shard": "3"}
    with httpx.Client(base_url=url, headers={"X-API-KEY": key}, timeout=60) as client:
        return {
            "raw_first_page_limit_100": first_page(client, {"limit": "100"}, runs),
            "raw_first_page_metadata_filter": first_page(
                client, {"limit": "100", **shard_query}, runs
            ),
            "raw_full_listing_limit_100": listing(
                lambda: raw_pages(client, {"limit": "100"}), rounds, count
            ),
            "sdk_full_listing_limit_100": listing(lambda: sdk_pages(None), rounds, count),
            "sdk_listing_metadata_filter": listing(
                lambda: sdk_pages(one_shard), rounds, count // SHARDS
            ),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20, help="full listings per case")
    parser.add_argument("--runs", type=int, default=100, help="first-page requests per case")
    parser.add_argument("--out", type=Path, default=RESULTS / "list-2026-11-26.json")
    parser.add_argument("--label", default="", help="stored with the results")
    parser.add_argument(
        "--before", type=Path, help="an earlier run's JSON, kept in this one as `before`"
    )
    parser.add_argument("--profile", type=Path, help="directory for py-spy profiles")
    parser.add_argument("--node", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--team", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.node is not None:
        asyncio.run(serve_node(args.node, args.port_file, args.team, args.count))
        return

    with tempfile.TemporaryDirectory(prefix="corral-list-bench-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{workdir / 'corral.db'}"
        team_id, key = asyncio.run(make_team(database_url))
        node, node_port = start_node(workdir, team_id, args.count)
        try:
            api, url = start_api(workdir, database_url, node_port)
            try:
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    spies = [
                        profile(api.pid, args.profile / "api.folded", 20),
                        profile(node.pid, args.profile / "node.folded", 20),
                    ]
                    time.sleep(1)
                results = measure(url, key, args.count, args.rounds, args.runs)
                if args.profile is not None:
                    for spy in spies:
                        spy.wait()
            finally:
                stop(api)
        finally:
            stop(node)
    report = {
        "benchmark": "GET /v2/sandboxes with many sandboxes (bench/list_bench.py)",
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sandboxes": args.count,
        "setup": "orchestrator, API (uvicorn, SQLite) and client as three processes on loopback",
        "results": results,
    }
    if args.before is not None:
        earlier = json.loads(args.before.read_text())
        report["before"] = {key: earlier.get(key) for key in ("label", "when", "results")}
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
