"""The docs site as a reader sees it: built strictly, opened in chromium, fully offline.

Lessons 01 and 07 are built (each runs once first unless its executed notebook in build/ is
current): 01 for graphs, TOC, hints and search, 07 for its math.
"""

from __future__ import annotations

import functools
import http.server
import json
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
    build_site(site_dir=target, lessons=["01", "07"])  # strict: any warning fails the build
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
        "lessons/07_gradcam/index.html",
        "assets/katex/katex.min.js",
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


def test_lesson_07_math_is_typeset_by_the_local_katex(page, server):
    page.goto(server + "lessons/07_gradcam/", wait_until="networkidle")
    page.wait_for_selector("article .katex", timeout=10_000)
    assert page.locator("article .katex").count() >= 3
    text = page.inner_text("article")
    assert "\\alpha" not in text and "\\frac" not in text


def test_code_in_a_heading_stays_in_the_toc(page, server):
    page.goto(server + "lessons/01_autograd_graphs/", wait_until="networkidle")
    toc = page.eval_on_selector_all(
        ".md-nav--secondary a", "els => els.map(e => e.textContent.trim())"
    )
    assert "1. Leaves, grad_fn and next_functions" in toc, toc[:4]


def test_hints_are_shown_as_written(page, server):
    page.goto(server + "lessons/01_autograd_graphs/", wait_until="networkidle")
    hints = " ".join(
        page.eval_on_selector_all("article details", "els => els.map(e => e.textContent)")
    )
    assert "type(node).__name__" in hints
    assert 'n0 [label="AddmmBackward0"];' in hints
    assert "<strong>name</strong>" not in page.content()


def test_the_executed_notebook_can_be_downloaded(page, server):
    page.goto(server + "lessons/01_autograd_graphs/", wait_until="networkidle")
    links = page.eval_on_selector_all("article a[href$='.ipynb']", "els => els.map(e => e.href)")
    assert links and page.get_by_text("Download the notebook").count() == 1
    assert "jupyter lab" in page.inner_text("article")
    response = page.request.get(links[0])
    assert response.status == 200
    cells = json.loads(response.body())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c["outputs"]]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_long_code_lines_wrap_instead_of_hiding(page, server):
    page.goto(server + "lessons/07_gradcam/", wait_until="networkidle")
    hidden = page.eval_on_selector_all(
        "article pre",
        "els => els.filter(e => e.scrollWidth > e.clientWidth + 2).length",
    )
    assert hidden == 0


def test_light_dark_toggle(page, server):
    page.goto(server, wait_until="networkidle")
    before = page.get_attribute("body", "data-md-color-scheme")
    page.locator("label.md-header__button[for^='__palette']:visible").first.click()
    after = page.get_attribute("body", "data-md-color-scheme")
    assert {before, after} == {"default", "slate"}


def test_no_request_left_the_machine(page):
    assert page.outside == [], page.outside[:5]
