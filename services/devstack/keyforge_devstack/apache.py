"""The local stack's Apache httpd: the system's binary, our configuration, our files.

``infra/apache/httpd.conf`` is the same file the ``web`` container runs; here
it is pointed at the data dir through the environment (httpd expands
``${NAME}`` itself), with its own pid file, logs and runtime files there, on
unprivileged loopback ports. The hive upstreams are written to a members file
the configuration includes.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from keyforge_devstack.embedded import REPO_ROOT
from keyforge_devstack.tls import DevTls, ensure_dev_tls
from keyforge_shared.processes import spawn, stop_process, wait_for_port

APACHE_CONF_DIR = REPO_ROOT / "infra" / "apache"
WEB_ROOT = REPO_ROOT / "infra" / "web"
BINARY_NAMES = ("apache2", "httpd")
SBIN_DIRS = (Path("/usr/sbin"), Path("/usr/local/sbin"), Path("/usr/local/apache2/bin"))
MODULE_DIRS = (
    Path("/usr/lib/apache2/modules"),  # Debian, Ubuntu
    Path("/usr/lib64/httpd/modules"),  # Fedora, RHEL
    Path("/usr/lib/httpd/modules"),
    Path("/usr/lib/apache2"),  # Alpine
    Path("/usr/local/apache2/modules"),  # the httpd image, source builds
)
START_TIMEOUT_S = 20.0


def find_apache() -> Path | None:
    """The installed Apache httpd binary (``/usr/sbin`` is not on every user's PATH)."""
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
        for directory in SBIN_DIRS:
            if (directory / name).is_file() and os.access(directory / name, os.X_OK):
                return directory / name
    return None


def modules_dir() -> Path:
    for directory in MODULE_DIRS:
        if (directory / "mod_proxy_balancer.so").exists():
            return directory
    raise FileNotFoundError("Apache is installed but its modules (mod_proxy_balancer) are not")


def _run_as() -> tuple[str, str]:
    """Whom the worker processes run as: ourselves, or an unprivileged account under root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup"), ("nobody", "nobody")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
        except KeyError:
            continue
        return user, group
    raise RuntimeError("no unprivileged account (www-data or nobody) to run Apache's workers as")


def _world_readable(tree: Path) -> bool:
    """Every file of ``tree`` readable, and the way there passable, by any user."""
    if any(not d.stat().st_mode & stat.S_IXOTH for d in [tree, *tree.parents]):
        return False
    return all(p.stat().st_mode & stat.S_IROTH for p in [tree, *tree.rglob("*")])


def stage_served_files(conf_dir: Path, web_root: Path) -> tuple[Path, Path, Path | None]:
    """Where Apache's workers can read the configuration's files at request time.

    Under root the workers run as www-data: a checkout inside a private
    directory (a CI workspace made by ``mktemp -d``) would answer 403 for the
    front end and the error bodies. Then both trees are copied to a
    world-readable directory of their own (returned third, to be removed).
    """
    if os.geteuid() != 0 or (_world_readable(conf_dir) and _world_readable(web_root)):
        return conf_dir, web_root, None
    stage = Path(tempfile.mkdtemp(prefix="keyforge-httpd-"))
    stage.chmod(0o755)
    shutil.copytree(conf_dir, stage / "apache")
    shutil.copytree(web_root, stage / "web")
    for path in stage.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return stage / "apache", stage / "web", stage


def member_lines(upstreams: list[str]) -> str:
    """The members file: one line per hive, its options defined in vhosts.conf."""
    lines = [
        f"BalancerMember {url} route=hive-{index} ${{KEYFORGE_HIVE_MEMBER_OPTIONS}}"
        for index, url in enumerate(upstreams)
    ]
    return "\n".join(lines) + "\n"


@dataclass
class ApacheServer:
    """One httpd with the fleet's configuration, run in the foreground as our child."""

    binary: Path
    domain: str
    http_port: int
    https_port: int
    tls_dir: Path
    hive_upstreams: list[str]
    assets_upstream: str
    admin_token: str
    run_dir: Path
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    conf_dir: Path = APACHE_CONF_DIR
    web_root: Path = WEB_ROOT
    staged: Path | None = None

    @cached_property
    def tls(self) -> DevTls:
        """The dev CA and server certificate, made or reused at the first use."""
        return ensure_dev_tls(self.tls_dir, self.domain)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def members_file(self) -> Path:
        return self.run_dir / "hive-members.conf"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "apache.log"

    def url(self, vhost: str = "") -> str:
        host = f"{vhost}.{self.domain}" if vhost else self.domain
        return f"https://{host}:{self.https_port}"

    def env(self) -> dict[str, str]:
        user, group = _run_as()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFORGE_")}
        env.update(
            KEYFORGE_DOMAIN=self.domain,
            KEYFORGE_APACHE_MODULES=str(modules_dir()),
            KEYFORGE_APACHE_CONF_DIR=str(self.conf_dir),
            KEYFORGE_APACHE_RUN_DIR=str(self.run_dir),
            KEYFORGE_APACHE_USER=user,
            KEYFORGE_APACHE_GROUP=group,
            KEYFORGE_APACHE_LISTEN="127.0.0.1",
            KEYFORGE_APACHE_HTTP_PORT=str(self.http_port),
            KEYFORGE_APACHE_HTTPS_PORT=str(self.https_port),
            KEYFORGE_PUBLIC_HTTPS_PORT=str(self.https_port),
            KEYFORGE_APACHE_ERROR_LOG=str(self.log_dir / "apache-error.log"),
            KEYFORGE_APACHE_ACCESS_LOG=str(self.log_dir / "apache-access.log"),
            KEYFORGE_APACHE_HIVE_MEMBERS=str(self.members_file),
            KEYFORGE_APACHE_ADMIN_TOKEN=self.admin_token,
            KEYFORGE_TLS_CERT_FILE=str(self.tls.cert),
            KEYFORGE_TLS_KEY_FILE=str(self.tls.key),
            KEYFORGE_WEB_ROOT=str(self.web_root),
            KEYFORGE_ASSETS_UPSTREAM=self.assets_upstream,
        )
        return env

    def argv(self) -> list[str]:
        return [
            str(self.binary),
            "-d",
            str(self.run_dir),
            "-f",
            str(self.conf_dir / "httpd.conf"),
            "-D",
            "FOREGROUND",
            "-D",
            "KEYFORGE_BALANCER_MANAGER",
        ]

    def check_config(self) -> None:
        """``httpd -t``: a configuration error is reported before anything starts."""
        self._prepare()
        result = subprocess.run(
            [*self.argv(), "-t"], env=self.env(), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"Apache rejected its configuration: {result.stderr.strip()}")

    def _prepare(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.members_file.write_text(member_lines(self.hive_upstreams))
        self._unstage()
        self.conf_dir, self.web_root, self.staged = stage_served_files(APACHE_CONF_DIR, WEB_ROOT)

    def _unstage(self) -> None:
        if self.staged is not None:
            shutil.rmtree(self.staged, ignore_errors=True)
            self.staged = None

    def start(self) -> None:
        self.check_config()
        self.process = spawn(self.argv(), env=self.env(), log_file=self.log_file)
        wait_for_port(self.https_port, timeout_s=START_TIMEOUT_S, process=self.process)
        wait_for_port(self.http_port, timeout_s=START_TIMEOUT_S, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            # SIGTERM: httpd stops its workers at once and exits (a graceful
            # stop would wait for every open /events stream).
            stop_process(self.process, sig=signal.SIGTERM, grace_s=10)
        self._unstage()
