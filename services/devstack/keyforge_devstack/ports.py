"""The ports a local fleet listens on: the defaults when free, any free port otherwise."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from keyforge_shared.processes import port_is_free

# Replacement ports come from below the kernel's ephemeral range: a port the kernel
# hands out to some other program's socket between our check and our server's bind
# would make that server fail to start (seen with tests running side by side).
SPARE_RANGE_LOW = 20000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_PORTS = {"valkey": 6390, "postgres": 5433, "assets": 3001, "assetmgr": 3003}


def hive_port(index: int) -> int:
    return 3000 + 2 * index


@dataclass
class PortPlan:
    ports: dict[str, int] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def claim(self, name: str, preferred: int) -> int:
        taken = set(self.ports.values())
        port = preferred
        if port in taken or not port_is_free(port):
            port = spare_port(taken)
            self.notices.append(f"port {preferred} is busy; {name} uses {port} instead")
        self.ports[name] = port
        return port


def ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def spare_port(taken: set[int]) -> int:
    """A free port outside the ephemeral range and not ``taken``, picked at random so that
    two stacks planning at once rarely pick the same one."""
    low = SPARE_RANGE_LOW
    high = max(ephemeral_low(), low + 1000)
    for _ in range(1000):
        port = low + secrets.randbelow(high - low)
        if port not in taken and port_is_free(port):
            return port
    raise RuntimeError(f"no free port between {low} and {high}")


def plan_ports(hives: int, *, apache: tuple[int, int] | None = None) -> PortPlan:
    """Every port the fleet listens on; ``apache`` is (http, https) when it runs."""
    plan = PortPlan()
    for name, preferred in DEFAULT_PORTS.items():
        plan.claim(name, preferred)
    for index in range(hives):
        plan.claim(f"hive-{index}", hive_port(index))
    if apache is not None:
        plan.claim("apache-http", apache[0])
        plan.claim("apache-https", apache[1])
    return plan
