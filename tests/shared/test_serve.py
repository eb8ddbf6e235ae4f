"""KEYFORGE_TRUSTED_PROXIES: which peers' X-Forwarded-* a service believes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from keyforge_shared.settings import ServiceSettings


def test_nobody_is_trusted_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEYFORGE_TRUSTED_PROXIES", raising=False)
    assert ServiceSettings().trusted_networks == []


def test_addresses_and_networks_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEYFORGE_TRUSTED_PROXIES", " 127.0.0.1, 172.28.0.0/24 ,::1,")
    assert ServiceSettings().trusted_networks == ["127.0.0.1", "172.28.0.0/24", "::1"]


@pytest.mark.parametrize("value", ["*", "proxy.example", "10.0.0.0/33"])
def test_anything_but_addresses_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KEYFORGE_TRUSTED_PROXIES", value)
    with pytest.raises(ValidationError):
        ServiceSettings()
