"""Hive settings, from the environment names of the contract."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from keyforge_shared.kv_crypto import Keyring, parse_secrets_key
from keyforge_shared.settings import ProxiedServiceSettings, require_real_secret


class HiveSettings(ProxiedServiceSettings):
    listen_port: int = Field(default=3000, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://keyforge@127.0.0.1:5432/keyforge"),
        validation_alias="DATABASE_URL",
    )
    # The owner role's URL, used only to migrate; without it the hive migrates
    # as DATABASE_URL's role (which then owns the schema).
    migration_database_url: SecretStr | None = Field(
        default=None, validation_alias="KEYFORGE_MIGRATION_DATABASE_URL"
    )
    # Off: the hive never migrates at start-up (`keyforge-hive migrate` did),
    # it only refuses to serve a schema that is not at head.
    migrate: bool = Field(default=True, validation_alias="KEYFORGE_MIGRATE")
    hive_secret: SecretStr | None = Field(default=None, validation_alias="HIVE_SECRET")
    hive_secret_previous: SecretStr | None = Field(
        default=None, validation_alias="HIVE_SECRET_PREVIOUS"
    )
    admin_secret: SecretStr | None = Field(default=None, validation_alias="HIVE_ADMIN_SECRET")
    admin_secret_previous: SecretStr | None = Field(
        default=None, validation_alias="HIVE_ADMIN_SECRET_PREVIOUS"
    )
    migrations_dir: Path | None = Field(default=None, validation_alias="KEYFORGE_MIGRATIONS_DIR")
    body_limit_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        le=256 * 1024 * 1024,
        validation_alias="KEYFORGE_BODY_LIMIT",
    )
    pg_pool_size: int = Field(default=10, ge=1, le=100, validation_alias="KEYFORGE_PG_POOL_SIZE")
    # How often a hive prunes old results (result_retention_days is read at each pass).
    retention_pass_s: float = Field(
        default=600.0, gt=0, le=86400, validation_alias="KEYFORGE_RETENTION_PASS_S"
    )
    # How often a hive moves the work units Valkey summed from heartbeats to Postgres.
    work_units_flush_s: float = Field(
        default=30.0, gt=0, le=3600, validation_alias="KEYFORGE_WORK_UNITS_FLUSH_S"
    )
    # Base64 AES-256 keys for KV secrets; the previous one only decrypts (rotation).
    secrets_key: SecretStr | None = Field(default=None, validation_alias="KEYFORGE_SECRETS_KEY")
    secrets_key_previous: SecretStr | None = Field(
        default=None, validation_alias="KEYFORGE_SECRETS_KEY_PREVIOUS"
    )

    @field_validator("secrets_key", "secrets_key_previous")
    @classmethod
    def _secrets_key_is_aes256(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_secrets_key(value.get_secret_value())  # ValueError names no value
        return value

    def secrets_keyring(self) -> Keyring | None:
        if self.secrets_key is None:
            return None
        previous = self.secrets_key_previous
        return Keyring.from_keys(
            parse_secrets_key(self.secrets_key.get_secret_value()),
            parse_secrets_key(previous.get_secret_value()) if previous else None,
        )

    @model_validator(mode="after")
    def _secrets_are_real(self) -> HiveSettings:
        require_real_secret("HIVE_SECRET", self.hive_secret, self.env)
        require_real_secret("HIVE_ADMIN_SECRET", self.admin_secret, self.env)
        return self
