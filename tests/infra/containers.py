"""Reading compose.yaml and the Dockerfiles the way an engine would, for static checks."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keyforge_devstack.embedded import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
# ${NAME}, ${NAME:-default}, ${NAME:?message}, ${NAME-x}, ${NAME?x}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")


def load_compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def variables(text: str) -> list[tuple[str, str]]:
    """The interpolated variables of ``text``: (name, operator) pairs."""
    return [(m["name"], m["op"] or "") for m in VARIABLE.finditer(text.replace("$$", ""))]


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def chain(self, name: str) -> list[Stage]:
        """A stage and every stage it is built FROM, itself first."""
        stages = [self.stage(name)]
        names = {s.name for s in self.stages}
        while stages[-1].base in names:
            stages.append(self.stage(stages[-1].base))
        return stages

    def resolve(self, text: str) -> str:
        return VARIABLE.sub(lambda m: self.args.get(m["name"], m[0]), text)


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def parse_dockerfile(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], stage))
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(path, args, stages)


def copy_sources(args: str) -> list[str]:
    """The build-context sources of a COPY (none for ``COPY --from=``)."""
    words = shlex.split(args)
    if any(w.startswith("--from") for w in words):
        return []
    return [w for w in words if not w.startswith("--")][:-1]


def env_names(args: str) -> list[str]:
    """Names set by one ENV instruction (``A=1 B="x y"``)."""
    return [word.partition("=")[0] for word in shlex.split(args)]
