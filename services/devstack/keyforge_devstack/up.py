"""``keyforge up`` and ``keyforge down``: the whole fleet on this machine."""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any

from keyforge_devstack import control, rotate
from keyforge_devstack.apache import find_apache
from keyforge_devstack.backup_schedule import DailyBackup
from keyforge_devstack.credentials import load_credentials
from keyforge_devstack.demo import Demo
from keyforge_devstack.embedded import REPO_ROOT
from keyforge_devstack.fleet import Fleet
from keyforge_devstack.ports import plan_ports
from keyforge_shared.client.stackfile import (
    read_stack,
    remove_stack,
    running_supervisor,
    write_stack,
)
from keyforge_shared.processes import pid_alive, spawn, stop_pid

log = logging.getLogger("keyforge")

DEFAULT_DOMAIN = "keyforge.localhost"
# Start-up plus, with --demo on a first start, compiling the node's kernels.
DETACH_TIMEOUT_S = 300.0
TICK_S = 0.5


def say(message: str) -> None:
    print(f"keyforge: {message}", flush=True)


def build_stack(fleet: Fleet, domain: str, control_socket: Path) -> dict[str, Any]:
    hives = [s.url for s in fleet.hives]
    assets = next(s.url for s in fleet.services if s.name == "assets")
    creds = fleet.creds
    users = ("hive", "assets", "assetmgr", "admin")
    apache: dict[str, Any] = {
        "running": False,
        "http_port": None,
        "https_port": None,
        "ca_cert": None,
    }
    urls: dict[str, str | None] = {"api": hives[0], "assets": assets, "web": None}
    if fleet.apache is not None and fleet.apache.process is not None:
        apache.update(
            running=True,
            http_port=fleet.apache.http_port,
            https_port=fleet.apache.https_port,
            ca_cert=str(fleet.apache.tls.ca_cert),
        )
        urls = {
            "api": fleet.apache.url("api"),
            "assets": fleet.apache.url("assets"),
            "web": fleet.apache.url(),
        }
    return {
        "domain": domain,
        "apache": apache,
        "hives": hives,
        "assets": assets,
        "valkey": {
            "url": fleet.valkey.url(),
            "users": {user: fleet.valkey_url(user) for user in users},
        },
        # dsn: the application role the hives serve with (DML only); owner_dsn:
        # the schema's owner, for migrations, backup and restore.
        "postgres": {"dsn": fleet.app_dsn(), "owner_dsn": fleet.postgres.dsn()},
        "urls": urls,
        "secrets": {"hive": creds.hive_secret, "admin": creds.admin_secret},
        "secret_files": {
            "hive": str(creds.hive_secret_file),
            "admin": str(creds.admin_secret_file),
        },
        "assets_dir": str(fleet.assets_dir),
        "data_dir": str(fleet.data_dir),
        "supervisor_pid": os.getpid(),
        "control_socket": str(control_socket),
        "pids": fleet.pids(),
    }


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """Held for the supervisor's lifetime: one fleet per data dir."""
    handle = (data_dir / "up.lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SystemExit(
            f"keyforge: a fleet already runs from {data_dir}; `keyforge down` first"
        ) from None
    return handle


