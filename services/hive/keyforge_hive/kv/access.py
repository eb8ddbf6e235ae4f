"""Who may touch which KV namespace.

* admin: reads and writes every namespace;
* a node holding a live lease on job J: reads ``vars/fleet``, ``vars/job/J``
  and ``secrets/job/J`` (a secret's value stays hidden), writes ``vars/job/J``;
* a node without a live lease: nothing.

A node is who its token (``headers.NODE_TOKEN``) says; a ``headers.NODE_ID``
header, if sent, must name that same node (checked with the token). What
the hive then checks is that this node holds the lease. Only an admin may
ask ``?reveal=true``.
"""

from __future__ import annotations

import enum

import asyncpg

from keyforge_hive.auth import Caller
from keyforge_hive.kv.names import Namespace
from keyforge_shared.errors import Forbidden

# Leases live in job_leases (migration 0003): one row per leased slot, kept
# after expiry until the slot is leased again, hence the expiry test.
_LEASED_JOBS = """
SELECT l.job_id FROM job_leases AS l JOIN jobs AS j USING (job_id)
 WHERE l.node_id = $1 AND l.expires_at > now() AND j.status <> 'cancelled'
 ORDER BY l.leased_at DESC
"""


class Access(enum.Enum):
    READ = "read"
    WRITE = "write"


async def leased_jobs(pool: asyncpg.Pool, node_id: str) -> list[str]:
    """The jobs ``node_id`` holds a live lease on, newest lease first."""
    return [r["job_id"] for r in await pool.fetch(_LEASED_JOBS, node_id)]


async def current_lease_job(pool: asyncpg.Pool, node_id: str) -> str | None:
    """The job a node currently works on (its newest live lease), if any."""
    jobs = await leased_jobs(pool, node_id)
    return jobs[0] if jobs else None


def node_may(access: Access, namespace: Namespace, leased: list[str]) -> bool:
    """The contract's rule: a node reaches only the namespaces of a job it holds a
    live lease on (``vars/fleet`` is the operators'), and writes only its vars."""
    if namespace.job_id not in leased:
        return False
    return access is Access.READ or namespace.kind == "vars"


async def authorize(
    pool: asyncpg.Pool, caller: Caller, namespace: Namespace, access: Access
) -> str:
    """Raise 403 unless allowed; returns the actor recorded with a write."""
    node_id = caller.node_id
    if node_id is None:
        return "admin"
    if not node_may(access, namespace, await leased_jobs(pool, node_id)):
        verb = "read" if access is Access.READ else "write"
        raise Forbidden(
            f"node {node_id!r} may not {verb} {namespace.name}: nodes read only the namespaces "
            "of the job they hold a live lease on, and write only its vars/job namespace",
            code="kv_forbidden",
        )
    return f"node:{node_id}"
