"""KV namespaces and key names, parsed strictly from the request path.

Namespaces are exactly ``vars/fleet``, ``vars/job/<job>`` and
``secrets/job/<job>`` where ``<job>`` is a job id (64 lowercase hex digits).
A key is one path segment of ``A-Z a-z 0-9 . _ -``, starting with a letter or
digit. ``/kv/<namespace>`` names a namespace and ``/kv/<namespace>/<key>``
a key; no string is both, so the split is unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from keyforge_shared.errors import KeyforgeError, NotFound

Kind = Literal["vars", "secrets"]
JOB_ID = re.compile(r"^[0-9a-f]{64}$")
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
NAMESPACE_FORMS = "vars/fleet, vars/job/<job_id> or secrets/job/<job_id>"


@dataclass(frozen=True, slots=True)
class Namespace:
    kind: Kind
    job_id: str | None  # None: the fleet-wide namespace

    @property
    def name(self) -> str:
        return "vars/fleet" if self.job_id is None else f"{self.kind}/job/{self.job_id}"

    @property
    def secret(self) -> bool:
        return self.kind == "secrets"

    @classmethod
    def for_job(cls, kind: Kind, job_id: str) -> Namespace:
        return cls(kind, job_id)


FLEET = Namespace("vars", None)


def job_namespaces(job_id: str) -> tuple[Namespace, Namespace]:
    return Namespace("vars", job_id), Namespace("secrets", job_id)


def parse_namespace(text: str) -> Namespace | None:
    if text == "vars/fleet":
        return FLEET
    kind, sep, rest = text.partition("/job/")
    if sep and kind in ("vars", "secrets") and JOB_ID.match(rest):
        return Namespace("vars" if kind == "vars" else "secrets", rest)
    return None


def require_namespace(text: str) -> Namespace:
    namespace = parse_namespace(text)
    if namespace is None:
        raise NotFound(
            f"no such KV namespace; namespaces are {NAMESPACE_FORMS}", code="bad_namespace"
        )
    return namespace


def require_key_name(text: str) -> str:
    if not KEY_NAME.match(text):
        raise KeyforgeError(
            "a key is 1-128 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
            code="bad_key",
        )
    return text


def parse_kv_path(path: str) -> tuple[Namespace, str | None]:
    """``<namespace>`` or ``<namespace>/<key>``: the namespace and the key (or None)."""
    whole = parse_namespace(path)
    if whole is not None:
        return whole, None
    head, sep, key = path.rpartition("/")
    if not sep:
        require_namespace(path)
    return require_namespace(head), require_key_name(key)
