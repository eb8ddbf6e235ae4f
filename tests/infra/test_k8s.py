"""infra/k8s checked without a cluster: every overlay rendered by kubectl's kustomize,
validated against the Kubernetes schemas, and held to compose.yaml and CONTRACT.md."""

from __future__ import annotations

import base64
import copy
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import kubernetes_validate
import pytest
from kubernetes_validate.utils import ValidationError

from keyforge_assetmgr.app import create_app as assetmgr_app
from keyforge_assetmgr.config import AssetMgrSettings
from keyforge_assets.app import create_app as assets_app
from keyforge_assets.config import AssetsSettings
from keyforge_devstack.embedded import REPO_ROOT
from keyforge_hive.app import create_app as hive_app
from keyforge_hive.config import HiveSettings
from keyforge_shared.serve import GRACEFUL_SHUTDOWN_S
from keyforge_shared.settings import ProxiedServiceSettings, ServiceSettings
from tests.infra.containers import load_compose, parse_dockerfile
from tests.infra.kube import (
    K8S_DIR,
    OVERLAYS,
    by_kind,
    containers,
    kubectl,
    main_container,
    pod_spec,
    reaches,
    render,
    selects,
    workloads,
    write_dev_secrets,
)
from tests.infra.test_compose import (
    CONTRACT_ENV,
    SECRET_NAME,
    SETTINGS,
    _aliases,
    environment,
    kind,
)

# The schemas the manifests are held to; the kubectl that renders them is the
# same release (pyproject pins both).
KUBERNETES_VERSION = "1.37"
OURS = ("hive", "assets", "assetmgr")
# How a rollout migrates (an init container with the owner role, the app with
# KEYFORGE_MIGRATE=off): names the hive reads that compose, which migrates in
# its first hive, may or may not set.
MIGRATION_ENV = {"KEYFORGE_MIGRATION_DATABASE_URL", "KEYFORGE_MIGRATE"}
STORES = {"postgres": 5432, "valkey": 6379}
STORE_USERS = {"postgres": {"hive"}, "valkey": {"hive", "assets", "assetmgr"}}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return {o: render(o, tmp_path_factory.mktemp(f"k8s-{o}")) for o in OVERLAYS}


@pytest.fixture(scope="module")
def compose() -> dict[str, dict[str, Any]]:
    """compose.yaml's services by kind (hive, assets, assetmgr, web, valkey, postgres)."""
    found: dict[str, dict[str, Any]] = {}
    for name, service in load_compose()["services"].items():
        found.setdefault(kind(name, service), service)
    return found


def env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def env_value(container: dict[str, Any], name: str) -> str:
    (entry,) = [e for e in container["env"] if e["name"] == name]
    return str(entry["value"])


