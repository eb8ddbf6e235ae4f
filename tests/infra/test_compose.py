"""compose.yaml checked without a Docker engine: schema, files, health, users, secrets, env."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jsonschema
import pytest

from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assets.config import AssetsSettings
from keyforge_devstack.embedded import REPO_ROOT
from keyforge_hive.config import HiveSettings
from keyforge_shared.settings import ServiceSettings
from tests.infra.containers import (
    SCHEMA_FILE,
    load_compose,
    parse_dockerfile,
    variables,
)

SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
# CONTRACT.md, "Environment".
CONTRACT_ENV = {
    "HIVE_SECRET",
    "HIVE_SECRET_PREVIOUS",
    "HIVE_ADMIN_SECRET",
    "HIVE_ADMIN_SECRET_PREVIOUS",
    "DATABASE_URL",
    "KEYFORGE_VALKEY_URL",
    "KEYFORGE_DOMAIN",
    "KEYFORGE_ASSETS_DIR",
    "KEYFORGE_SECRETS_KEY",
    "KEYFORGE_ENV",
}
SETTINGS: dict[str, type[ServiceSettings]] = {
    "hive": HiveSettings,
    "assets": AssetsSettings,
    "assetmgr": AssetMgrSettings,
}
REQUIRED_ENV = {
    "hive": {"HIVE_SECRET", "HIVE_ADMIN_SECRET", "DATABASE_URL", "KEYFORGE_VALKEY_URL"},
    "assets": {"KEYFORGE_VALKEY_URL"},
    "assetmgr": {"KEYFORGE_VALKEY_URL", "KEYFORGE_ASSETS_DIR"},
}
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|_KEY)(_PREVIOUS)?$")
CREDENTIAL_IN_URL = re.compile(r"://[^:/@]+:(?P<password>[^@]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def kind(name: str, service: dict[str, Any]) -> str:
    """hive, assets, assetmgr, web, or the third-party service's own name."""
    build = service.get("build")
    if isinstance(build, dict):
        return str(build.get("target") or "web")
    return name


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping, one name per key"
    return {str(k): str(v) for k, v in env.items()}


def test_the_schema_is_the_vendored_release() -> None:
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []
    # The schema has teeth: a misspelt key or condition does not pass.
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["depends_on"]["assets"]["condition"] = "service_ready"
    broken["services"]["web"]["helthcheck"] = {}
    assert len(list(validator.iter_errors(broken))) == 2


