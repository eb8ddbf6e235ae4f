"""The front end in a real browser, against a real stack through Apache and TLS.

One stack and one page serve the module, in order: the page loads clean, a
swarm shows up in the node count, a better result redraws the job, and the
page comes back by itself after the hive it streams from restarts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_workdir
from tests.devstack.ingress_support import Stack, running_stack, wait_for
from tests.devstack.test_ingress import current
from tests.web.browser import Dashboard, open_dashboard, require_chromium
from tests.web.fleet import SeededJob, seed_job

pytestmark = pytest.mark.stack

SWARM_NODES = 6
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require_chromium()
    # Outside pytest's temp tree, for the reason given in tests/conftest.py.
    with postgres_workdir() as workdir, running_stack(workdir / "fleet", "--hives", "1") as stack:
        yield stack


@pytest.fixture(scope="module")
def job(stack: Stack) -> SeededJob:
    return seed_job(stack)


@pytest.fixture(scope="module")
def dashboard(
    stack: Stack, job: SeededJob, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dashboard]:
    with open_dashboard(stack, tmp_path_factory.mktemp("browser")) as dashboard:
        yield dashboard


def wait_live(dashboard: Dashboard) -> None:
    dashboard.page.wait_for_selector("#connection[data-state=live]", timeout=WAIT_MS)


def shown_layout(dashboard: Dashboard) -> str:
    """The layout as drawn: the keycode of every key of the keyboard SVG, in key order."""
    codes: list[str] = dashboard.eval(
        "[...document.querySelectorAll('#keyboard g.key')].map((g) => g.dataset.keycode)"
    )
    return " ".join(codes)


def wait_drawn(dashboard: Dashboard, job: SeededJob) -> None:
    expected = " ".join(job.best)
    dashboard.page.wait_for_function(
        """([layout, score]) => {
          const keys = [...document.querySelectorAll('#keyboard g.key')];
          const drawn = keys.map((g) => g.dataset.keycode).join(' ');
          return drawn === layout && document.querySelector('#job-score').textContent === score;
        }""",
        arg=[expected, f"{job.best_score:.3f}"],
        timeout=WAIT_MS,
    )


def test_the_page_loads_clean(dashboard: Dashboard, job: SeededJob) -> None:
    wait_live(dashboard)
    wait_drawn(dashboard, job)
    assert job.job_id.startswith(dashboard.text("#job-id"))
    assert dashboard.eval("document.querySelectorAll('#keyboard g.key').length") == len(job.best)
    # The heatmap writes every used key's share on it: colour is not the only signal.
    assert "%" in dashboard.text("#keyboard")
    assert dashboard.text("#metrics")
    dashboard.screenshot("loaded")
    assert dashboard.console_errors == []
    assert dashboard.csp_violations() == []


def test_the_node_count_rises_when_a_swarm_starts(stack: Stack, dashboard: Dashboard) -> None:
    before = int(dashboard.text("#stat-nodes"))
    swarm = subprocess.Popen(
        [
            *(sys.executable, "-m", "keyforge_cli", "swarm", "--stack", str(stack.data_dir)),
            *("--nodes", str(SWARM_NODES), "--duration", "40", "--submit-rate", "0"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        dashboard.page.wait_for_function(
            "(n) => Number(document.querySelector('#stat-nodes').textContent) >= n",
            arg=before + SWARM_NODES,
            timeout=WAIT_MS,
        )
        dashboard.screenshot("swarm")
    finally:
        swarm.terminate()
        swarm.wait(timeout=30)
    assert dashboard.console_errors == []


def test_a_better_result_redraws_the_job(dashboard: Dashboard, job: SeededJob) -> None:
    drawn = shown_layout(dashboard)
    score = dashboard.text("#job-score")
    records = dashboard.eval("document.querySelectorAll('#history circle').length")
    job.post_better(seed=1)
    wait_drawn(dashboard, job)
    assert shown_layout(dashboard) != drawn
    assert dashboard.text("#job-score") != score
    dashboard.page.wait_for_function(
        "(n) => document.querySelectorAll('#history circle').length > n",
        arg=records,
        timeout=WAIT_MS,
    )
    assert "New best" in dashboard.text("#feed")
    dashboard.screenshot("record")
    assert dashboard.console_errors == []
    assert dashboard.csp_violations() == []


def test_the_page_recovers_after_its_hive_restarts(
    stack: Stack, dashboard: Dashboard, job: SeededJob
) -> None:
    wait_live(dashboard)
    hive = stack.info["pids"]["hive-0"]
    os.kill(hive, signal.SIGTERM)
    # The stream ends with the hive: the page says so rather than look live.
    dashboard.page.wait_for_selector(
        "#connection:not([data-state=live])", timeout=WAIT_MS, state="attached"
    )
    dashboard.screenshot("hive-down")
    wait_for(lambda: current(stack).info["pids"]["hive-0"] != hive, 60, "hive-0 restarted")
    wait_live(dashboard)
    assert dashboard.page.locator("#unreachable").is_hidden()
    job.post_better(seed=2)
    wait_drawn(dashboard, job)
    dashboard.screenshot("recovered")
    assert dashboard.csp_violations() == []


def test_screenshots_are_kept(dashboard: Dashboard) -> None:
    assert {p.name for p in Path(dashboard.shots).iterdir()} >= {"loaded.png", "record.png"}


def test_cors_through_apache_names_the_page_origin_only(stack: Stack) -> None:
    page = f"https://{stack.host()}:{stack.https_port}"
    for vhost, path in (("api", "/cluster/stats"), ("assets", "/manifest")):
        allowed = stack.get(vhost, path, headers={"Origin": page})
        assert allowed.headers.get("access-control-allow-origin") == page
        # The same host behind another port is another origin.
        for other in (f"https://{stack.host()}", "https://example.org"):
            refused = stack.get(vhost, path, headers={"Origin": other})
            assert "access-control-allow-origin" not in refused.headers