def secret_data(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    data = by_kind(docs, "Secret")[name].get("data", {})
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def repository(image: str) -> str:
    return image.rsplit(":", 1)[0]


def test_kubectl_is_the_release_the_schemas_describe() -> None:
    version = kubectl("version", "--client", "-o", "yaml")
    assert re.search(rf"gitVersion: v{re.escape(KUBERNETES_VERSION)}\.\d+", version), version
    assert kubernetes_validate.utils.latest_version().startswith(KUBERNETES_VERSION)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_manifest_follows_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert {"Deployment", "Service", "Secret", "NetworkPolicy"} <= {d["kind"] for d in docs}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    # The schemas have teeth: a misspelt field or a wrong type does not pass.
    hive = copy.deepcopy(workloads(docs)["hive"])
    pod_spec(hive)["terminationGracePeriod"] = 30
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(hive, KUBERNETES_VERSION, strict=True)
    hive = copy.deepcopy(workloads(docs)["hive"])
    hive["spec"]["replicas"] = "two"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(hive, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_images_are_composes(
    rendered: dict[str, list[dict[str, Any]]], compose: dict[str, dict[str, Any]], overlay: str
) -> None:
    every = workloads(rendered[overlay])
    for name in (*OURS, "web"):
        wanted = compose[name]["image"]
        for container in containers(every[name]):
            image = container["image"]
            assert repository(image) == repository(wanted) or repository(image).endswith(
                "/" + repository(wanted)
            ), f"{overlay}/{name}: {image} is not {wanted}"
            # A release is pinned in prod; dev runs what compose builds.
            assert image.endswith(":latest") == (overlay == "dev"), f"{overlay}/{name}: {image}"
    for store in STORES:
        if overlay == "dev":
            assert main_container(every[store])["image"] == compose[store]["image"]
        else:
            assert store not in every, "prod uses the managed service"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_names_are_composes_and_each_is_read(
    rendered: dict[str, list[dict[str, Any]]], compose: dict[str, dict[str, Any]], overlay: str
) -> None:
    every = workloads(rendered[overlay])
    for name in OURS:
        app = main_container(every[name])
        known = CONTRACT_ENV | _aliases(SETTINGS[name]) | MIGRATION_ENV
        assert env_names(app) <= known, f"{name}: {env_names(app) - known} are read by nothing"
        assert env_names(app) - MIGRATION_ENV == set(environment(compose[name])) - MIGRATION_ENV
        assert env_value(app, "KEYFORGE_ENV") == "prod"
    web = main_container(every["web"])
    assert env_names(web) == set(environment(compose["web"]))
    if overlay == "dev":
        assert env_names(main_container(every["valkey"])) == set(environment(compose["valkey"]))
        assert set(environment(compose["postgres"])) <= env_names(main_container(every["postgres"]))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_hives_migrate_in_an_init_container_and_serve_as_the_application_role(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    hive = workloads(rendered[overlay])["hive"]
    app = main_container(hive)
    (migrate,) = pod_spec(hive)["initContainers"]
    assert migrate["image"] == app["image"]
    assert migrate["args"] == ["migrate"]
    assert "command" not in migrate, "the image's entrypoint is keyforge-hive"
    assert "KEYFORGE_MIGRATION_DATABASE_URL" in env_names(migrate)
    # It loads the same settings as the app, plus the owner role's URL.
    assert env_names(app) - {"KEYFORGE_MIGRATE"} <= env_names(migrate)
    assert "KEYFORGE_MIGRATION_DATABASE_URL" not in env_names(app)
    assert env_value(app, "KEYFORGE_MIGRATE") == "off"


def _probe(container: dict[str, Any], which: str) -> dict[str, Any]:
    probe: dict[str, Any] = container[f"{which}Probe"]
    return probe


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    (found,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(found)


def _compose_command(test: list[str]) -> list[str]:
    """A compose healthcheck as the exec command Kubernetes runs."""
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", test[1].replace("$$", "$")]
    return [t.replace("$$", "$") for t in test[1:]]


async def _answers(app: Any, path: str) -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        return (await client.get(path)).status_code


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_ports_and_probes_are_the_services_own(
    rendered: dict[str, list[dict[str, Any]]], compose: dict[str, dict[str, Any]], overlay: str
) -> None:
    docs = rendered[overlay]
    every, services = workloads(docs), by_kind(docs, "Service")
    apps = {
        "hive": hive_app(HiveSettings(env="dev")),
        "assets": assets_app(AssetsSettings(env="dev")),
        "assetmgr": assetmgr_app(AssetMgrSettings(env="dev")),
    }
    probes = {
        "hive": {"startup": "/livez", "readiness": "/readyz", "liveness": "/livez"},
        "assets": {"startup": "/livez", "readiness": "/readyz", "liveness": "/livez"},
        "assetmgr": {"startup": "/livez", "readiness": "/health", "liveness": "/livez"},
    }
    for name in OURS:
        port = SETTINGS[name].model_fields["listen_port"].default
        container = main_container(every[name])
        assert [p["containerPort"] for p in container["ports"]] == [port], name
        for which, path in probes[name].items():
            get = _probe(container, which)["httpGet"]
            assert (get["path"], _port_number(container, get["port"])) == (path, port), name
            # The path is served: the process probes answer 200 with no store
            # connected; /health (which checks the stores) at least exists.
            answer = await _answers(apps[name], path)
            assert answer == 200 if path != "/health" else answer != 404, (name, path, answer)
        assert await _answers(apps[name], "/no-such-probe") != 200
        check = compose[name]["healthcheck"]["test"]
        if name != "assetmgr":
            assert urlsplit(check[-1]).port == port, f"compose checks {name} on another port"
            service = services[name]["spec"]["ports"]
            assert [(p["port"], _port_number(container, p["targetPort"])) for p in service] == [
                (port, port)
            ]
    # The ingress reaches them through their Services, as compose's web does.
    web = main_container(every["web"])
    for variable, name in (
        ("KEYFORGE_HIVE_UPSTREAMS", "hive"),
        ("KEYFORGE_ASSETS_UPSTREAM", "assets"),
    ):
        (port,) = [p["port"] for p in services[name]["spec"]["ports"]]
        assert env_value(web, variable) == f"http://{name}:{port}"
    # compose publishes 80/443 -> 8080/8443; the web Service does the same.
    published = {tuple(map(int, p.split(":"))) for p in compose["web"]["ports"]}
    service = services["web"]["spec"]["ports"]
    assert {(p["port"], _port_number(web, p["targetPort"])) for p in service} == published
    # Probes that run inside a container are compose's own healthchecks.
    stores = ("valkey", "postgres") if overlay == "dev" else ()
    for name in ("web", *stores):
        command = _compose_command(compose[name]["healthcheck"]["test"])
        container = main_container(every[name])
        for which in ("readiness", "liveness"):
            assert _probe(container, which)["exec"]["command"] == command, (name, which)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_keep_capacity_and_let_a_stopping_pod_drain(
    rendered: dict[str, list[dict[str, Any]]], compose: dict[str, dict[str, Any]], overlay: str
) -> None:
    docs = rendered[overlay]
    every = workloads(docs)
    scalers = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in by_kind(docs, "HorizontalPodAutoscaler").values()
    }
    budgets = by_kind(docs, "PodDisruptionBudget").values()
    compose_grace = int(compose["hive"]["stop_grace_period"].removesuffix("s"))
    drain_s = ProxiedServiceSettings.model_fields["drain_s"].default
    for name in ("hive", "assets", "assetmgr", "web"):
        deployment = every[name]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["replicas"] >= 2, name
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        assert rolling["maxUnavailable"] == 0, name
        assert [b for b in budgets if selects(b["spec"]["selector"], labels)], f"{name}: no PDB"
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace >= compose_grace, name
        if name in ("hive", "assets"):
            scaler = scalers[name]
            assert scaler["spec"]["minReplicas"] >= 2
            (metric,) = scaler["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu"
            # Every scaled container asks for CPU, or the HPA has nothing to divide by.
            assert all("cpu" in c["resources"]["requests"] for c in containers(deployment))
            pause = main_container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
            assert grace > pause + drain_s + GRACEFUL_SHUTDOWN_S, name
    # One active asset manager at a time is its lock's business, not a scaler's.
    assert "assetmgr" not in scalers


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_referenced_secret_and_config_exists_and_each_service_has_its_own(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    secrets = {n: secret_data(docs, n) for n in by_kind(docs, "Secret")}
    configs = {n: d.get("data", {}) for n, d in by_kind(docs, "ConfigMap").items()}
    used_by: dict[str, set[str]] = {}
    for name, workload in workloads(docs).items():
        spec = pod_spec(workload)
        for container in containers(workload):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                for ref_kind, store in (("secretKeyRef", secrets), ("configMapKeyRef", configs)):
                    ref = source.get(ref_kind)
                    if ref is None:
                        continue
                    assert ref["name"] in store, f"{name}: no {ref['name']}"
                    if not ref.get("optional"):
                        assert ref["key"] in store[ref["name"]], f"{name}: {ref}"
                    if ref_kind == "secretKeyRef":
                        used_by.setdefault(ref["name"], set()).add(name)
                if SECRET_NAME.search(entry["name"]) or "URL" in entry["name"]:
                    assert "secretKeyRef" in source, f"{name}.{entry['name']} is not from a Secret"
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                items = volume["secret"].get("items", [])
                assert {i["key"] for i in items} <= set(secrets[volume["secret"]["secretName"]])
                used_by.setdefault(volume["secret"]["secretName"], set()).add(name)
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configs, name
    for name in OURS:
        assert used_by[f"keyforge-{name}"] == {name}, "one Secret per service, read by it alone"
        url = secrets[f"keyforge-{name}"]["KEYFORGE_VALKEY_URL"]
        assert urlsplit(url).username == name, f"{name} uses its own Valkey ACL user"
    assert used_by["keyforge-tls"] == {"web"}
    assert by_kind(docs, "Secret")["keyforge-tls"]["type"] == "kubernetes.io/tls"
    # The site settings are valid for the services that read them.
    ServiceSettings(trusted_proxies=configs["keyforge-site"]["KEYFORGE_TRUSTED_PROXIES"])


def test_dev_secrets_agree_with_each_other_and_with_the_stores(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["dev"]
    hive = secret_data(docs, "keyforge-hive")
    valkey = secret_data(docs, "keyforge-valkey")
    postgres = secret_data(docs, "keyforge-postgres")
    for name in OURS:
        url = urlsplit(secret_data(docs, f"keyforge-{name}")["KEYFORGE_VALKEY_URL"])
        assert url.password == valkey[f"VALKEY_{name.upper()}_PASSWORD"]
        assert (url.hostname, url.port) == ("valkey", STORES["valkey"])
    owner = urlsplit(hive["KEYFORGE_MIGRATION_DATABASE_URL"])
    app = urlsplit(hive["DATABASE_URL"])
    pg = main_container(workloads(docs)["postgres"])
    assert (owner.username, owner.password) == (
        env_value(pg, "POSTGRES_USER"),
        postgres["POSTGRES_PASSWORD"],
    )
    script = (REPO_ROOT / "docker" / "postgres" / "init-app-role.sh").read_text()
    assert re.search(rf"CREATE ROLE {app.username} LOGIN PASSWORD", script)
    assert app.password == postgres["KEYFORGE_APP_PASSWORD"] != owner.password
    assert app.username != owner.username, "the hives serve as a role that owns nothing"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_services_that_need_a_store_reach_it(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    policies = list(by_kind(docs, "NetworkPolicy").values())
    assert any(
        p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
        for p in policies
    ), "everything is denied unless allowed"
    every = workloads(docs)
    pods = {n: w["spec"]["template"]["metadata"]["labels"] for n, w in every.items()}
    clients = ("hive", "assets", "assetmgr", "web")
    for store, port in STORES.items():
        target = pods.get(store)  # None in prod: the managed service, outside
        for client in clients:
            allowed = reaches(policies, pods[client], target, port)
            assert allowed == (client in STORE_USERS[store]), f"{overlay}: {client} -> {store}"
    # The ingress reaches the services; nothing else reaches them.
    for name, port in (("hive", 3000), ("assets", 3001)):
        for client in every:
            assert reaches(policies, pods[client], pods[name], port) == (client == "web"), client
    assert not any(reaches(policies, pods[c], pods["assetmgr"], 3003) for c in every)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_non_root_read_only_and_without_capabilities(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    (namespace,) = by_kind(docs, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace", "keyforge") for d in docs} == {"keyforge"}
    python_user = parse_dockerfile(REPO_ROOT / "docker" / "services.Dockerfile").stage("runtime")
    (uid, gid) = python_user.all("USER")[0].split(":")
    for name, workload in workloads(docs).items():
        spec = pod_spec(workload)
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] != 0, name
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        if name in OURS:
            assert (str(pod["runAsUser"]), str(pod["runAsGroup"])) == (uid, gid), name
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "memory" in container["resources"]["limits"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_host_routing_has_one_source_infra_apache_in_the_web_image(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert not by_kind(docs, "Ingress"), "routing is Apache's (infra/apache), not a second copy"
    for config in by_kind(docs, "ConfigMap").values():
        for text in config.get("data", {}).values():
            assert "VirtualHost" not in text
            assert "ProxyPass" not in text
    for path in K8S_DIR.rglob("*"):
        if path.is_file():
            assert "VirtualHost" not in path.read_text(errors="replace"), path
    web = pod_spec(workloads(docs)["web"])
    mounts = {m["mountPath"] for m in main_container(workloads(docs)["web"])["volumeMounts"]}
    assert mounts == {"/etc/keyforge/tls", "/usr/local/apache2/run"}
    assert {v["name"] for v in web["volumes"]} == {"tls", "run"}


def test_dev_valkey_runs_composes_own_files(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["dev"]
    configs = {n: d["data"] for n, d in by_kind(docs, "ConfigMap").items()}
    valkey_dir = REPO_ROOT / "infra" / "valkey"
    assert configs["valkey-config"] == {p.name: p.read_text() for p in valkey_dir.iterdir()}
    start = REPO_ROOT / "docker" / "valkey" / "start.sh"
    assert configs["valkey-start"] == {"start.sh": start.read_text()}
    valkey = main_container(workloads(docs)["valkey"])
    mounts = {m["mountPath"]: m for m in valkey["volumeMounts"]}
    compose_valkey = load_compose()["services"]["valkey"]
    for volume in compose_valkey["volumes"]:
        source, target = volume.split(":")[:2]
        assert target in mounts, f"compose mounts {source} at {target}"
    assert valkey["command"] == compose_valkey["entrypoint"]
    assert not list(K8S_DIR.rglob("users.acl*")), "one copy of the ACL template"


def test_the_dev_secret_writer_keeps_what_exists(tmp_path: Path) -> None:
    # The trial's Postgres and Valkey were set up with the first passwords.
    secrets = tmp_path / "secrets"
    first = write_dev_secrets(secrets)
    assert "wrote" in first
    before = {p.name: p.read_text() for p in secrets.glob("*.env")}
    assert before
    assert all(p.stat().st_mode & 0o077 == 0 for p in secrets.glob("*.env"))
    assert "kept" in write_dev_secrets(secrets)
    assert {p.name: p.read_text() for p in secrets.glob("*.env")} == before
    # Half a set is refused rather than completed with passwords nobody set up.
    (secrets / "hive.env").unlink()
    with pytest.raises(subprocess.CalledProcessError):
        write_dev_secrets(secrets)


def test_dev_postgres_runs_composes_app_role_script(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    # One script makes the application role everywhere (keyforge up runs it too).
    script = REPO_ROOT / "docker" / "postgres" / "init-app-role.sh"
    configs = {n: d["data"] for n, d in by_kind(rendered["dev"], "ConfigMap").items()}
    assert configs["postgres-init"] == {script.name: script.read_text()}
    volumes = load_compose()["services"]["postgres"]["volumes"]
    assert f"./docker/postgres/{script.name}:/docker-entrypoint-initdb.d/{script.name}:ro" in (
        volumes
    )
