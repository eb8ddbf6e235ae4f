"""The ports a local fleet listens on: the defaults when free, any free port otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field

from keyforge_shared.processes import free_port, port_is_free

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
            while (port := free_port()) in taken:
                pass
            self.notices.append(f"port {preferred} is busy; {name} uses {port} instead")
        self.ports[name] = port
        return port


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
