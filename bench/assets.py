"""Asset gateway throughput next to bare static-file servers serving the same bytes from disk.

    .venv/bin/python -m bench.assets [--seconds 3] [--connections 16] [--load auto|wrk|python]

Apache is not installed here, so the baselines are (a) Starlette's
``StaticFiles`` under the same uvicorn set-up as the gateway (one process,
httptools, uvloop), reading the files from disk on every request, and (b)
Python's ``http.server`` (threading). Everything runs on 127.0.0.1: a private
Valkey, assetmgr publishing a temp dir, the gateway, the baselines. Load comes
from ``wrk`` when it is installed (``apt-get install wrk``), else from this
process (``bench.asset_load``), bounded in time per measurement. Ratios come
from one run, side by side; other work on the machine moves all numbers,
which is why only the ratios mean much.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.asset_load import Load, measure
from keyforge_cli.embedded import VALKEY_USERS, ValkeyServer, render_valkey_acl
from keyforge_cli.private_files import write_private
from keyforge_cli.processes import free_port, spawn, stop_process, wait_for_port
from keyforge_shared.keys import DEFAULT_PREFIX

REPO = Path(__file__).resolve().parents[1]
SIZES = {"64 KiB": 64 * 1024, "1 MiB": 1024 * 1024}


def serve_static(directory: Path, port: int) -> None:
    """Baseline (a): StaticFiles under uvicorn configured as the gateway is."""
    import uvicorn  # noqa: PLC0415
    from starlette.applications import Starlette  # noqa: PLC0415
    from starlette.routing import Mount  # noqa: PLC0415
    from starlette.staticfiles import StaticFiles  # noqa: PLC0415

    app = Starlette(routes=[Mount("/", StaticFiles(directory=directory))])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(argv: list[str], env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    process = spawn(argv, log_file=log, env={**os.environ, **env}, cwd=REPO)
    wait_for_port(port, timeout_s=30, process=process)
    return process


async def wait_published(base: str, paths: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            response = await client.get("/manifest")
            if response.status_code == 200 and set(paths) <= set(response.json()["files"]):
                return
            await asyncio.sleep(0.1)
    raise SystemExit("assetmgr did not publish the bench files within 30 s")


async def run(load: Load, work: Path) -> None:
    assets = work / "assets" / "bench"
    assets.mkdir(parents=True)
    etags = {}
    for label, size in SIZES.items():
        data = os.urandom(size)
        (assets / f"{size}.bin").write_bytes(data)
        etags[label] = hashlib.sha256(data).hexdigest()
    passwords = {user: secrets.token_urlsafe(16) for user in VALKEY_USERS}
    write_private(work / "users.acl", render_valkey_acl(passwords, DEFAULT_PREFIX))
    valkey = ValkeyServer(free_port(), work / "valkey", work / "users.acl")
    valkey.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        ports = {name: free_port() for name in ("assetmgr", "gateway", "static", "http.server")}
        common = {"KEYFORGE_LISTEN_HOST": "127.0.0.1", "KEYFORGE_LOG_LEVEL": "warning"}

        def url(user: str) -> str:
            return valkey.url(user, passwords[user])

        manager_env = {
            **common,
            "KEYFORGE_VALKEY_URL": url("assetmgr"),
            "KEYFORGE_ASSETS_DIR": str(work / "assets"),
            "KEYFORGE_LISTEN_PORT": str(ports["assetmgr"]),
        }
        gateway_env = {
            **common,
            "KEYFORGE_VALKEY_URL": url("assets"),
            "KEYFORGE_LISTEN_PORT": str(ports["gateway"]),
        }
        py = sys.executable
        processes.append(
            start(
                [py, "-m", "keyforge_assetmgr"],
                manager_env,
                work / "assetmgr.log",
                ports["assetmgr"],
            )
        )
        processes.append(
            start(
                [py, "-m", "keyforge_assets"], gateway_env, work / "gateway.log", ports["gateway"]
            )
        )
        processes.append(
            start(
                [
                    py,
                    "-m",
                    "bench.assets",
                    "--serve-static",
                    str(work / "assets"),
                    "--port",
                    str(ports["static"]),
                ],
                {},
                work / "static.log",
                ports["static"],
            )
        )
        processes.append(
            start(
                [
                    py,
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    "--directory",
                    str(work / "assets"),
                    str(ports["http.server"]),
                ],
                {},
                work / "http.server.log",
                ports["http.server"],
            )
        )
        await wait_published(
            f"http://127.0.0.1:{ports['gateway']}", [f"bench/{s}.bin" for s in SIZES.values()]
        )
        print(
            f"load: {load.tool}, {load.seconds:.0f} s per row, {load.connections} keep-alive"
            " connections; every server is one process"
        )
        print(f"{'size':>7}  {'server':<22} {'req/s':>9} {'MB/s':>8}  gateway/this")
        for label, size in SIZES.items():
            rows = {
                "gateway": (ports["gateway"], f"/data/bench/{size}.bin"),
                "StaticFiles (uvicorn)": (ports["static"], f"/bench/{size}.bin"),
                "http.server": (ports["http.server"], f"/bench/{size}.bin"),
            }
            results = {}
            for name, (port, path) in rows.items():
                warm_up = Load("python", 0.3, load.connections)
                await measure(warm_up, port, path)  # fills caches, opens files once
                results[name] = await measure(load, port, path)
            gateway_rate = results["gateway"][0]
            for name, (rate, mbps, tally) in results.items():
                assert set(tally.statuses) == {200}, (name, tally.statuses)
                ratio = "" if name == "gateway" else f"{gateway_rate / rate:10.2f}x"
                print(f"{label:>7}  {name:<22} {rate:9.0f} {mbps:8.1f}  {ratio}")
        etag = f'If-None-Match: "{etags["64 KiB"]}"\r\n'
        rate, _, tally = await measure(load, ports["gateway"], "/data/bench/65536.bin", etag)
        assert set(tally.statuses) == {304}, tally.statuses
        print(f"{'304':>7}  {'gateway If-None-Match':<22} {rate:9.0f}")
    finally:
        for process in reversed(processes):
            stop_process(process, grace_s=10)
        valkey.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--load",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when installed (auto), else this process's asyncio loop",
    )
    parser.add_argument("--serve-static", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_static is not None:
        serve_static(args.serve_static, args.port)
        return
    if not 0 < args.seconds <= 60 or not 0 < args.connections <= 256:
        raise SystemExit("--seconds must be in (0, 60], --connections in (0, 256]")
    with tempfile.TemporaryDirectory(prefix="kf-bench-") as work:
        started = time.perf_counter()
        tool = args.load if args.load != "auto" else ("wrk" if shutil.which("wrk") else "python")
        asyncio.run(run(Load(tool, args.seconds, args.connections), Path(work)))
        print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
