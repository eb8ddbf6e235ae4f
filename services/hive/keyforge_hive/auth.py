"""Node and operator authentication by shared secret headers.

* ``X-Keyforge-Secret``: the node secret. ``X-Keyforge-Admin``: the admin secret.
* Node endpoints also accept the admin secret; admin endpoints never accept the
  node secret: presenting it there is 403 (right secret, wrong role), anything
  else missing or wrong is 401.
* During a rotation the ``*_PREVIOUS`` secret is accepted too. Every candidate
  is compared, in constant time, whatever matched first.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Request
from pydantic import SecretStr

from keyforge_hive.config import HiveSettings
from keyforge_shared.errors import Forbidden, Unauthorized

NODE_HEADER = "x-keyforge-secret"
ADMIN_HEADER = "x-keyforge-admin"


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
    def _matches(presented: str | None, candidates: tuple[bytes, ...]) -> bool:
        if not presented:
            return False
        given = presented.encode()
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(given, candidate)
        return matched

    def role_of(self, node_header: str | None, admin_header: str | None) -> Role | None:
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


def _authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


def require_node(request: Request) -> Role:
    headers = request.headers
    role = _authenticator(request).role_of(headers.get(NODE_HEADER), headers.get(ADMIN_HEADER))
    if role is None:
        raise Unauthorized("a valid X-Keyforge-Secret header is required", code="unauthorized")
    return role


def require_admin(request: Request) -> Role:
    headers = request.headers
    role = _authenticator(request).role_of(headers.get(NODE_HEADER), headers.get(ADMIN_HEADER))
    if role is Role.ADMIN:
        return role
    if role is Role.NODE:
        raise Forbidden("this endpoint needs the admin secret", code="forbidden")
    raise Unauthorized("a valid X-Keyforge-Admin header is required", code="unauthorized")


NodeAuth = Annotated[Role, Depends(require_node)]
AdminAuth = Annotated[Role, Depends(require_admin)]
