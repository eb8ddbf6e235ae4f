"""The README's picture of the dashboard, made the way the browser test sees it.

    python -m tests.web.screenshot [--out docs/dashboard.png]

Starts a local stack (``keyforge up`` with Apache), creates a job, starts a
small swarm, posts a few better results, and photographs the page in Debian's
chromium through Apache and TLS; everything is stopped afterwards.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import postgres_workdir
from tests.devstack.ingress_support import running_stack
from tests.web.browser import open_dashboard
from tests.web.fleet import seed_job

RECORDS = 6
SWARM_NODES = 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.png"))
    args = parser.parse_args()
    with postgres_workdir() as workdir, running_stack(workdir / "fleet", "--hives", "1") as stack:
        job = seed_job(stack)
        swarm = subprocess.Popen(
            [
                *(sys.executable, "-m", "keyforge_cli", "swarm", "--stack", str(stack.data_dir)),
                *("--nodes", str(SWARM_NODES), "--duration", "120", "--submit-rate", "0"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with open_dashboard(stack, workdir) as dashboard:
                for seed in range(RECORDS):
                    job.post_better(seed=seed)
                    time.sleep(1.5)
                dashboard.page.wait_for_function(
                    "(n) => Number(document.querySelector('#stat-nodes').textContent) >= n",
                    arg=SWARM_NODES,
                    timeout=30_000,
                )
                time.sleep(2)
                shot = dashboard.screenshot("dashboard")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_bytes(shot.read_bytes())
                for problem in dashboard.console_errors + dashboard.csp_violations():
                    print(f"page: {problem}", file=sys.stderr)
        finally:
            swarm.terminate()
            swarm.wait(timeout=30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
