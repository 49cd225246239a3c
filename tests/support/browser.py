"""Headless Chromium from Debian (`apt-get install chromium`), driven by Playwright for Python.

Playwright's own browser downloads are never used (`playwright install` is not run): the system
binary is launched directly, offline, with everything that would call home turned off.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MISSING = (
    "no chromium binary: install Debian's with `apt-get install -y chromium` "
    "(`make test` does), or point CHROMIUM_PATH at one"
)


def chromium_path() -> str | None:
    """The system Chromium: CHROMIUM_PATH, else `chromium` or `chromium-browser` on PATH."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Playwright's sync API runs one event loop per thread, so one test process shares one browser:
# a second `chromium()` while the first is open (two modules' fixtures) gets the same one.
_shared: list[Browser] = []


@contextmanager
def chromium() -> Iterator[Browser]:
    if _shared:
        yield _shared[0]
        return
    path = chromium_path()
    if path is None:
        raise RuntimeError(MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=ARGS, headless=True)
        _shared.append(browser)
        try:
            yield browser
        finally:
            _shared.clear()
            browser.close()