def run_up(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.detach:
        return _detach(args, data_dir)
    lock = _lock_data_dir(data_dir)
    remove_stack(data_dir)  # left behind by a supervisor that was killed
    fleet = _plan_fleet(args, data_dir)
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    # Bound before anything starts: a socket that cannot be made stops nothing.
    server = control.ControlServer(control.socket_path(data_dir))
    demo = Demo(fleet, data_dir) if args.demo else None
    if demo is not None:
        demo.start_warming(Path(args.assets_dir).resolve())
    try:
        fleet.start()
    except Exception as exc:
        server.close()
        if demo is not None:
            demo.stop()
        say(f"the fleet did not come up: {exc}")
        return 1
    backups = DailyBackup(fleet.postgres.dsn(), data_dir / "backups") if args.daily_backup else None

    def publish() -> None:
        write_stack(data_dir, build_stack(fleet, args.domain, server.path))

    handlers = {"rotate_secret": rotate.control_handler(fleet, publish=publish)}
    try:
        # The fleet is reported up (the stack file) once the demo can search at once.
        while demo is not None and not demo.warmed() and not stopping:
            fleet.tend()
            server.serve_once(TICK_S, handlers)
        publish()
        _print_urls(fleet, data_dir)
        while not stopping:
            if fleet.tend() or (demo is not None and demo.tick()):
                publish()
            if backups is not None:
                backups.tick()
            server.serve_once(TICK_S, handlers)
    finally:
        say("stopping the fleet")
        server.close()
        if demo is not None:
            demo.stop()
        if backups is not None:
            backups.stop()
        fleet.stop()
        remove_stack(data_dir)
        lock.close()
    say("stopped")
    return 0


def _plan_fleet(args: argparse.Namespace, data_dir: Path) -> Fleet:
    apache = None if args.no_apache else find_apache()
    if apache is None and not args.no_apache:
        say("Apache httpd is not installed: no ingress; urls point straight at the services")
    plan = plan_ports(args.hives, apache=(args.http_port, args.https_port) if apache else None)
    for notice in plan.notices:
        say(notice)
    return Fleet(
        data_dir=data_dir,
        hives=args.hives,
        creds=load_credentials(data_dir),
        plan=plan,
        assets_dir=Path(args.assets_dir).resolve(),
        domain=args.domain,
        apache_binary=apache,
    )


def _print_urls(fleet: Fleet, data_dir: Path) -> None:
    say(f"the fleet is up (data dir {data_dir})")
    if fleet.apache is not None:
        for vhost in ("", "api", "assets"):
            print(f"  {vhost or 'web':<10} {fleet.apache.url(vhost)}", flush=True)
        print(f"  {'http':<10} http://127.0.0.1:{fleet.apache.http_port} (redirects)", flush=True)
        print(f"  {'ca cert':<10} {fleet.apache.tls.ca_cert}", flush=True)
    for service in fleet.services:
        print(f"  {service.name:<10} {service.url}", flush=True)
    print(f"  {'valkey':<10} {fleet.valkey.url()}", flush=True)
    print(f"  {'postgres':<10} 127.0.0.1:{fleet.postgres.port}", flush=True)
    print(f"  {'stack':<10} {data_dir / 'stack.json'}", flush=True)


def _detach(args: argparse.Namespace, data_dir: Path) -> int:
    """Run the supervisor in its own session; return once it reports the fleet up."""
    if running_supervisor(data_dir):
        raise SystemExit(f"keyforge: a fleet already runs from {data_dir}; `keyforge down` first")
    remove_stack(data_dir)
    log_file = data_dir / "logs" / "keyforge-up.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_bytes(b"")
    argv = [
        sys.executable,
        "-m",
        "keyforge_cli",
        "up",
        "--hives",
        str(args.hives),
        "--http-port",
        str(args.http_port),
        "--https-port",
        str(args.https_port),
        "--data-dir",
        str(data_dir),
        "--assets-dir",
        str(args.assets_dir),
        "--domain",
        args.domain,
        *(["--no-apache"] if args.no_apache else []),
        *(["--daily-backup"] if args.daily_backup else []),
        *(["--demo"] if args.demo else []),
    ]
    child = spawn(argv, log_file=log_file, die_with_parent=False, cwd=REPO_ROOT)
    deadline = time.monotonic() + DETACH_TIMEOUT_S
    while time.monotonic() < deadline:
        stack = read_stack(data_dir)
        if stack and stack.get("supervisor_pid") == child.pid:
            sys.stdout.write(log_file.read_text())
            say(f"running in the background (pid {child.pid}); stop with `keyforge down`")
            return 0
        if child.poll() is not None:
            sys.stdout.write(log_file.read_text())
            return child.returncode or 1
        time.sleep(0.2)
    stop_pid(child.pid, grace_s=30)
    sys.stdout.write(log_file.read_text())
    say(f"the fleet did not come up within {DETACH_TIMEOUT_S:.0f}s")
    return 1


def run_down(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    stack = read_stack(data_dir)
    if stack is None:
        say(f"no fleet runs from {data_dir}")
        return 0
    supervisor = stack.get("supervisor_pid")
    if isinstance(supervisor, int) and pid_alive(supervisor):
        say(f"stopping the fleet (pid {supervisor})")
        stop_pid(supervisor, grace_s=60)
    # Whatever outlived its supervisor (it was killed, not stopped) goes too.
    for name, pid in (stack.get("pids") or {}).items():
        if isinstance(pid, int) and pid_alive(pid):
            say(f"{name} (pid {pid}) outlived the supervisor; stopping it")
            stop_pid(pid, sig=signal.SIGINT if name == "postgres" else signal.SIGTERM)
    remove_stack(data_dir)
    say("stopped")
    return 0


def add_commands(sub: Any) -> None:
    up = sub.add_parser("up", help="start the whole fleet on this machine")
    up.add_argument("--hives", type=int, default=2, help="hive instances (default 2)")
    up.add_argument("--http-port", type=int, default=8080, help="Apache's HTTP port")
    up.add_argument("--https-port", type=int, default=8443, help="Apache's HTTPS port")
    up.add_argument(
        "--no-apache", action="store_true", help="no ingress even where Apache is installed"
    )
    up.add_argument("--data-dir", default=".keyforge", help="state and logs (default .keyforge)")
    up.add_argument("--assets-dir", default=str(REPO_ROOT / "data" / "system"))
    up.add_argument("--domain", default=DEFAULT_DOMAIN)
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument(
        "--daily-backup", action="store_true", help="pg_dump once a day into <data-dir>/backups"
    )
    up.add_argument(
        "--demo",
        action="store_true",
        help="also create a demo job and run one local worker node on it",
    )
    up.set_defaults(run=run_up)
    down = sub.add_parser("down", help="stop a fleet started with --detach")
    down.add_argument("--data-dir", default=".keyforge")
    down.set_defaults(run=run_down)
