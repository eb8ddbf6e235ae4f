"""Dev-mode credentials, generated once into the data dir and reused on every start.

Reusing them keeps a restarted stack compatible with its own Postgres cluster
and with nodes that already read ``secrets/hive``. Files are 0600; their values
appear nowhere else but in ``stack.json`` (also 0600).
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from keyforge_devstack.embedded import VALKEY_USERS
from keyforge_shared.private_files import write_private


def _read_or_create(path: Path, make: str) -> str:
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    write_private(path, make + "\n")
    path.parent.chmod(0o700)
    return make


def _token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Credentials:
    hive_secret: str
    admin_secret: str
    postgres_password: str  # the owner role's (keyforge)
    postgres_app_password: str  # the application role's (keyforge_app), what hives use
    secrets_key: str
    valkey_passwords: dict[str, str]
    secrets_dir: Path

    @property
    def hive_secret_file(self) -> Path:
        return self.secrets_dir / "hive"

    @property
    def admin_secret_file(self) -> Path:
        return self.secrets_dir / "admin"


SecretRole = Literal["hive", "admin"]


def new_secret() -> str:
    return _token()


def store_secret(creds: Credentials, role: SecretRole, value: str) -> Credentials:
    """Write a rotated secret to its file (atomically) and return credentials holding it.

    Nodes re-read this file when the hive answers 401, so it changes only once
    every hive accepts the new value.
    """
    write_private(creds.secrets_dir / role, value + "\n")
    if role == "hive":
        return dataclasses.replace(creds, hive_secret=value)
    return dataclasses.replace(creds, admin_secret=value)


def load_credentials(data_dir: Path) -> Credentials:
    secrets_dir = data_dir / "secrets"
    return Credentials(
        hive_secret=_read_or_create(secrets_dir / "hive", _token()),
        admin_secret=_read_or_create(secrets_dir / "admin", _token()),
        postgres_password=_read_or_create(secrets_dir / "postgres", _token()),
        postgres_app_password=_read_or_create(secrets_dir / "postgres-app", _token()),
        secrets_key=_read_or_create(
            secrets_dir / "secrets-key", base64.b64encode(secrets.token_bytes(32)).decode()
        ),
        valkey_passwords={
            user: _read_or_create(secrets_dir / f"valkey-{user}", _token()) for user in VALKEY_USERS
        },
        secrets_dir=secrets_dir,
    )
