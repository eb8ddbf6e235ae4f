"""How ``keyforge job`` shows jobs: the job table, a board with its metrics, a sparkline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from keyforge_cli.board_drawing import draw_board
from keyforge_cli.job_client import pinned_slots

SPARKS = "▁▂▃▄▅▆▇█"
PERCENT_METRICS = ("sfb", "skip_bigrams", "lateral_stretch", "pinky_scissors", "tri_redirect",
                   "roll_in", "roll_out")  # fmt: skip


def score_text(score: float | None) -> str:
    return "—" if score is None else f"{score:,.1f}"


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(title="jobs", title_justify="left")
    for name, justify in (
        ("JOB", "left"),
        ("KEYBOARD", "left"),
        ("STATUS", "left"),
        ("BEST SCORE", "right"),
        ("RESULTS", "right"),
        ("CREATED", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]  # fmt: skip
    for job in jobs:
        table.add_row(
            job["job_id"][:12],
            job.get("keyboard_name") or "",
            job["status"],
            score_text(job.get("best_score")),
            str(job.get("results", 0)),
            (job.get("created_at") or "")[:19].replace("T", " "),
        )
    return table


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """Lower is better: a falling score draws a falling line."""
    points = list(values)[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    span = high - low or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in points)


def metrics_table(metrics: Mapping[str, float] | None) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1))
    table.add_column(style="cyan")
    table.add_column(justify="right")
    for name, value in (metrics or {}).items():
        unit = " %" if name in PERCENT_METRICS else ""
        table.add_row(name, f"{value:,.2f}{unit}")
    return table


def job_panel(job: Mapping[str, Any], labels: Mapping[str, str],
              extra: Sequence[RenderableType] = ()) -> RenderableType:  # fmt: skip
    """The job's best layout on its keyboard, its metrics beside it."""
    header = Text.assemble(
        (f"{job.get('keyboard_name') or 'job'}  ", "bold"),
        (job["job_id"], "dim"),
        f"\nstatus {job['status']}, {job.get('results', 0)} results, best ",
        (score_text(job.get("best_score")), "bold green"),
    )
    definition = job.get("definition") or {}
    keys = (definition.get("geometry") or {}).get("keys") or []
    layout = job.get("best_layout")
    if not layout or not keys:
        body: RenderableType = Text("no result yet", style="italic")
    else:
        body = draw_board(keys, layout.split(), labels, pinned_slots(job.get("pinned_keys", "")))
    grid = Table.grid(padding=(0, 4))
    grid.add_column(no_wrap=True)  # a wrapped row would no longer be a row of keys
    grid.add_column()
    grid.add_row(body, metrics_table(job.get("metrics")))
    return Group(header, Text(""), grid, *extra)
