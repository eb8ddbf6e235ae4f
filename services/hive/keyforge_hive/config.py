"""Hive settings, from the environment names of the contract."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from keyforge_shared.settings import ServiceSettings, require_real_secret


class HiveSettings(ServiceSettings):
    listen_port: int = Field(default=3000, ge=1, le=65535, validation_alias="KEYFORGE_LISTEN_PORT")
    database_url: SecretStr = Field(
        default=SecretStr("postgresql://keyforge@127.0.0.1:5432/keyforge"),
        validation_alias="DATABASE_URL",
    )
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

    @model_validator(mode="after")
    def _secrets_are_real(self) -> HiveSettings:
        require_real_secret("HIVE_SECRET", self.hive_secret, self.env)
        require_real_secret("HIVE_ADMIN_SECRET", self.admin_secret, self.env)
        return self
