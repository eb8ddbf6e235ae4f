"""Secrets at rest: AES-256-GCM under ``KEYFORGE_SECRETS_KEY``.

Format of one sealed value, stored in three ``kv`` columns:

* ``key_id``: 16 hex digits, the first 8 bytes of SHA-256 over a label and
  the key. It names the key without revealing it, so a hive holding another
  key refuses clearly ("sealed with key X, this hive holds Y") instead of
  failing on the tag, and a rotation knows which rows still need the old key.
* ``nonce``: 12 random bytes, fresh for every write (random 96-bit nonces
  stay far below GCM's collision bound at any realistic write count).
* ``ciphertext``: AES-GCM output, the encrypted UTF-8 value followed by the
  16-byte tag.

The associated data binds a ciphertext to its namespace, key and version,
so a row copied onto another key or version fails authentication rather
than decrypting as the wrong secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
AAD_LABEL = "keyforge/kv/v1"
_KEY_ID_LABEL = b"keyforge secrets key id\x00"


class SecretsKeyMismatch(Exception):
    """The value was sealed under a key this process does not hold."""

    def __init__(self, wanted: str, held: tuple[str, ...]) -> None:
        held_text = ", ".join(held) or "none"
        super().__init__(
            f"this secret was encrypted with key id {wanted}; this hive holds key id "
            f"{held_text}. Set KEYFORGE_SECRETS_KEY (or KEYFORGE_SECRETS_KEY_PREVIOUS "
            "during a rotation) to the key that wrote it"
        )
        self.wanted = wanted
        self.held = held


class SecretTampered(Exception):
    """Right key, but the ciphertext does not authenticate (altered, moved or corrupt)."""


def parse_secrets_key(text: str) -> bytes:
    """Decode a base64 key; ValueError (never quoting the input) unless it is 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be standard base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"must decode to exactly {KEY_BYTES} bytes (AES-256), got {len(raw)}")
    return raw


def key_id(key: bytes) -> str:
    return hashlib.sha256(_KEY_ID_LABEL + key).hexdigest()[:16]


def secret_aad(namespace: str, key: str, version: int) -> bytes:
    # A JSON array is an unambiguous encoding of the three parts.
    return json.dumps([AAD_LABEL, namespace, key, version], separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Sealed:
    key_id: str
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class Keyring:
    """The current key (seals and opens) and, during a rotation, the previous one (opens)."""

    keys: dict[str, bytes]
    current_id: str

    @classmethod
    def from_keys(cls, current: bytes, previous: bytes | None = None) -> Keyring:
        keys = {key_id(current): current}
        if previous is not None:
            keys.setdefault(key_id(previous), previous)
        return cls(keys, key_id(current))

    def __repr__(self) -> str:  # never print key bytes, whatever logs the object
        return f"Keyring(current={self.current_id}, ids={sorted(self.keys)})"

    def seal(self, plaintext: str, aad: bytes) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        aead = AESGCM(self.keys[self.current_id])
        return Sealed(self.current_id, nonce, aead.encrypt(nonce, plaintext.encode(), aad))

    def open(self, sealed: Sealed, aad: bytes) -> str:
        key = self.keys.get(sealed.key_id)
        if key is None:
            raise SecretsKeyMismatch(sealed.key_id, tuple(self.keys))
        try:
            plain = AESGCM(key).decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag:
            raise SecretTampered(
                f"secret sealed with key id {sealed.key_id} does not authenticate: "
                "the stored ciphertext was altered or moved to another key or version"
            ) from None
        return plain.decode()
