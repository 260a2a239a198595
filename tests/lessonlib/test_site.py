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
        failed: list[str] = []  # every 4xx/5xx answer of the local server, e.g. a missing file
        tab.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        tab.failed = failed
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
    code = page.eval_on_selector_all(
        ".md-nav--secondary a code", "els => els.map(e => e.textContent.trim())"
    )
    assert {"grad_fn", "next_functions"} <= set(code), code  # shown as code, as in the heading


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
    data = [(k, "".join(v)) for o in outputs for k, v in o.get("data", {}).items()]
    assert any(k.startswith("image/") or "<img" in v for k, v in data), "no figure embedded"


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


def test_no_request_failed(page):
    assert page.failed == [], page.failed[:5]  # (the theme once asked each page for sitemap.xml)


# ----------------------------------------------------------------- the Korean edition (issue 14)

KO_LESSON = "ko/lessons/01_autograd_graphs/"


def test_korean_lesson_page_has_korean_prose_and_the_same_figures(page, server):
    import re

    page.goto(server + KO_LESSON, wait_until="networkidle")
    assert page.get_attribute("html", "lang") == "ko"
    text = page.inner_text("article")
    assert "역전파 그래프" in text and "01.1 — 리프 텐서 찾기" in text
    assert len(re.findall(r"[\uac00-\ud7a3]", text)) > 1500
    sizes = page.eval_on_selector_all("article img", "els => els.map(e => e.naturalWidth)")
    assert len(sizes) >= 5 and all(width > 0 for width in sizes), sizes
    assert "resnet18 backward graph: 195 nodes" in text  # the same executed output
    nav = page.inner_text("nav.md-nav--primary")
    assert "강의" in nav and "Lessons" not in nav


def test_korean_headings_keep_their_hangul_in_anchors_and_the_toc(page, server):
    """Shareable section links read as the heading does (#연습-문제, not #_5 or #4)."""
    import re

    page.goto(server + KO_LESSON, wait_until="networkidle")
    ids = page.eval_on_selector_all("article h2[id]", "els => els.map(e => e.id)")
    assert ids and all(re.search(r"[\uac00-\ud7a3]", i) for i in ids), ids
    toc = page.eval_on_selector_all(".md-nav--secondary a", "els => els.map(e => e.hash)")
    assert {f"#{i}" for i in ids} <= {decode(h) for h in toc}, toc
    page.goto(server + "ko/course/", wait_until="networkidle")
    ids = page.eval_on_selector_all("article h2[id]", "els => els.map(e => e.id)")
    assert ids and not any(re.fullmatch(r"_\d+", i) for i in ids), ids


def decode(fragment: str) -> str:
    from urllib.parse import unquote

    return unquote(fragment)


def test_korean_page_links_to_its_english_twin(page, server):
    page.goto(server + KO_LESSON, wait_until="networkidle")
    page.click("a.lessonlib-twin")
    page.wait_for_load_state("networkidle")
    assert page.url == server + "lessons/01_autograd_graphs/"
    assert page.get_attribute("html", "lang") == "en"
    assert "Autograd graphs" in page.inner_text("article h1")
    menu = page.eval_on_selector_all("a.md-select__link", "els => els.map(e => e.href)")
    assert server + KO_LESSON in menu, menu


def test_korean_search_finds_the_korean_lesson(page, server):
    page.goto(server + "ko/", wait_until="networkidle")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("역전파", delay=30)
    box.press("End")  # a key event: Hangul arrives as composed text, which material does not watch
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    links = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(e => e.href)")
    assert any(KO_LESSON in link for link in links), links


def test_hangul_renders_with_real_glyphs(page, server):
    """No tofu: distinct Hangul syllables draw distinct, inked glyphs in the page's own font,
    unlike a code point no font has (drawn as the same empty or boxed .notdef)."""
    page.goto(server + KO_LESSON, wait_until="networkidle")
    result = page.evaluate(
        """() => {
        const font = getComputedStyle(document.querySelector("article p")).fontFamily;
        const c = document.createElement("canvas"); c.width = c.height = 64;
        const g = c.getContext("2d");
        const draw = (ch) => {
          g.clearRect(0, 0, 64, 64); g.font = "40px " + font; g.fillText(ch, 4, 48);
          return Array.from(g.getImageData(0, 0, 64, 64).data.filter((_, i) => i % 4 === 3));
        };
        const glyphs = ["한", "국", "어", "\\u{10FFFD}", "\\u{10FFFC}"].map(draw);
        const ink = glyphs.map((px) => px.filter((a) => a > 128).length);
        const same = (a, b) => a.every((v, i) => v === b[i]);
        const distinct = !same(glyphs[0], glyphs[1]) && !same(glyphs[1], glyphs[2]);
        return {font, ink, hangulDistinct: distinct, hangulIsTofu: same(glyphs[0], glyphs[3])};
    }"""
    )
    assert result["hangulDistinct"] and not result["hangulIsTofu"], result
    assert all(n > 20 for n in result["ink"][:3]), result
    shot = page.locator("article h1").screenshot()
    assert len(shot) > 1000  # the heading "01강 — Autograd 그래프" as pixels


def test_korean_pages_made_no_outside_request(page):
    assert page.outside == [], page.outside[:5]
    assert page.failed == [], page.failed[:5]
