"""``keyforge up --demo``: a demo search and one local worker node, under the supervisor.

Once the stack file is written, the demo job is created the way a user
would (``keyforge job create --stack D --keyboard split_3x6_3``: a system
keyboard, its character keys free), retried while the asset manager is still
publishing; then one ``keyforge-node`` joins the supervised services, so it
is restarted if it dies and stopped with the fleet. Creating the same job
again on a later ``up`` finds the existing one (job ids hash the spec).

The node's search kernels are compiled (first start only) while the fleet
starts, and ``up`` reports the fleet up once they are: the demo then shows a
score within seconds instead of after a compile.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from keyforge_devstack.embedded import REPO_ROOT
from keyforge_devstack.fleet import OWN_ENV_PREFIXES, Fleet, Service
from keyforge_shared.processes import spawn, stop_process

log = logging.getLogger(__name__)

DEMO_KEYBOARD = "split_3x6_3"
RETRY_S = 2.0
# Publishing the system assets takes seconds; past this the demo gives up and says why.
GIVE_UP_S = 120.0
JOB_ID = re.compile(r"^[0-9a-f]{64}$", re.M)
NODE = "demo-node"


@dataclass
class Demo:
    fleet: Fleet
    data_dir: Path
    job_id: str | None = None
    _creator: subprocess.Popen[bytes] | None = None
    _next_try: float = 0.0
    _started: float = field(default_factory=time.monotonic)
    _gave_up: bool = False
    _warming: subprocess.Popen[bytes] | None = None

    def start_warming(self, assets_dir: Path) -> None:
        """Compile (or load) the node's kernels into its state dir, in the background."""
        print(
            "keyforge: preparing the demo node's search engine"
            " (a first start compiles it: a minute or two)",
            flush=True,
        )
        self._warming = spawn(
            [sys.executable, "-m", "keyforge_node.engine.warm",
             "--state-dir", str(self.data_dir / NODE), "--assets-dir", str(assets_dir)],
            log_file=self.data_dir / "logs" / f"{NODE}-warm.log",
            cwd=REPO_ROOT,
        )  # fmt: skip

    def warmed(self) -> bool:
        """Whether the kernels are ready (or failed to compile ahead: the node compiles them)."""
        if self._warming is None or self._warming.poll() is None:
            return self._warming is None
        if self._warming.returncode != 0:
            log.warning("the kernels did not compile ahead; see %s-warm.log", NODE)
        self._warming = None
        return True

    @property
    def _log_file(self) -> Path:
        return self.data_dir / "logs" / "demo-job.log"

    def tick(self) -> bool:
        """One step; True when a process the stack file lists was added."""
        if self.job_id is not None or self._gave_up:
            return False
        if self._creator is None:
            if time.monotonic() >= self._next_try:
                self._creator = spawn(
                    [sys.executable, "-m", "keyforge_cli", "job", "create",
                     "--stack", str(self.data_dir), "--keyboard", DEMO_KEYBOARD],
                    log_file=self._log_file,
                    cwd=REPO_ROOT,
                )  # fmt: skip
            return False
        if self._creator.poll() is None:
            return False
        created = self._creator.returncode == 0
        self._creator = None
        found = JOB_ID.findall(self._log_file.read_text(errors="replace"))
        if not created or not found:
            if time.monotonic() - self._started > GIVE_UP_S:
                self._gave_up = True
                log.warning("the demo job could not be created; see %s", self._log_file)
            self._next_try = time.monotonic() + RETRY_S
            return False
        self.job_id = found[-1]
        print(f"keyforge: demo job {self.job_id} on {DEMO_KEYBOARD}", flush=True)
        self._start_node()
        return True

    def _start_node(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
        env["PYTHONUNBUFFERED"] = "1"
        node = Service(
            NODE,
            "keyforge_node",
            0,
            env,
            self.data_dir / "logs" / f"{NODE}.log",
            args=("--stack", str(self.data_dir), "--state-dir", str(self.data_dir / NODE),
                  "--label", "demo=true"),
        )  # fmt: skip
        node.start()
        self.fleet.services.append(node)
        print(f"keyforge: a demo worker node runs (log {node.log_file})", flush=True)

    def stop(self) -> None:
        if self._warming is not None:
            stop_process(self._warming)
        if self._creator is not None:
            stop_process(self._creator)