def test_every_build_context_dockerfile_target_and_mount_exists(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        build = service.get("build")
        if build is not None:
            context = REPO_ROOT / build["context"]
            assert context.is_dir(), name
            dockerfile = context / build["dockerfile"]
            assert dockerfile.is_file(), name
            if "target" in build:
                stages = {s.name for s in parse_dockerfile(dockerfile).stages}
                assert build["target"] in stages, name
        else:
            assert ":" in service["image"], f"{name}: pin a tag"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
            elif not source.startswith("$"):
                assert source in compose.get("volumes", {}), f"{name}: {source}"


def test_every_service_is_healthchecked_and_waits_for_healthy_dependencies(
    compose: dict[str, Any],
) -> None:
    every = services(compose)
    for name, service in every.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable")
        assert check["test"][0] in ("CMD", "CMD-SHELL")
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: long-form depends_on"
        for dependency, how in depends.items():
            assert dependency in every, f"{name} depends on unknown {dependency}"
            assert how["condition"] == "service_healthy", f"{name} -> {dependency}"
    # Everything our services need is up and healthy before they start.
    assert set(every["web"]["depends_on"]) == {"hive-1", "hive-2", "assets"}
    for name, service in every.items():
        if kind(name, service) == "hive":
            assert {"postgres", "valkey"} <= _all_dependencies(every, name)


def _all_dependencies(every: dict[str, dict[str, Any]], name: str) -> set[str]:
    found: set[str] = set()
    pending = [name]
    while pending:
        for dependency in every[pending.pop()].get("depends_on", {}):
            if dependency not in found:
                found.add(dependency)
                pending.append(dependency)
    return found


def test_no_service_runs_as_root(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        assert not service.get("privileged"), name
        user = str(service.get("user", ""))
        if "build" in service:
            assert not user, f"{name}: the image's own non-root USER applies"
            continue  # its Dockerfile's USER is checked in test_dockerfiles
        assert user, f"{name}: a third-party image runs as its unprivileged user"
        assert user.split(":", maxsplit=1)[0] not in ("root", "0"), name


def test_secrets_come_from_the_environment_and_are_required(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            found = variables(value)
            if SECRET_NAME.search(key):
                assert len(found) == 1, f"{name}.{key} must be exactly one ${{VAR}}"
                assert value == value.strip()
                required = ":-" if key.endswith("_PREVIOUS") else ":?"
                assert found[0][1] == required, f"{name}.{key} must be ${{{found[0][0]}{required}}}"
            credential = CREDENTIAL_IN_URL.search(value)
            if credential:
                assert variables(credential["password"])[0][1] == ":?", f"{name}.{key}"
    # A password typed into the file would show up as a literal here.
    raw = (REPO_ROOT / "compose.yaml").read_text()
    assert not re.search(
        r"(?i)(secret|password|_key)\s*:\s*['\"]?[A-Za-z0-9+/=_-]{12,}\s*$", raw, re.M
    )


def _aliases(settings: type[ServiceSettings]) -> set[str]:
    fields = settings.model_fields.values()
    return {f.validation_alias for f in fields if isinstance(f.validation_alias, str)}


def test_env_names_are_the_contracts_and_each_is_read(compose: dict[str, Any]) -> None:
    web_sources = (
        "".join(p.read_text() for p in [*(REPO_ROOT / "infra" / "apache").glob("*.conf")])
        + (REPO_ROOT / "docker" / "web" / "entrypoint.sh").read_text()
    )
    valkey_script = (REPO_ROOT / "docker" / "valkey" / "start.sh").read_text()
    users = set()
    for name, service in services(compose).items():
        env = environment(service)
        role = kind(name, service)
        if role in SETTINGS:
            known = CONTRACT_ENV | _aliases(SETTINGS[role])
            assert set(env) <= known, f"{name}: {set(env) - known} are read by nothing"
            assert REQUIRED_ENV[role] <= set(env), name
            assert env["KEYFORGE_ENV"] == "prod", name
            user = re.match(r"redis://(\w+):", env["KEYFORGE_VALKEY_URL"])
            assert user is not None
            assert user[1] == role, f"{name} connects to Valkey as its own ACL user"
            users.add(user[1])
        elif role == "web":
            for key in env:
                assert f"${{{key}}}" in web_sources or f"${key}" in web_sources, key
        elif role == "valkey":
            for key in env:
                assert key in valkey_script, key
    assert users == {"hive", "assets", "assetmgr"}


def test_web_fronts_every_hive_and_alone_publishes_ports(compose: dict[str, Any]) -> None:
    every = services(compose)
    hives = sorted(n for n, s in every.items() if kind(n, s) == "hive")
    assert len(hives) >= 2, "one hive can not be restarted without an outage"
    upstreams = environment(every["web"])["KEYFORGE_HIVE_UPSTREAMS"].split()
    assert upstreams == [f"http://{h}:3000" for h in hives]
    assert [n for n, s in every.items() if s.get("ports")] == ["web"]
    web_address = every["web"]["networks"]["backend"]["ipv4_address"]
    for name, service in every.items():
        trusted = environment(service).get("KEYFORGE_TRUSTED_PROXIES")
        if trusted is not None:
            assert trusted == web_address, f"{name} trusts X-Forwarded-* from the proxy only"


def test_the_env_example_names_every_variable_compose_reads() -> None:
    raw = (REPO_ROOT / "compose.yaml").read_text()
    used = {name for name, _ in variables(raw)}
    example = (REPO_ROOT / "docker" / "compose.env.example").read_text()
    listed = {
        line.split("=", 1)[0] for line in example.splitlines() if line and not line.startswith("#")
    }
    assert used == listed
