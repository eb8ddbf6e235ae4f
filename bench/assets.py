"""Asset gateway throughput next to bare static-file servers serving the same bytes from disk.

    .venv/bin/python -m bench.assets [--seconds 3] [--connections 16] [--load auto|wrk|python]

The baselines: (a) Apache httpd (mpm_event, a minimal static-only
configuration) when it is installed, the target's reference; (b) Starlette's
``StaticFiles`` under the same uvicorn set-up as the gateway (one process,
httptools, uvloop), reading the files from disk on every request; (c)
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
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from bench.asset_load import Load, measure
from keyforge_devstack.apache import find_apache, modules_dir
from keyforge_devstack.embedded import VALKEY_USERS, ValkeyServer, render_valkey_acl
from keyforge_shared.keys import DEFAULT_PREFIX
from keyforge_shared.private_files import write_private
from keyforge_shared.processes import free_port, spawn, stop_process, wait_for_port

REPO = Path(__file__).resolve().parents[1]
SIZES = {"64 KiB": 64 * 1024, "1 MiB": 1024 * 1024}


def static_app() -> Starlette:
    """Baseline (a), one per worker: StaticFiles over the directory named in the environment."""
    directory = os.environ["KF_BENCH_STATIC_DIR"]
    return Starlette(routes=[Mount("/", StaticFiles(directory=directory))])


def serve_static(directory: Path, port: int, workers: int) -> None:
    """Baseline (a) under uvicorn configured as the gateway is (``keyforge_shared.serve``)."""
    os.environ["KF_BENCH_STATIC_DIR"] = str(directory)
    uvicorn.run(
        "bench.assets:static_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


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


def start_servers(
    work: Path, valkey_urls: dict[str, str], workers: int
) -> tuple[dict[str, int], list[subprocess.Popen[bytes]]]:
    """assetmgr, the gateway and both baselines, each on a free loopback port."""
    ports = {name: free_port() for name in ("assetmgr", "gateway", "static", "http.server")}
    common = {"KEYFORGE_LISTEN_HOST": "127.0.0.1", "KEYFORGE_LOG_LEVEL": "warning"}
    assets = str(work / "assets")
    py = sys.executable
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "assetmgr": (
            [py, "-m", "keyforge_assetmgr"],
            {
                **common,
                "KEYFORGE_VALKEY_URL": valkey_urls["assetmgr"],
                "KEYFORGE_ASSETS_DIR": assets,
                "KEYFORGE_LISTEN_PORT": str(ports["assetmgr"]),
            },
        ),
        "gateway": (
            [py, "-m", "keyforge_assets"],
            {
                **common,
                "KEYFORGE_VALKEY_URL": valkey_urls["assets"],
                "KEYFORGE_LISTEN_PORT": str(ports["gateway"]),
                "KEYFORGE_WORKERS": str(workers),
            },
        ),
        "static": (
            [
                py,
                "-m",
                "bench.assets",
                "--serve-static",
                assets,
                "--port",
                str(ports["static"]),
                "--workers",
                str(workers),
            ],
            {},
        ),
        "http.server": (
            [
                py,
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
                assets,
                str(ports["http.server"]),
            ],
            {},
        ),
    }
    processes = []
    try:
        for name, (argv, env) in commands.items():
            processes.append(start(argv, env, work / f"{name}.log", ports[name]))
    except BaseException:
        for process in reversed(processes):
            stop_process(process, grace_s=10)
        raise
    return ports, processes


APACHE_CONF = """
ServerName bench.localhost
ServerRoot {work}
Listen 127.0.0.1:{port}
PidFile {work}/apache.pid
ErrorLog {work}/apache-error.log
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule mime_module {modules}/mod_mime.so
TypesConfig /dev/null
{user}
KeepAlive On
MaxKeepAliveRequests 0
EnableSendfile On
DocumentRoot {root}
<Directory {root}>
    Require all granted
