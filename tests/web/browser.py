"""Debian's chromium, driven by Playwright, looking at a local stack through Apache and TLS.

``*.localhost`` names are mapped to 127.0.0.1 with ``--host-resolver-rules``;
the stack's dev TLS is trusted by the SPKI hash of the certificate Apache
shows (``--ignore-certificate-errors-spki-list``, honoured with a
``--user-data-dir`` of our own). Playwright's own browser downloads are never
used: ``bin/ensure-chromium`` installs the system's chromium.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from tests.devstack.ingress_support import Stack

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 1400}
# Records every CSP violation the page sees, before any of its own scripts run.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (bin/ensure-chromium installs Debian's chromium)")


def spki_sha256(stack: Stack) -> str:
    """The base64 SHA-256 of the public key Apache's certificate carries."""
    pem = ssl.get_server_certificate(("127.0.0.1", stack.https_port))
    cert = x509.load_pem_x509_certificate(pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def chromium_args(stack: Stack) -> list[str]:
    names = [stack.host(), stack.host("api"), stack.host("assets")]
    rules = ", ".join(f"MAP {name} 127.0.0.1" for name in names)
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--host-resolver-rules={rules}",
        f"--ignore-certificate-errors-spki-list={spki_sha256(stack)}",
    ]


@dataclass
class Dashboard:
    """The page open in chromium, with everything it complained about."""

    page: Page
    shots: Path
    console_errors: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            # A failed load names no URL in its text: the location does.
            url = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({url})" if url else message.text)

    def csp_violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__cspViolations")
        return found

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def eval(self, script: str) -> Any:
        return self.page.evaluate(script)


@contextlib.contextmanager
def open_dashboard(stack: Stack, workdir: Path) -> Iterator[Dashboard]:
    """The front end at https://<domain>:<port>/ in a fresh chromium profile under ``workdir``."""
    require_chromium()
    shots = workdir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=chromium_args(stack),
            viewport=VIEWPORT,  # type: ignore[arg-type]
            device_scale_factor=1,
        )
        try:
            context.add_init_script(WATCH_CSP)
            page = context.new_page()
            dashboard = Dashboard(page, shots)
            page.on("console", dashboard._console)
            page.on("pageerror", lambda error: dashboard.console_errors.append(str(error)))
            page.goto(f"https://{stack.host()}:{stack.https_port}/", wait_until="load")
            yield dashboard
        finally:
            context.close()
