"""The docs site as a reader sees it: built strictly, opened in chromium, fully offline."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from lessonlib.site.build import build_site

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs the system chromium"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="lesson 01's graphs need dot"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    build_site(site_dir=target, lessons=["01"])  # strict: any warning fails the build
    return target


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(Quiet, directory=str(site))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        tab = browser.new_page()
        outside: list[str] = []
        tab.on(
            "request",
            lambda r: (
                outside.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None
            ),
        )
        tab.outside = outside
        try:
            yield tab
        finally:
            browser.close()


def test_site_has_the_pages(site):
    for page in (
        "index.html",
        "course/index.html",
        "teaching/index.html",
        "reference/index.html",
        "lessons/01_autograd_graphs/index.html",
    ):
        assert (site / page).is_file(), page


def test_lesson_01_graph_images_load(page, server):
    page.goto(server + "lessons/01_autograd_graphs/", wait_until="networkidle")
    sizes = page.eval_on_selector_all("article img", "els => els.map(e => e.naturalWidth)")
    assert len(sizes) >= 5, f"only {len(sizes)} images on the page"
    assert all(width > 0 for width in sizes), sizes
    text = page.inner_text("article")
    assert "make_dot" in text and "resnet18 backward graph: 195 nodes" in text
    assert "01.4 — The path from the loss to a parameter" in text


def test_search_finds_the_lesson_for_make_dot(page, server):
    page.goto(server, wait_until="networkidle")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("make_dot", delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    links = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
    assert any("01_autograd_graphs" in link for link in links), links


def test_no_request_left_the_machine(page):
    assert page.outside == [], page.outside[:5]
