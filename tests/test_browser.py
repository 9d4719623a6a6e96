"""A reader on a phone: the real server, Debian's Chromium driven by Playwright.

`syndicate init --demo` fills a SQLite database, `syndicate serve` serves it on a free
loopback port, and a 390x844 phone opens a post, copies its short link, scans the QR code
(decoded with zxing-cpp) and follows the short link to the canonical post.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from .test_workers import server

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "locale": "zh-CN"}

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def cli(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-c", "from syndicate.cli import main; main()", *args]
    subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo site served by `syndicate serve`; yields its base URL."""
    tmp_path = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{tmp_path / 'demo.db'}"
    cli("init", "--demo", env={"SYNDICATE_DATABASE_URL": database_url,
                               "SYNDICATE_INSTANCE": str(tmp_path)})
    with server(tmp_path, database_url) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox"])
        yield chromium
        chromium.close()


def open_first_post(browser: Any, base: str, **options: Any) -> Any:
    context = browser.new_context(**PHONE, **options)
    page = context.new_page()
    page.goto(base + "/")
    href = page.locator("ul.posts a").first.get_attribute("href")
    assert href and href.endswith(".html")
    response = page.goto(base + href)
    assert response is not None and response.status == 200
    return page


def assert_fits_the_phone(page: Any) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] == 390, width


def scan_qr(page: Any) -> list[str]:
    qr = page.locator(".share-qr img")
    qr.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    png = qr.screenshot()
    return [found.text for found in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_a_phone_copies_scans_and_follows_the_short_link(site: str, browser: Any) -> None:
    page = open_first_post(browser, site)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    canonical = page.locator('link[rel="canonical"]').get_attribute("href")
    assert canonical == page.url
    short = page.input_value("#share-url")
    assert short.startswith(f"{site}/s/") and len(short) == len(f"{site}/s/") + 12
    assert_fits_the_phone(page)

    button = page.locator("#share-copy")
    box = button.bounding_box()
    assert box and box["height"] >= 44  # a thumb can hit it
    button.tap()
    # A function, not an expression: Playwright evals expressions, which the page's CSP forbids.
    page.wait_for_function("() => document.getElementById('share-copy').textContent === '已复制'")
    assert page.evaluate("navigator.clipboard.readText()") == short

    assert scan_qr(page) == [short]

    response = page.goto(short)
    assert response is not None and response.status == 200
    assert page.url == canonical
    assert response.request.redirected_from.url == short


def test_the_panel_fits_and_scans_in_dark_mode(site: str, browser: Any) -> None:
    page = open_first_post(browser, site, color_scheme="dark")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert_fits_the_phone(page)
    assert scan_qr(page) == [page.input_value("#share-url")]


def test_without_javascript_the_link_is_there_to_select(site: str, browser: Any) -> None:
    page = open_first_post(browser, site, java_script_enabled=False)
    field = page.locator("#share-url")
    assert field.is_visible() and field.input_value().startswith(f"{site}/s/")
    assert not page.locator("#share-copy").is_visible()  # a button that could not copy is hidden
    assert_fits_the_phone(page)
