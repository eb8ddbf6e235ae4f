"""Node and operator authentication by shared secret headers.

* ``headers.NODE_SECRET`` carries the node secret, ``headers.ADMIN_SECRET`` the admin's.
* Node endpoints also accept the admin secret; admin endpoints never accept the
  node secret: presenting it there is 403 (right secret, wrong role), anything
  else missing or wrong is 401.
* During a rotation the ``*_PREVIOUS`` secret is accepted too. Every candidate
  is compared, in constant time, whatever matched first.
* The node secret proves membership only: a node-scoped request also carries
  its node's token (``headers.NODE_TOKEN``), which names the node (:class:`Caller`).
  The admin secret may act for any node without one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr
from starlette.types import Scope

from keyforge_hive.config import HiveSettings
from keyforge_hive.state import hive_of
from keyforge_shared.errors import Forbidden, Unauthorized
from keyforge_shared.protocol import headers

NODE_HEADER = headers.raw(headers.NODE_SECRET)
ADMIN_HEADER = headers.raw(headers.ADMIN_SECRET)
TOKEN_HEADER = headers.raw(headers.NODE_TOKEN)
NODE_AUTH_REQUIRED = f"a valid {headers.NODE_SECRET} header is required"
TOKEN_REQUIRED = (
    f"node-scoped requests need the node's {headers.NODE_TOKEN} (from its first registration)"
)


class Role(StrEnum):
    NODE = "node"
    ADMIN = "admin"


def _secret_bytes(*values: SecretStr | None) -> tuple[bytes, ...]:
    return tuple(v.get_secret_value().encode() for v in values if v and v.get_secret_value())


@dataclass(frozen=True, slots=True)
class Authenticator:
    node_secrets: tuple[bytes, ...]
    admin_secrets: tuple[bytes, ...]

    @classmethod
    def from_settings(cls, settings: HiveSettings) -> Authenticator:
        return cls(
            _secret_bytes(settings.hive_secret, settings.hive_secret_previous),
            _secret_bytes(settings.admin_secret, settings.admin_secret_previous),
        )

    @staticmethod
    def _matches(presented: bytes | None, candidates: tuple[bytes, ...]) -> bool:
        if not presented:
            return False
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(presented, candidate)
        return matched

    def role_of(self, node_header: bytes | None, admin_header: bytes | None) -> Role | None:
        """The strongest role the presented headers prove, if any."""
        if self._matches(admin_header, self.admin_secrets) or self._matches(
            node_header, self.admin_secrets
        ):
            return Role.ADMIN
        if self._matches(node_header, self.node_secrets) or self._matches(
            admin_header, self.node_secrets
        ):
            return Role.NODE
        return None


def role_of_scope(scope: Scope) -> Role | None:
    """The role a request's headers prove, read from the raw ASGI scope.

    Raw headers: building a Headers object costs more than the comparisons.
    """
    node = admin = None
    for name, value in scope["headers"]:
        if name == NODE_HEADER:
            node = value
        elif name == ADMIN_HEADER:
            admin = value
    auth: Authenticator = scope["app"].state.authenticator
    return auth.role_of(node, admin)


def _role(request: Request) -> Role | None:
    return role_of_scope(request.scope)


def token_of_scope(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == TOKEN_HEADER:
            return bytes(value).decode("latin-1") or None
    return None


def token_required() -> Unauthorized:
    return Unauthorized(TOKEN_REQUIRED, code="node_token_required")


def wrong_node(node_id: str) -> Forbidden:
    return Forbidden(f"this node token does not belong to node {node_id!r}", code="wrong_node")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a node-scoped request: the admin (any node), or one proven node."""

    role: Role
    node_id: str | None  # the token's node; None for the admin

    def check(self, node_id: str) -> None:
        """403 ``wrong_node`` unless the caller may act as ``node_id``."""
        if self.node_id is not None and node_id != self.node_id:
            raise wrong_node(node_id)


# Dependencies are async on purpose: FastAPI runs plain-def ones in a thread pool.
async def require_node(request: Request) -> Role:
    role = _role(request)
    if role is None:
        raise Unauthorized(NODE_AUTH_REQUIRED, code="unauthorized")
    return role


async def require_admin(request: Request) -> Role:
    role = _role(request)
    if role is Role.ADMIN:
        return role
    if role is Role.NODE:
        raise Forbidden("this endpoint needs the admin secret", code="forbidden")
    raise Unauthorized(f"a valid {headers.ADMIN_SECRET} header is required", code="unauthorized")


async def require_node_identity(request: Request) -> Caller:
    """A node-scoped request: the admin, or the node secret with a known token; a node
    id named in ``headers.NODE_ID`` must be the token's (routes check the others)."""
    role = _role(request)
    if role is None:
        raise Unauthorized(NODE_AUTH_REQUIRED, code="unauthorized")
    if role is Role.ADMIN:
        return Caller(role, None)
    token = token_of_scope(request.scope)
    if token is None:
        raise token_required()
    node_id = await hive_of(request).tokens.node_of(token)
    if node_id is None:
        raise token_required()
    caller = Caller(role, node_id)
    named = request.headers.get(headers.NODE_ID)
    if named is not None:
        caller.check(named)
    return caller


async def member_with_optional_identity(request: Request) -> Caller:
    """Membership, and the node when a token comes along. ``POST /jobs`` is a node call but
    not a node-scoped one in the contract (it names no node): the secret alone may create a
    job; a token, if sent, must be known, and says whose rate limit the call counts against."""
    role = _role(request)
    if role is None:
        raise Unauthorized(NODE_AUTH_REQUIRED, code="unauthorized")
    token = token_of_scope(request.scope)
    if role is Role.ADMIN or token is None:
        return Caller(role, None)
    node_id = await hive_of(request).tokens.node_of(token)
    if node_id is None:
        raise token_required()
    return Caller(role, node_id)


# Membership only: registration (which hands out tokens) and the public submissions.
MemberAuth = Annotated[Role, Depends(require_node)]
MemberOrNodeAuth = Annotated[Caller, Depends(member_with_optional_identity)]
NodeAuth = Annotated[Caller, Depends(require_node_identity)]
AdminAuth = Annotated[Role, Depends(require_admin)]
