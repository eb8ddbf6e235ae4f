"""What the operator commands (settings, kv, gc, backup, restore) talk to.

HTTP commands reach a hive with the admin secret; database commands reach
Postgres directly. Both read a local stack's ``stack.json`` by default
(``--stack``/``--data-dir``, default ``.keyforge``), or take ``--hive URL``
with ``--admin-secret-file`` / ``$HIVE_ADMIN_SECRET``, and ``--dsn`` /
``$DATABASE_URL`` (backup and restore: ``$KEYFORGE_MIGRATION_DATABASE_URL``
first, the owner role's).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError
from rich.console import Console

from keyforge_shared.client.endpoints import async_client
from keyforge_shared.client.stackfile import read_stack
from keyforge_shared.client.targets import resolve_targets
from keyforge_shared.protocol import headers
from keyforge_shared.protocol.errors import ErrorBody

DEFAULT_DATA_DIR = Path(".keyforge")
Reply = TypeVar("Reply", bound=BaseModel)


class OperatorError(SystemExit):
    """A refusal or failure worth one line on stderr, and exit status 1."""

    def __init__(self, message: str) -> None:
        Console(stderr=True).print(f"[bold red]keyforge:[/] {message}", highlight=False)
        super().__init__(1)


def add_stack_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        "--data-dir",
        dest="stack",
        type=Path,
        default=None,
        help="a local stack's data dir (reads stack.json; default .keyforge)",
    )


def add_hive_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser)
    parser.add_argument("--hive", help="a hive's origin instead of the stack's")
    parser.add_argument("--admin-secret-file", type=Path, help="default $HIVE_ADMIN_SECRET")
    parser.add_argument("--ca-cert", type=Path, help="CA to verify https endpoints with")


def add_database_arguments(parser: argparse.ArgumentParser) -> None:
    add_stack_argument(parser)
    parser.add_argument(
        "--dsn", help="a postgresql:// URL instead of the stack's (or $DATABASE_URL)"
    )


def data_dir(args: argparse.Namespace) -> Path:
    return Path(args.stack or DEFAULT_DATA_DIR).resolve()


def admin_client(args: argparse.Namespace) -> httpx.AsyncClient:
    """An httpx client for the hive with the admin secret already in its headers."""
    if args.hive is None and args.stack is None:
        args.stack = DEFAULT_DATA_DIR
    args.secret_file = None
    targets = resolve_targets(args)
    if targets.admin_secret is None:
        raise OperatorError(
            "no admin secret: use --stack, --admin-secret-file or HIVE_ADMIN_SECRET"
        )
    client = async_client(targets.hive, timeout_s=30.0)
    client.headers[headers.ADMIN_SECRET] = targets.admin_secret.current()
    return client


def database_url(args: argparse.Namespace, *, owner: bool = False) -> str:
    """The database to work on: the hives' application role's URL, or with ``owner``
    the schema owner's (what backup and restore need), when the stack or the
    environment (``KEYFORGE_MIGRATION_DATABASE_URL``) names one."""
    if args.dsn:
        return str(args.dsn)
    if args.stack is None:
        names = ("KEYFORGE_MIGRATION_DATABASE_URL", "DATABASE_URL") if owner else ("DATABASE_URL",)
        for name in names:
            if os.environ.get(name):
                return os.environ[name]
    stack = read_stack(data_dir(args))
    if stack is None:
        raise OperatorError(
            f"no stack.json in {data_dir(args)}: give --stack, --dsn or DATABASE_URL"
        )
    postgres = stack["postgres"]
    dsn: str = postgres.get("owner_dsn", postgres["dsn"]) if owner else postgres["dsn"]
    return dsn


def libpq_connection(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment carrying it.

    Client tools get the password through ``PGPASSWORD``, never on their
    command line, where any local user could read it.
    """
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password is None:
        return dsn, env
    env["PGPASSWORD"] = unquote(parts.password)
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), env


def database_role(dsn: str) -> str | None:
    user = urlsplit(dsn).username
    return unquote(user) if user else None


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def fail_on_error(response: httpx.Response) -> Any:
    """The JSON body of a 2xx answer; OperatorError with the hive's own words otherwise."""
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if response.is_success:
        return body
    try:
        error = ErrorBody.model_validate(body)
    except ValidationError:
        raise OperatorError(f"the hive answered {response.status_code}") from None
    raise OperatorError(f"{response.status_code} {error.error}: {error.detail}")


def reply_as(response: httpx.Response, model: type[Reply]) -> Reply:
    """A 2xx answer parsed with its protocol model; OperatorError otherwise."""
    body = fail_on_error(response)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise OperatorError(
            f"the hive's answer is not a {model.__name__}: {exc.error_count()} problem(s)"
        ) from None
