"""Write the dev overlay's secret files: fresh random passwords that agree
across the services, and a dev CA with one certificate for the three hosts.

    .venv/bin/python infra/k8s/dev_secrets.py [--dir D] [--domain keyforge.localhost]

A file that exists is kept: the in-cluster Postgres and Valkey were set up
with the passwords in it. Delete the directory (and the trial's Postgres
volume) to start over.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
from pathlib import Path

from keyforge_devstack.tls import ensure_dev_tls

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "overlays" / "dev" / "secrets"


def _token() -> str:
    return secrets.token_urlsafe(32)


def secret_files() -> dict[str, dict[str, str]]:
    """File name -> its variables; each password appears in every file that needs it."""
    owner, app = _token(), _token()
    valkey = {user: _token() for user in ("admin", "hive", "assets", "assetmgr")}
    postgres = "postgres:5432/keyforge"

    def valkey_url(user: str) -> str:
        return f"redis://{user}:{valkey[user]}@valkey:6379/0"

    return {
        "hive.env": {
            "HIVE_SECRET": _token(),
            "HIVE_ADMIN_SECRET": _token(),
            "DATABASE_URL": f"postgresql://keyforge_app:{app}@{postgres}",
            "KEYFORGE_MIGRATION_DATABASE_URL": f"postgresql://keyforge:{owner}@{postgres}",
            "KEYFORGE_VALKEY_URL": valkey_url("hive"),
            "KEYFORGE_SECRETS_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        },
        "assets.env": {"KEYFORGE_VALKEY_URL": valkey_url("assets")},
        "assetmgr.env": {"KEYFORGE_VALKEY_URL": valkey_url("assetmgr")},
        "valkey.env": {f"VALKEY_{user.upper()}_PASSWORD": pw for user, pw in valkey.items()},
        "postgres.env": {"POSTGRES_PASSWORD": owner, "KEYFORGE_APP_PASSWORD": app},
    }


def write(directory: Path, domain: str) -> list[Path]:
    """The files written now (existing ones are left alone)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    files = secret_files()
    present = [name for name in files if (directory / name).exists()]
    if present and len(present) < len(files):
        raise SystemExit(f"{directory} holds only {', '.join(present)}: remove them or complete it")
    if not present:
        for name, variables in files.items():
            path = directory / name
            text = "".join(f"{key}={value}\n" for key, value in variables.items())
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(text)
            written.append(path)
    ensure_dev_tls(directory / "tls", domain)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--domain", default="keyforge.localhost")
    args = parser.parse_args()
    written = write(args.dir, args.domain)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print(f"kept the secret files in {args.dir}")


if __name__ == "__main__":
    main()
