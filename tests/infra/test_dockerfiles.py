"""The Dockerfiles checked without a Docker engine: bases, users, entrypoints, copied files."""

from __future__ import annotations

import json
import re

import pytest

from keyforge_devstack.embedded import REPO_ROOT
from tests.infra.containers import Dockerfile, copy_sources, env_names, parse_dockerfile

SERVICES = parse_dockerfile(REPO_ROOT / "docker" / "services.Dockerfile")
WEB = parse_dockerfile(REPO_ROOT / "docker" / "web.Dockerfile")
TARGETS = ("hive", "assets", "assetmgr")


def effective_user(dockerfile: Dockerfile, target: str) -> str:
    """The USER a target runs as: the last one set along its FROM chain."""
    for stage in dockerfile.chain(target):
        users = stage.all("USER")
        if users:
            return users[-1]
    return "root"


def exec_form(instruction: str) -> list[str]:
    """An ENTRYPOINT/CMD in exec (JSON) form: no shell is there to run anything else."""
    words = json.loads(instruction)
    assert isinstance(words, list)
    return [str(w) for w in words]


@pytest.mark.parametrize("target", TARGETS)
def test_python_images_are_distroless_non_root_and_shell_free(target: str) -> None:
    chain = SERVICES.chain(target)
    base = SERVICES.resolve(chain[-1].base)
    assert base.startswith("gcr.io/distroless/python3-debian12"), base
    assert effective_user(SERVICES, target).split(":", maxsplit=1)[0] not in ("root", "0")
    for stage in chain:
        assert not stage.all("RUN"), f"{target}: a distroless image has no shell to RUN"
    (entrypoint,) = chain[0].all("ENTRYPOINT")
    assert exec_form(entrypoint) == ["/usr/bin/python3", "-m", f"keyforge_{target}"]
    (healthcheck,) = chain[0].all("HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1]
    assert exec_form(command)[0] == "/usr/bin/python3"


def test_python_images_are_built_on_the_runtime_python() -> None:
    # distroless python3-debian12 ships Debian 12's Python 3.11: the build
    # stage must match it, or compiled wheels would not load.
    build = SERVICES.resolve(SERVICES.stage("build").base)
    assert re.fullmatch(r"python:3\.11-slim-bookworm", build), build
    assert SERVICES.chain("runtime")[-1].all("USER") == ["65532:65532"]


def test_web_image_is_httpd_alpine_run_as_www_data() -> None:
    assert re.fullmatch(r"httpd:2\.4-alpine", WEB.stages[-1].base)
    # One stage: httpd runs as www-data from its start, never as root.
    assert WEB.stages[-1].all("USER") == ["www-data"]
    (entrypoint,) = WEB.stages[-1].all("ENTRYPOINT")
    assert exec_form(entrypoint) == ["/usr/local/bin/keyforge-web"]
    config = "".join(p.read_text() for p in (REPO_ROOT / "infra" / "apache").glob("*.conf"))
    script = (REPO_ROOT / "docker" / "web" / "entrypoint.sh").read_text()
    for args in WEB.stages[-1].all("ENV"):
        for name in env_names(args):
            assert f"${{{name}}}" in config + script or f"${name}" in script, name


@pytest.mark.parametrize("dockerfile", [SERVICES, WEB], ids=["services", "web"])
def test_every_copied_file_exists_in_the_build_context(dockerfile: Dockerfile) -> None:
    copied = [
        src for stage in dockerfile.stages for a in stage.all("COPY") for src in copy_sources(a)
    ]
    assert copied
    for source in copied:
        assert (REPO_ROOT / source).exists(), source


def test_local_state_stays_out_of_the_build_context() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".keyforge"} <= set(ignored)
