"""Debian's chromium through Playwright's sync API, started when a test first needs it and
stopped before a test that runs an event loop of its own.

While Playwright runs, its event loop runs in the main thread, and ``asyncio.run`` (anyio's
test runner too) refuses to start there. Under pytest-xdist a worker may take a module of async
tests after a browser module, so the browser is not held for the whole session: ``stop()`` is
called before every test outside ``tests/web`` (``tests/conftest.py``)."""

from __future__ import annotations

from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class Chromium:
    """One headless chromium for this test process, while browser tests run."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def browser(self) -> Browser:
        if self._browser is None:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
        return self._browser

    def stop(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


CHROMIUM_PROCESS = Chromium()
