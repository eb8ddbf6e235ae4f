"""What the local Apache's hive balancers think of each member, from its balancer-manager.

The manager answers only on loopback with the per-start admin token (see
``infra/apache/vhosts.conf``). A rolling restart reads it to know when Apache
routes to a restarted hive again: every balancer lists every hive (one for
``/events`` streams, one for the rest), and each health-checks it on its own.
"""

from __future__ import annotations

import html
import re
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MANAGER_PATH = "/balancer-manager"
ADMIN_HEADER = "X-Keyforge-Apache-Admin"
_ROW = re.compile(r"<tr>\s*<td><a [^>]*>([^<]+)</a></td>(.*?)</tr>", re.S)
_CELL = re.compile(r"<td>(.*?)</td>", re.S)
# Status flags the manager prints for a member no request is sent to.
UNUSABLE_FLAGS = frozenset({"Dis", "Err", "Stop", "Drn", "HcFl", "Stby", "Spar"})


@dataclass(frozen=True)
class MemberState:
    url: str
    flags: frozenset[str]
    busy: int

    @property
    def usable(self) -> bool:
        return "Ok" in self.flags and not self.flags & UNUSABLE_FLAGS


class BalancerManager:
    def __init__(self, *, https_port: int, vhost: str, ca_cert: Path, token: str) -> None:
        self.vhost = vhost
        self.url = f"https://127.0.0.1:{https_port}{MANAGER_PATH}"
        # The manager ignores requests that do not come from its own page
        # (its CSRF defence), reads included.
        referer = f"https://{vhost}:{https_port}{MANAGER_PATH}"
        self.headers = {"Host": vhost, ADMIN_HEADER: token, "Referer": referer}
        self.client = httpx.Client(
            verify=ssl.create_default_context(cafile=str(ca_cert)), timeout=5.0
        )

    def _page(self) -> str:
        response = self.client.get(
            self.url, headers=self.headers, extensions={"sni_hostname": self.vhost}
        )
        response.raise_for_status()
        return response.text

    def members(self) -> list[MemberState]:
        """Every member of every balancer, in page order (a hive appears once per balancer)."""
        members = []
        for url, rest in _ROW.findall(self._page()):
            cells = [html.unescape(c).strip() for c in _CELL.findall(rest)]
            # Route, RouteRedir, Factor, Set, Status, Elected, Busy, ...
            members.append(MemberState(url, frozenset(cells[4].split()), int(cells[6])))
        return members

    def wait_usable(self, member: str, timeout_s: float = 15.0) -> None:
        """Until every balancer sends requests to ``member`` again (its health checks passed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            states = [state for state in self.members() if state.url == member]
            if states and all(state.usable for state in states):
                return
            if time.monotonic() > deadline:
                flags = "; ".join(" ".join(sorted(s.flags)) for s in states) or "missing"
                raise TimeoutError(f"Apache still does not route to {member} ({flags})")
            time.sleep(0.1)

    def close(self) -> None:
        self.client.close()
