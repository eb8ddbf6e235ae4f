from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHORT_SECRET = "tiny-Secret-7"


def start_hive(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HIVE_", "KEYFORGE_"))}
    return subprocess.run(
        [sys.executable, "-m", "keyforge_hive"],
        env={**clean, **env, "DATABASE_URL": "postgresql://x@127.0.0.1:1/none"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_refuses_to_start_without_a_secret_outside_dev() -> None:
    result = start_hive(HIVE_ADMIN_SECRET="a" * 32)
    assert result.returncode == 2
    assert "HIVE_SECRET" in result.stderr
    assert "unless KEYFORGE_ENV=dev" in result.stderr


@pytest.mark.parametrize("secret", [SHORT_SECRET, "changeme"])
def test_refuses_placeholder_secrets_without_echoing_them(secret: str) -> None:
    result = start_hive(HIVE_SECRET=secret, HIVE_ADMIN_SECRET="a" * 32)
    assert result.returncode == 2
    assert "HIVE_SECRET" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_dev_mode_starts_without_secrets_and_fails_only_on_the_database() -> None:
    result = start_hive(KEYFORGE_ENV="dev", KEYFORGE_CONNECT_ATTEMPTS="2")
    # Past configuration: it tried to migrate and could not reach Postgres.
    assert result.returncode == 1
    assert "schema migration failed" in result.stderr
