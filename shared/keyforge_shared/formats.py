"""The original KeyForge data formats, parsed and validated in one place.

Keyboard definitions (``meta``, ``geometry``, ``layouts``), ``keycodes.json``,
layouts (space-separated keycode ids), ``pinned_keys``, n-gram corpus CSVs and
the cost-matrix CSV. The asset manager validates files with these, the hive
validates job specs with them, and the scorer loads its inputs through them.
Weights live with the scorer (``keyforge_shared.scoring``), which owns their
meaning.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from keyforge_shared.strict_input import parse_uint

MAX_KEYS = 255
Name = Annotated[str, Field(max_length=200)]
Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-1000, le=1000)]


class FormatError(ValueError):
    """A file or field that does not follow its format; the message says where."""


class Key(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=64)]
    hand: Annotated[int, Field(ge=0, le=1)]
    finger: Annotated[int, Field(ge=0, le=4)]
    row: Annotated[int, Field(ge=0, le=32)]
    col: Annotated[int, Field(ge=0, le=64)]
    x: Coordinate
    y: Coordinate
    w: Annotated[float, Field(allow_inf_nan=False, gt=0, le=20)] = 1.0
    h: Annotated[float, Field(allow_inf_nan=False, gt=0, le=20)] = 1.0
    is_stretch: bool = False


class Geometry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    keys: Annotated[list[Key], Field(min_length=1, max_length=MAX_KEYS)]
    prime_slots: list[int] = Field(default_factory=list)
    med_slots: list[int] = Field(default_factory=list)
    low_slots: list[int] = Field(default_factory=list)
    home_row: Annotated[int, Field(ge=0, le=32)] = 1

    @model_validator(mode="after")
    def _slots_inside_key_set(self) -> Geometry:
        ids = [k.id for k in self.keys]
        if len(set(ids)) != len(ids):
            raise ValueError("key ids must be unique")
        tiers = {"prime_slots": self.prime_slots, "med_slots": self.med_slots,
                 "low_slots": self.low_slots}  # fmt: skip
        seen: set[int] = set()
        for tier, slots in tiers.items():
            for slot in slots:
                if not 0 <= slot < len(self.keys):
                    raise ValueError(f"{tier} holds slot {slot}, outside 0..{len(self.keys) - 1}")
                if slot in seen:
                    raise ValueError(f"slot {slot} appears in more than one tier")
                seen.add(slot)
        return self


class Meta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    name: Name = ""
    author: Name = ""
    version: Annotated[str, Field(max_length=64)] = ""
    notes: Annotated[str, Field(max_length=4000)] = ""
    type: Annotated[str, Field(max_length=64)] = ""


class KeyboardDefinition(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    meta: Meta = Field(default_factory=Meta)
    geometry: Geometry
    layouts: Annotated[dict[Name, Annotated[str, Field(max_length=5000)]], Field(max_length=200)]

    @field_validator("layouts")
    @classmethod
    def _layout_names(cls, layouts: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() for name in layouts):
            raise ValueError("layout names must not be blank")
        return layouts

    def reference_layout(self) -> tuple[str, str]:
        """The first layout in JSON order: it defines a job's alphabet."""
        if not self.layouts:
            raise FormatError("definition.layouts is empty: a job needs a reference layout")
        return next(iter(self.layouts.items()))


class Keycode(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: Annotated[int, Field(ge=0, le=0xFFFF)]
    id: Annotated[str, Field(min_length=1, max_length=64)]
    label: Annotated[str, Field(max_length=64)] = ""
    aliases: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list)


_KEYCODE_LIST = TypeAdapter(list[Keycode])

# Codes that name a typed character: the printable ASCII range, plus Enter and Tab.
_CONTROL_CHARS = {9: "\t", 10: "\n"}


@dataclass(frozen=True)
class KeycodeTable:
    """``keycodes.json``: canonical ids, their aliases, and the character each types."""

    by_name: Mapping[str, Keycode]

    @classmethod
    def from_entries(cls, entries: Iterable[Keycode]) -> KeycodeTable:
        by_name: dict[str, Keycode] = {}
        for entry in entries:
            for name in (entry.id, *entry.aliases):
                if name in by_name:
                    raise FormatError(f"keycode name {name!r} is defined twice")
                by_name[name] = entry
        return cls(by_name)

    def canonical(self, name: str) -> str | None:
        entry = self.by_name.get(name)
        return entry.id if entry else None

    def char_of(self, name: str) -> str | None:
        """The lower-case character a keycode types, if it types one."""
        entry = self.by_name.get(name)
        if entry is None:
            return None
        if 32 <= entry.code < 127:
            return chr(entry.code).lower()
        return _CONTROL_CHARS.get(entry.code)

    def id_for_char(self, char: str) -> str | None:
        for entry in self.by_name.values():
            if self.char_of(entry.id) == char.lower():
                return entry.id
        return None