</Directory>
"""


def start_apache(work: Path, root: Path, port: int) -> subprocess.Popen[bytes] | None:
    """Apache serving ``root`` as plain static files, or None where it is not installed."""
    binary = find_apache()
    if binary is None:
        return None
    # Under root its workers run as www-data, which must reach the files.
    for path in (work, root.parent, root, *root.iterdir()):
        path.chmod(path.stat().st_mode | 0o055)
    user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    conf = work / "apache.conf"
    conf.write_text(
        APACHE_CONF.format(work=work, port=port, modules=modules_dir(), user=user, root=root.parent)
    )
    return start([str(binary), "-f", str(conf), "-DFOREGROUND"], {}, work / "apache.log", port)


async def compare(load: Load, ports: dict[str, int], etag_64k: str) -> None:
    print(f"{'size':>7}  {'server':<22} {'req/s':>9} {'MB/s':>8}  gateway/this")
    for label, size in SIZES.items():
        rows = {
            "gateway": (ports["gateway"], f"/data/bench/{size}.bin"),
            **(
                {"Apache httpd": (ports["apache"], f"/bench/{size}.bin")}
                if "apache" in ports
                else {}
            ),
            "StaticFiles (uvicorn)": (ports["static"], f"/bench/{size}.bin"),
            "http.server": (ports["http.server"], f"/bench/{size}.bin"),
        }
        results = {}
        for name, (port, path) in rows.items():
            await measure(Load("python", 0.3, load.connections), port, path)  # warm up
            results[name] = await measure(load, port, path)
        gateway_rate = results["gateway"][0]
        for name, (rate, mbps, tally) in results.items():
            assert set(tally.statuses) == {200}, (name, tally.statuses)
            ratio = "" if name == "gateway" else f"{gateway_rate / rate:10.2f}x"
            print(f"{label:>7}  {name:<22} {rate:9.0f} {mbps:8.1f}  {ratio}")
    header = f'If-None-Match: "{etag_64k}"\r\n'
    rate, _, tally = await measure(load, ports["gateway"], "/data/bench/65536.bin", header)
    assert set(tally.statuses) == {304}, tally.statuses
    print(f"{'304':>7}  {'gateway If-None-Match':<22} {rate:9.0f}")


async def run(load: Load, work: Path, workers: int) -> None:
    assets = work / "assets" / "bench"
    assets.mkdir(parents=True)
    etags = {}
    for size in SIZES.values():
        data = os.urandom(size)
        (assets / f"{size}.bin").write_bytes(data)
        etags[size] = hashlib.sha256(data).hexdigest()
    passwords = {user: secrets.token_urlsafe(16) for user in VALKEY_USERS}
    write_private(work / "users.acl", render_valkey_acl(passwords, DEFAULT_PREFIX))
    valkey = ValkeyServer(free_port(), work / "valkey", work / "users.acl")
    valkey.start()
    try:
        urls = {user: valkey.url(user, pw) for user, pw in passwords.items()}
        ports, processes = start_servers(work, urls, workers)
        apache_port = free_port()
        apache = start_apache(work, assets, apache_port)
        if apache is not None:
            ports["apache"] = apache_port
            processes.append(apache)
        else:
            print("Apache httpd is not installed: compared with the Python static servers only")
        try:
            await wait_published(
                f"http://127.0.0.1:{ports['gateway']}", [f"bench/{s}.bin" for s in SIZES.values()]
            )
            print(
                f"load: {load.tool}, {load.seconds:.0f} s per row, {load.connections} keep-alive"
                f" connections; gateway and StaticFiles with {workers} uvicorn worker(s)"
            )
            await compare(load, ports, etags[64 * 1024])
        finally:
            for process in reversed(processes):
                stop_process(process, grace_s=10)
    finally:
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
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers for the gateway and StaticFiles"
    )
    args = parser.parse_args()
    if args.serve_static is not None:
        serve_static(args.serve_static, args.port, args.workers)
        return
    if not 0 < args.seconds <= 60 or not 0 < args.connections <= 256 or not 0 < args.workers <= 8:
        raise SystemExit("--seconds in (0, 60], --connections in (0, 256], --workers in (0, 8]")
    with tempfile.TemporaryDirectory(prefix="kf-bench-") as work:
        started = time.perf_counter()
        tool = args.load if args.load != "auto" else ("wrk" if shutil.which("wrk") else "python")
        asyncio.run(run(Load(tool, args.seconds, args.connections), Path(work), args.workers))
        print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
