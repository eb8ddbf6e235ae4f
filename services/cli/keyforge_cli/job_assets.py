"""The published assets a job is built from, read through the asset gateway.

Names are resolved against the manifest, so a job only ever names what the
fleet serves; an unknown name is refused with the choices there are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx

from keyforge_cli.operator_target import OperatorError


def _choices(names: list[str]) -> str:
    return ", ".join(sorted(names)) or "none published"


@dataclass
class PublishedAssets:
    """The manifest's paths, and the files read so far (each read once)."""

    gateway: httpx.AsyncClient
    paths: set[str]

    @classmethod
    async def load(cls, gateway: httpx.AsyncClient) -> PublishedAssets:
        try:
            response = await gateway.get("/manifest")
        except httpx.HTTPError as exc:
            raise OperatorError(f"the asset gateway is unreachable: {type(exc).__name__}") from None
        if not response.is_success:
            raise OperatorError(f"the asset gateway answered {response.status_code} for /manifest")
        return cls(gateway, set(response.json()["files"]))

    async def read(self, path: str) -> bytes:
        response = await self.gateway.get(f"/data/{path}")
        if not response.is_success:
            raise OperatorError(f"the asset gateway answered {response.status_code} for {path}")
        return response.content

    async def read_json(self, path: str) -> Any:
        return json.loads(await self.read(path))

    def under(self, folder: str, suffix: str) -> list[str]:
        return sorted(p for p in self.paths if p.startswith(folder) and p.endswith(suffix))

    async def keyboard(self, name: str) -> tuple[str, dict[str, Any]]:
        """A keyboard by file name (``split_3x6_3``), path, or ``meta.name``; (stem, definition)."""
        paths = self.under("keyboards/", ".json")
        for path in (name, f"keyboards/{name}", f"keyboards/{name}.json"):
            if path in paths:
                return PurePosixPath(path).stem, await self.read_json(path)
        names = []
        for path in paths:
            definition = await self.read_json(path)
            meta_name = str(definition.get("meta", {}).get("name", ""))
            if meta_name.casefold() == name.casefold():
                return PurePosixPath(path).stem, definition
            names.append(f"{PurePosixPath(path).stem} ({meta_name})" if meta_name else path)
        raise OperatorError(f"unknown keyboard {name!r}; choose one of: {_choices(names)}")

    def weights_path(self, name: str | None, keyboard: str, board_type: str) -> str:
        """Named weights, or the ones made for this kind of board (else ``default``)."""
        paths = self.under("weights/", ".json")
        stems = {PurePosixPath(p).stem: p for p in paths}
        if name is not None:
            found = stems.get(name.removesuffix(".json")) or (name if name in paths else None)
            if found is None:
                raise OperatorError(
                    f"unknown weights {name!r}; choose one of: {_choices(list(stems))}"
                )
            return found
        hints = (keyboard.casefold(), board_type.casefold())
        # split_3x6_3 takes split.json, a row_staggered board row_stagger.json.
        matching = [s for s in stems if s != "default" and any(h.startswith(s) for h in hints)]
        if matching:
            return stems[max(matching, key=len)]
        if "default" in stems:
            return stems["default"]
        if paths:
            return paths[0]
        raise OperatorError("no weights are published")

    def corpus_name(self, name: str | None) -> str:
        corpora = sorted(
            {p.split("/")[1] for p in self.under("corpora/", "1grams.csv") if p.count("/") == 2}
        )
        if name is None:
            name = "default" if "default" in corpora else (corpora[0] if corpora else "")
        if name not in corpora:
            raise OperatorError(f"unknown corpus {name!r}; choose one of: {_choices(corpora)}")
        return name

    def cost_matrix(self, name: str | None, keyboard: str) -> str:
        matrices = [p for p in self.paths if "/" not in p and p.endswith(".csv")]
        if name is None:
            own = f"cost_matrix_{keyboard}.csv"
            name = own if own in matrices else "cost_matrix.csv"
        if name not in matrices:
            raise OperatorError(
                f"unknown cost matrix {name!r}; choose one of: {_choices(matrices)}"
            )
        return name