def parse_keycodes(raw: bytes | str) -> KeycodeTable:
    try:
        entries = _KEYCODE_LIST.validate_json(raw)
    except ValidationError as exc:
        raise FormatError(f"keycodes.json: {_first_error(exc)}") from None
    return KeycodeTable.from_entries(entries)


def parse_definition(data: Any) -> KeyboardDefinition:
    try:
        return KeyboardDefinition.model_validate(data)
    except ValidationError as exc:
        raise FormatError(f"keyboard definition: {_first_error(exc)}") from None


def parse_layout(text: str, table: KeycodeTable, n_keys: int) -> list[str]:
    """Exactly one known keycode per key, returned as canonical ids."""
    names = text.split()
    if len(names) != n_keys:
        raise FormatError(f"layout has {len(names)} keycodes for {n_keys} keys")
    canonical = []
    for slot, name in enumerate(names):
        known = table.canonical(name)
        if known is None:
            raise FormatError(f"slot {slot}: unknown keycode {name!r}")
        canonical.append(known)
    return canonical


def parse_pinned_keys(text: str, table: KeycodeTable, n_keys: int) -> dict[int, str]:
    """``slot:keycode`` pairs (or the original's ``slot:char``), comma separated."""
    pinned: dict[int, str] = {}
    if not text.strip():
        return pinned
    for pair in text.split(","):
        slot_text, sep, value = pair.strip().partition(":")
        slot = parse_uint(slot_text.strip(), max_digits=6)
        if not sep or slot is None or not value:
            raise FormatError(f"pinned_keys entry {pair.strip()!r} is not slot:keycode")
        if slot >= n_keys:
            raise FormatError(f"pinned slot {slot} is outside 0..{n_keys - 1}")
        keycode = table.canonical(value.strip()) or (
            table.id_for_char(value) if len(value) == 1 else None
        )
        if keycode is None:
            raise FormatError(f"pinned slot {slot}: unknown keycode or character {value!r}")
        if slot in pinned:
            raise FormatError(f"slot {slot} is pinned twice")
        pinned[slot] = keycode
    return pinned


_ESCAPES = {"\\\\": "\\", "\\n": "\n", "\\t": "\t"}


def _corpus_char(cell: str, where: str) -> str:
    char = _ESCAPES.get(cell, cell)
    if len(char) != 1:
        raise FormatError(f"{where}: {cell!r} is not one character")
    return char


def parse_ngrams(raw: bytes | str, n: int) -> dict[str, int]:
    """An ``{n}grams.csv`` file: header, then ``n`` characters and a count per row."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or len(header) != n + 1 or header[-1].strip() != "freq":
        raise FormatError(f"{n}grams.csv: header must be {n} char columns then freq")
    counts: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != n + 1:
            raise FormatError(f"{n}grams.csv line {line}: expected {n + 1} columns")
        gram = "".join(_corpus_char(c, f"{n}grams.csv line {line}") for c in row[:n])
        count = parse_uint(row[n].strip())
        if count is None:
            raise FormatError(f"{n}grams.csv line {line}: count {row[n]!r} is not a whole number")
        counts[gram] = counts.get(gram, 0) + count
    if not counts:
        raise FormatError(f"{n}grams.csv has no rows")
    return counts


@dataclass(frozen=True, slots=True)
class CostEntry:
    from_key: str
    to_key: str
    cost_ms: float
    samples: int


COST_MATRIX_HEADER = ["From_Key", "To_Key", "Cost_MS", "Confidence_Samples"]


def parse_cost_matrix(raw: bytes | str) -> list[CostEntry]:
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    rows = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(rows, [])]
    if header != COST_MATRIX_HEADER:
        raise FormatError(f"cost matrix header must be {','.join(COST_MATRIX_HEADER)}")
    entries = []
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != 4:
            raise FormatError(f"cost matrix line {line}: expected 4 columns")
        try:
            cost, samples = float(row[2]), int(row[3])
        except ValueError:
            raise FormatError(f"cost matrix line {line}: cost or samples is not a number") from None
        if not math.isfinite(cost) or cost < 0 or samples < 0:
            raise FormatError(f"cost matrix line {line}: cost and samples must be finite, >= 0")
        entries.append(CostEntry(row[0].strip(), row[1].strip(), cost, samples))
    if not entries:
        raise FormatError("cost matrix has no rows")
    return entries


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]
