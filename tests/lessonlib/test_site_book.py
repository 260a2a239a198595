"""The site as a book a reader trusts: every lesson page walked in chromium at 1280 px.

Each page: every figure has a caption and a real alt text, no machine path or object address
in the text, previous/next links, no code block wider than the column unless it scrolls, the
lesson's time and sources under its title. Lesson 04 shows the TensorBoard dashboards it
uses; the API reference lists the helpers lessons import and no internals.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest

from lessonlib.course.catalog import load_lessons
from lessonlib.paths import project_root
from lessonlib.site.build import build_site

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs the system chromium"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="lesson 01's graphs need dot"),
]
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|tmp|root|home|Users)/[\w./-]+")
ADDRESS = re.compile(r"\b0x[0-9a-f]{8,}\b")
PLACEHOLDER_ALT = "No description has been provided"

# The caption of an image: its own figure's; lessonlib.figures' figures are also numbered.
FIGURES_JS = """els => els.map(e => {
  const caption = f => (f && f.querySelector(':scope > figcaption')) || null;
  const own = caption(e.closest('figure'));
  const lesson = e.closest('figure.lesson-figure');
  return {
    alt: e.alt || '',
    caption: own ? own.textContent.trim() : '',
    numbered: lesson ? (caption(lesson) || {textContent: ''}).textContent.trim() : null,
    width: e.naturalWidth,
  };
})"""
WIDE_CODE_JS = """() => {
  const column = document.querySelector('article').getBoundingClientRect();
  const bad = [];
  for (const el of document.querySelectorAll('article pre')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    const style = getComputedStyle(el);
    const scrolls = ['auto', 'scroll'].includes(style.overflowX);
    const overflows = el.scrollWidth > el.clientWidth + 1 && !scrolls;
    if (box.right > column.right + 1 || overflows) bad.push(el.textContent.slice(0, 60));
  }
  return bad;
}"""


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("book")
    build_site(site_dir=target)  # every lesson; one that never ran is run once first
    return target


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(book):
    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(book))
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            yield tab
        finally:
            browser.close()


def lesson_problems(page, url: str) -> list[str]:
    """What a reader of one lesson page would trip over, one line each."""
    page.goto(url, wait_until="networkidle")
    problems = []
    figures = page.eval_on_selector_all("article img", FIGURES_JS)
    if not figures:
        problems.append("no figure at all")
    for i, fig in enumerate(figures, 1):
        if len(fig["alt"]) < 8 or PLACEHOLDER_ALT in fig["alt"]:
            problems.append(f"image {i} has no real alt text ({fig['alt'][:40]!r})")
        if not fig["caption"]:
            problems.append(f"image {i} has no caption")
        if fig["numbered"] is not None and not fig["numbered"].startswith("Figure "):
            problems.append(f"image {i} has no figure number")
        if fig["width"] == 0:
            problems.append(f"image {i} did not load")
    text = page.inner_text("article")
    problems += [f"machine path: {m}" for m in MACHINE_PATH.findall(text)[:3]]
    problems += [f"object address: {m}" for m in ADDRESS.findall(text)[:3]]
    if "On this 2-CPU machine" in text:
        problems.append("a sentence about the machine that built the page")
    for kind in ("prev", "next"):
        if page.locator(f"a.md-footer__link--{kind}").count() != 1:
            problems.append(f"no {kind} link at the end")
    problems += [f"code wider than the column: {t!r}" for t in page.evaluate(WIDE_CODE_JS)[:3]]
    facts = page.locator(".lesson-facts")
    if facts.count() != 1 or "min" not in facts.inner_text():
        problems.append("no time estimate and sources under the title")
    return problems


def test_every_lesson_page_reads_as_a_book(page, server, book):
    slugs = [lesson.slug for lesson in load_lessons()]
    assert sorted(p.parent.name for p in book.glob("lessons/*/index.html")) == slugs
    problems = {slug: lesson_problems(page, f"{server}lessons/{slug}/") for slug in slugs}
    problems = {slug: found for slug, found in problems.items() if found}
    assert not problems, problems


def test_tensorboard_lesson_shows_its_dashboards(page, server):
    slug = next(x.slug for x in load_lessons() if x.id == "04")
    page.goto(f"{server}lessons/{slug}/", wait_until="networkidle")
    alts = page.eval_on_selector_all("article img", "els => els.map(e => e.alt)")
    dashboards = [alt for alt in alts if alt.startswith("TensorBoard ")]
    assert len(dashboards) >= 6, dashboards


def test_the_lesson_source_is_next_to_its_page(book):
    for lesson in load_lessons():
        copied = book / "lessons" / lesson.slug / "lesson.py"
        assert copied.read_bytes() == lesson.script.read_bytes(), lesson.slug


def test_a_figure_zooms_on_click_and_closes(page, server):
    page.goto(f"{server}lessons/{load_lessons()[0].slug}/", wait_until="networkidle")
    page.locator("article figure.lesson-figure img").first.click()
    zoomed = page.locator(".lesson-lightbox img")
    assert zoomed.is_visible()
    assert zoomed.get_attribute("alt")
    page.keyboard.press("Escape")
    assert page.locator(".lesson-lightbox").count() == 0


def test_course_page_leads_to_lesson_01(page, server):
    page.goto(f"{server}course/", wait_until="networkidle")
    link = page.locator("article p.next-page a")
    assert link.inner_text().startswith("lesson 01")
    link.click()
    page.wait_for_load_state("networkidle")
    assert "01" in page.url


def test_search_excerpts_hold_prose_not_buttons(page, server):
    page.goto(server, wait_until="networkidle")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("Grad-CAM", delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    text = page.inner_text(".md-search-result")
    assert "Copied!" not in text


def test_reference_lists_what_lessons_import_and_no_internals(book):
    html = (book / "reference" / "index.html").read_text(encoding="utf-8")
    for name in (
        "gradcam.grad_cam",
        "gradcam.image_grid",
        "gradcam.overlay",
        "tensorboard.read_scalars",
        "tensorboard.start_tensorboard",
    ):
        assert f'id="lessonlib.{name}"' in html, name
    assert "Example, from lesson" in html
    for internal in ("file_digest", "save_state", "cached_check"):
        assert internal not in html, internal
    assert "file_digest" in (book / "internals" / "index.html").read_text(encoding="utf-8")


def test_syllabus_and_threat_model_pages(book):
    syllabus = (book / "syllabus" / "index.html").read_text(encoding="utf-8")
    for lesson in load_lessons():
        assert f"{lesson.id} — {lesson.title}" in syllabus
        for ex in lesson.exercises:
            assert ex.id in syllabus
    teaching = (book / "teaching" / "index.html").read_text(encoding="utf-8")
    assert 'href="../security/"' in teaching
    assert "Where it holds" in (book / "security" / "index.html").read_text(encoding="utf-8")
    assert "Where it holds" not in teaching


def test_pages_do_not_name_the_build_machine(book):
    root = str(project_root())
    for html in book.rglob("*.html"):
        text = re.sub(r"<[^>]+>", " ", html.read_text(encoding="utf-8", errors="replace"))
        assert root not in text, html.relative_to(book)
