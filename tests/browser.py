"""Real-browser tests: a headless Chromium page (Debian's `chromium` package, driven by playwright).

Fixtures (registered for every test by `pytest_plugins` in tests/conftest.py):

- `page`: a fresh playwright `Page` with JavaScript on, in a browser shared by
  the session. Only file:, data:, blob: and about: URLs load; any other request
  is aborted, and the test fails at teardown naming it (a report must be
  self-contained).
- `page_log`: what that page logged: console errors and uncaught exceptions.
- `screenshot`: `screenshot(page)` saves a PNG named after the test in
  `test-artifacts/` at the project root and returns its path.

The browser is the system binary (`apt-get install chromium`; .ci/run installs
it), never playwright's own download. Without it the tests skip locally and
fail under CI=true.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, require

ARTIFACTS = ROOT / "test-artifacts"
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
VIEWPORT = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    """The system Chromium binary, or None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


@dataclass
class PageLog:
    """What a page did that a test may want to assert on."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and blocked external requests, one line each."""
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"uncaught exception: {m}" for m in self.page_errors]
            + [f"external request blocked: {u}" for u in self.external_requests]
        )


def _is_local(url: str) -> bool:
    return url.startswith(LOCAL_SCHEMES)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    executable = chromium_path()
    require(executable is not None, "chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable,
            headless=True,
            # Belt and braces with the request routing below: no name resolves.
            args=["--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page_log() -> PageLog:
    """Console errors, uncaught exceptions and external requests of the test's `page`."""
    return PageLog()


@pytest.fixture
def page(browser: Any, page_log: PageLog) -> Iterator[Any]:
    """A fresh page that loads only local (file:, data:, blob:) resources; external ones fail the test."""
    context = browser.new_context(java_script_enabled=True, viewport=VIEWPORT, service_workers="block")

    def route(route: Any) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def request(req: Any) -> None:
        if not _is_local(req.url):
            page_log.external_requests.append(req.url)

    def console(msg: Any) -> None:
        if msg.type == "error":
            page_log.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def websocket(ws: Any) -> None:
        page_log.external_requests.append(ws.url)
        ws.close()  # never connected to a server

    context.route("**/*", route)
    context.route_web_socket(re.compile(".*"), websocket)
    new_page = context.new_page()
    new_page.on("request", request)
    new_page.on("console", console)
    new_page.on("pageerror", lambda exc: page_log.page_errors.append(str(exc)))
    try:
        yield new_page
    finally:
        context.close()
    if page_log.external_requests:
        pytest.fail("the page tried to load external resources: " + ", ".join(page_log.external_requests))


def artifact_path(node_id: str, suffix: str = ".png") -> Path:
    """`test-artifacts/<test module>__<test name><suffix>`, the folder created if needed."""
    module, _, test = node_id.partition("::")
    module = Path(module).stem if module.startswith("tests/") and module.count("/") == 1 else module.removesuffix(".py")
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{module}__{test}{suffix}".replace("::", "__")).strip("_")
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[..., Path]:
    """`screenshot(page, label="")`: save a full-page PNG named after the test (and label); return its path."""

    def save(target: Any, label: str = "") -> Path:
        path = artifact_path(request.node.nodeid, f"-{label}.png" if label else ".png")
        target.screenshot(path=str(path), full_page=True)
        return path

    return save
