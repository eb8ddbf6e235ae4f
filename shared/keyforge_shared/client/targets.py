"""What a client command talks to: from ``--stack D`` (``D/stack.json``) or from explicit flags.

``--stack`` (``.keyforge`` when neither is given) takes the URLs (through
Apache when it runs), the secret files and the dev CA from the stack file,
so ``keyforge node`` beside a ``keyforge up`` is all a developer types.
Without it: ``--hive URL``, the asset gateway from ``--assets`` or derived
from the hive URL (``api.X`` → ``assets.X``, port 3000 → 3001, the
contract's defaults), secrets from ``--secret-file`` or ``HIVE_SECRET`` /
``HIVE_ADMIN_SECRET``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from keyforge_shared.client.endpoints import Endpoint
from keyforge_shared.client.secret_source import SecretSource
from keyforge_shared.client.stackfile import read_stack

HIVE_PORT, ASSETS_PORT = 3000, 3001
DEFAULT_STACK = Path(".keyforge")  # `keyforge up`'s default data dir


@dataclass(frozen=True)
class Targets:
    hive: Endpoint
    assets: Endpoint | None
    node_secret: SecretSource | None
    admin_secret: SecretSource | None


def add_target_arguments(parser: argparse.ArgumentParser, *, assets: bool = False) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--hive", help="the hive API's origin, e.g. https://api.keyforge.localhost")
    where.add_argument(
        "--stack", type=Path, help=f"a local stack's data dir (default {DEFAULT_STACK}/ if any)"
    )
    if assets:
        parser.add_argument("--assets", help="the asset gateway's origin (default: derived)")
    parser.add_argument("--secret-file", type=Path, help="node secret file (default $HIVE_SECRET)")
    parser.add_argument("--ca-cert", type=Path, help="CA to verify https endpoints with")


def derived_assets_url(hive: Endpoint) -> Endpoint | None:
    if hive.host.startswith("api."):
        return Endpoint(hive.scheme, "assets." + hive.host[4:], hive.port, hive.ca_cert)
    if hive.port == HIVE_PORT:
        return Endpoint(hive.scheme, hive.host, ASSETS_PORT, hive.ca_cert)
    return None


def _env_secret(name: str) -> SecretSource | None:
    return SecretSource(env_name=name) if os.environ.get(name) else None


def targets_from_stack(data_dir: Path) -> Targets:
    stack = read_stack(data_dir.resolve())
    if stack is None:
        raise SystemExit(f"keyforge: no stack.json in {data_dir}; start one with `keyforge up`")
    apache: dict[str, Any] = stack.get("apache") or {}
    ca = Path(apache["ca_cert"]) if apache.get("running") and apache.get("ca_cert") else None
    urls: dict[str, Any] = stack.get("urls") or {}
    files: dict[str, str] = stack.get("secret_files") or {}
    return Targets(
        hive=Endpoint.parse(urls.get("api") or stack["hives"][0], ca),
        assets=Endpoint.parse(urls.get("assets") or stack["assets"], ca),
        node_secret=SecretSource(path=Path(files["hive"])) if "hive" in files else None,
        admin_secret=SecretSource(path=Path(files["admin"])) if "admin" in files else None,
    )


def resolve_targets(args: argparse.Namespace) -> Targets:
    """The endpoints and secrets the parsed arguments name; SystemExit with a reason if unusable."""
    if args.stack is None and args.hive is None:
        if not (DEFAULT_STACK / "stack.json").exists():
            raise SystemExit("keyforge: give --hive URL or --stack DATA_DIR")
        args.stack = DEFAULT_STACK
    try:
        if args.stack is not None:
            targets = targets_from_stack(args.stack)
        else:
            hive = Endpoint.parse(args.hive, args.ca_cert)
            assets_url = getattr(args, "assets", None)
            targets = Targets(
                hive=hive,
                assets=Endpoint.parse(assets_url, args.ca_cert)
                if assets_url
                else derived_assets_url(hive),
                node_secret=_env_secret("HIVE_SECRET"),
                admin_secret=_env_secret("HIVE_ADMIN_SECRET"),
            )
    except (ValueError, KeyError, IndexError) as exc:
        raise SystemExit(f"keyforge: {exc}") from None
    if args.secret_file is not None:
        targets = replace(targets, node_secret=SecretSource(path=args.secret_file))
    admin_file = getattr(args, "admin_secret_file", None)
    if admin_file is not None:
        targets = replace(targets, admin_secret=SecretSource(path=admin_file))
    return targets
