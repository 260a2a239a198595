"""mkdocs hooks for the Korean edition: ``/ko/`` twins of every page in the same build.

Named in mkdocs.yml under ``hooks:`` after ``hooks.py`` (which writes the English lesson
pages). Each Korean lesson page is the English page's notebook — the same executed code cells
and outputs, never run again — with its markdown cells replaced by their translations from
``lessons/NN_x/ko.toml`` (a cell without one stays English) and Korean exercises and hints.
Hand-written pages come from ``docs/ko/*.md``. The Korean pages sit in the nav under one
section that is taken out of the English nav and given to Korean pages as their own nav
(Korean labels); the theme speaks Korean on them (``theme.language``), and the header's
language menu links each page to its twin.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
from pathlib import Path, PurePosixPath

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.nav import Navigation, Section
from mkdocs.structure.toc import get_toc

from lessonlib.course.catalog import Lesson, load_lessons
from lessonlib.course.i18n import cell_keys, lesson_translations, localized
from lessonlib.paths import build_dir

LANG = "ko"
SECTION = "한국어"
SITE_NAME = "PyTorch 모델 속 들여다보기"
LESSON_DOCS = "lessons"
NAV_LABELS = {
    "Home": "홈",
    "How to take this course": "수강 안내",
    "Lessons": "강의",
    "Teacher's guide": "교사용 안내",
    "Teaching with the course": "이 과정으로 가르치기",
    "Syllabus": "강의 계획서",
    "The grader's threat model": "채점기의 위협 모델",
    "API reference": "API 레퍼런스",
    "For contributors": "기여자 안내",
    "Translating the course": "번역 안내",
}
_EXTRA_KO_PAGES = [{"용어집": "ko/glossary.md"}]
_state: dict = {"nav": None, "en_urls": set(), "ko_urls": set()}
_LESSONS_MARK = "<!-- lessons-table -->"
_NEXT_LESSON_MARK = "<!-- next-lesson -->"


def enabled() -> bool:
    """False when ``LESSONLIB_SITE_LANGUAGES=en`` (the English-only build, for benchmarks)."""
    return LANG in os.environ.get("LESSONLIB_SITE_LANGUAGES", f"en,{LANG}").split(",")


def _lessons() -> dict[str, Lesson]:
    return {lesson.slug: lesson for lesson in load_lessons()}


def korean_lesson(src_uri: str, lessons: dict[str, Lesson]) -> Lesson | None:
    """The lesson a Korean page shows (``ko/lessons/<slug>.ipynb``), or None."""
    path = PurePosixPath(src_uri)
    if path.parent.as_posix() != f"{LANG}/{LESSON_DOCS}":
        return None
    return lessons.get(path.stem)


# ----------------------------------------------------------------------------- page notebooks


def exercises_markdown_ko(lesson: Lesson) -> str:
    """The Korean exercises section: task, signature, points and folded hints."""
    from lessonlib.site.build import _docstrings, _signature, verbatim_html

    docs = _docstrings(lesson.exercises_file)
    parts = [
        "## 연습 문제\n",
        f"`lessons/{lesson.slug}/exercises.py`를 열어 각 함수를 채운 뒤 "
        f"`lessonlib check {lesson.id}`를 실행하세요(`lessonlib watch {lesson.id}`는 "
        "저장할 때마다 다시 검사합니다). 막히면 "
        "`lessonlib hint <번호>`가 힌트를 하나씩 보여 줍니다. 힌트는 아래에도 접혀 있습니다.\n",
    ]
    for ex in lesson.exercises:
        title = localized(lesson, ("exercises", ex.id, "title"), ex.title, LANG)
        parts.append(f"### {ex.id} — {title} ({ex.points}점)\n")
        parts.append("```python\n" + _signature(lesson.exercises_file, ex.function) + "\n```\n")
        task = docs.get(ex.function, "").strip()
        parts.append(localized(lesson, ("exercises", ex.id, "task"), task, LANG) + "\n")
        for i, text in enumerate(ex.hints, 1):
            text = localized(lesson, ("exercises", ex.id, "hints", str(i)), text, LANG)
            parts.append(
                f"<details><summary>힌트 {i}</summary><p>{verbatim_html(text)}</p></details>\n"
            )
    return "\n".join(parts)


def download_markdown_ko(lesson: Lesson, name: str) -> str:
    return (
        f'<p class="lessonlib-notebook"><a href="{name}" download>노트북 내려받기</a> '
        f"(<code>{name}</code>: 이 페이지를 실행한 결과, 출력 포함). 어떤 Jupyter로도 그대로 "
        f"볼 수 있습니다. 셀을 다시 실행하려면 과정의 환경이 필요합니다(셀이 "
        f"<code>lessonlib</code>을 import합니다). 과정 폴더에서 "
        f"<code>bash scripts/uv.sh pip install --python .venv jupyterlab</code> 후 "
        f"<code>.venv/bin/jupyter lab {name}</code>를 실행하세요. "
        f"<code>lessonlib run {lesson.id}</code>도 같은 노트북을 "
        f"<code>build/{lesson.id}/</code>에 씁니다.</p>"
    )


def korean_page_notebook(lesson: Lesson, page: dict) -> dict:
    """The Korean twin of an English page notebook: prose cells, download line and exercises
    in Korean; code cells and outputs copied as they are."""
    nb = json.loads(json.dumps(page))
    tr = lesson_translations(lesson, LANG)
    cells = nb["cells"]
    md = [c for c in cells if c["cell_type"] == "markdown"]
    download = next((c for c in md if "lessonlib-notebook" in "".join(c["source"])), None)
    exercises = md[-1] if md and "".join(md[-1]["source"]).startswith("## Exercises") else None
    prose = [c for c in md if c is not download and c is not exercises]
    texts = ["".join(c["source"]) for c in prose]
    for cell, key in zip(prose, cell_keys(texts), strict=True):
        korean = tr.text(("cells", key))
        if korean:
            cell["source"] = korean
    name = "notebook.ipynb"
    if download is not None:
        src = "".join(download["source"])
        name = src.split('href="', 1)[1].split('"', 1)[0] if 'href="' in src else name
        download["source"] = download_markdown_ko(lesson, name)
    if exercises is not None:
        exercises["source"] = exercises_markdown_ko(lesson)
    return nb


def write_korean_pages(pages: list[str]) -> list[str]:
    """Write ``build/docs_src/ko/lessons/<slug>.ipynb`` for each English page notebook."""
    lessons = _lessons()
    out = build_dir("docs_src", LANG, LESSON_DOCS)
    written = []
    for page in pages:
        path = Path(page)
        lesson = lessons.get(path.stem)
        if lesson is None or not path.is_file():
            continue
        nb = korean_page_notebook(lesson, json.loads(path.read_text(encoding="utf-8")))
        text = json.dumps(nb, ensure_ascii=False, indent=1) + "\n"
        target = out / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
        written.append(str(target))
    return written


# ----------------------------------------------------------------------------- nav


def korean_nav(items: list, docs_dir: Path, lessons: dict[str, Lesson]) -> list:
    """The English nav with Korean labels and ``ko/`` pages (pages without a twin left out)."""
    out = []
    for item in items:
        if isinstance(item, str):
            item = {"": item}
        for label, value in item.items():
            name = NAV_LABELS.get(label, label)
            if isinstance(value, list):
                children = korean_nav(value, docs_dir, lessons)
                if children or label == "Lessons":
                    out.append({name: children})
                continue
            path = PurePosixPath(value)
            if path.parent.as_posix() == LESSON_DOCS and path.stem in lessons:
                lesson = lessons[path.stem]
                title = localized(lesson, ("title",), lesson.title, LANG)
                out.append({f"{lesson.id} — {title}": f"{LANG}/{value}"})
            elif (docs_dir / LANG / value).is_file():
                out.append({name: f"{LANG}/{value}"} if name else f"{LANG}/{value}")
    return out


def on_config(config):
    if not enabled():
        return config
    pages = write_korean_pages(config["extra"].get("lesson_pages", []))
    config["extra"]["ko_lesson_pages"] = pages
    docs_dir = Path(config["docs_dir"])
    nav = [x for x in config["nav"] or [] if not (isinstance(x, dict) and SECTION in x)]
    ko = korean_nav(nav, docs_dir, _lessons())
    ko += [x for x in _EXTRA_KO_PAGES if (docs_dir / next(iter(x.values()))).is_file()]
    config["nav"] = nav + [{SECTION: ko}]
    return config


@event_priority(90)
def on_files(files, config):
    if not enabled():
        for file in [f for f in files if f.src_uri.startswith(f"{LANG}/")]:
            files.remove(file)
        return files
    src_dir = str(build_dir("docs_src"))
    for path in config["extra"].get("ko_lesson_pages", []):
        name = path.rsplit("/", 1)[-1]
        uri = f"{LANG}/{LESSON_DOCS}/{name}"
        files.append(File(uri, src_dir, config["site_dir"], config["use_directory_urls"]))
    return files


def _link_pages(pages) -> None:
    for i, page in enumerate(pages):
        page.previous_page = pages[i - 1] if i else None
        page.next_page = pages[i + 1] if i + 1 < len(pages) else None


def on_nav(nav, config, files):
    """Take the Korean section out of the nav; it becomes the Korean pages' own nav."""
    section = next((x for x in nav.items if isinstance(x, Section) and x.title == SECTION), None)
    if section is None:
        return nav
    nav.items.remove(section)
    for child in section.children:
        child.parent = None
    ko_pages = [p for p in nav.pages if p.file.src_uri.startswith(f"{LANG}/")]
    en_pages = [p for p in nav.pages if not p.file.src_uri.startswith(f"{LANG}/")]
    _link_pages(en_pages)
    _link_pages(ko_pages)
    nav.pages = en_pages
    ko_nav = Navigation(section.children, ko_pages)
    ko_nav.homepage = next((p for p in ko_pages if p.file.src_uri == f"{LANG}/index.md"), None)
    _state["nav"] = ko_nav
    _state["urls"] = {f.src_uri: f.url for f in files.documentation_pages()}
    return nav


def twin_uri(src_uri: str) -> str:
    """The other language's source path of a page: ``x.md`` <-> ``ko/x.md``."""
    prefix = f"{LANG}/"
    return src_uri[len(prefix) :] if src_uri.startswith(prefix) else prefix + src_uri


def on_page_context(context, page, config, nav):
    if not enabled():
        return context
    korean = page.file.src_uri.startswith(f"{LANG}/")
    urls = _state.get("urls", {})
    twin = urls.get(twin_uri(page.file.src_uri))
    if korean:
        if _state["nav"] is not None:
            context["nav"] = _state["nav"]
        en, ko = twin if twin is not None else "", page.file.url
    else:
        en, ko = page.file.url, twin if twin is not None else f"{LANG}/"
    config["theme"]["language"] = LANG if korean else "en"
    _state.setdefault("site_name", config["site_name"])
    config["site_name"] = SITE_NAME if korean else _state["site_name"]
    config["extra"]["alternate"] = [
        {"name": "English", "link": en or "./", "lang": "en"},
        {"name": "한국어", "link": ko, "lang": LANG},
    ]
    return context


def on_pre_template(template, template_name, config):
    """Static templates (404.html, sitemap.xml) are rendered after the pages: in English."""
    config["theme"]["language"] = "en"
    config["site_name"] = _state.get("site_name", config["site_name"])
    config["extra"].pop("alternate", None)
    return template


# ----------------------------------------------------------------------------- page content


def lessons_table_ko(lessons: list[Lesson]) -> str:
    rows = ["| 강의 | 무엇을 보게 되나 | 도구 |", "|---|---|---|"]
    for lesson in lessons:
        title = localized(lesson, ("title",), lesson.title, LANG)
        summary = localized(lesson, ("summary",), lesson.summary, LANG)
        link = f"[{lesson.id} — {title}]({LESSON_DOCS}/{lesson.slug}.ipynb)"
        rows.append(f"| {link} | {summary} | {', '.join(lesson.tools)} |")
    return "\n".join(rows)


def _before_ko(lesson: Lesson, by_id: dict[str, Lesson]) -> str:
    items = []
    for i, item in enumerate(lesson.prerequisites, 1):
        found = by_id.get(item.strip())
        if found is not None:
            items.append(f"{found.id}강 ({localized(found, ('title',), found.title, LANG)})")
        else:
            items.append(localized(lesson, ("prerequisites", str(i)), item, LANG))
    return ", ".join(items) or "없음"


def syllabus_markdown_ko(lessons: list[Lesson]) -> str:
    """The Korean syllabus: per lesson objectives, time, prerequisites and exercises."""
    by_id = {lesson.id: lesson for lesson in lessons}
    parts = []
    for lesson in lessons:
        title = localized(lesson, ("title",), lesson.title, LANG)
        parts.append(f"### {lesson.id} — {title}\n")
        parts.append(
            f"**수업:** {lesson.minutes_class or '?'}분 · "
            f"**과제:** {lesson.minutes_home or '?'}분 · "
            f"**점수:** {lesson.points} · **선수 과목:** {_before_ko(lesson, by_id)}\n"
        )
        goals = [
            localized(lesson, ("objectives", str(i)), o, LANG)
            for i, o in enumerate(lesson.objectives, 1)
        ]
        parts.append("학습 목표:\n\n" + "\n".join(f"- {g}" for g in goals) + "\n")
        rows = ["| 연습 문제 | 점수 | 평가하는 것 |", "|---|---|---|"]
        for ex in lesson.exercises:
            name = localized(lesson, ("exercises", ex.id, "title"), ex.title, LANG)
            what = localized(lesson, ("exercises", ex.id, "assesses"), ex.assesses, LANG)
            rows.append(f"| {ex.id} {name} | {ex.points} | {what or '—'} |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def syllabus_overview_ko(lessons: list[Lesson]) -> str:
    by_id = {lesson.id: lesson for lesson in lessons}
    return "\n".join(
        f"| {x.id} {localized(x, ('title',), x.title, LANG)} | {x.minutes_class or '?'}분 | "
        f"{x.minutes_home or '?'}분 | {x.points} | {_before_ko(x, by_id)} |"
        for x in lessons
    )


@event_priority(50)
def on_page_markdown(markdown, page, config, files):
    if not page.file.src_uri.startswith(f"{LANG}/"):
        return markdown
    from lessonlib.site.build import selected_lessons

    if "<!-- syllabus -->" in markdown:
        markdown = markdown.replace("<!-- syllabus -->", syllabus_markdown_ko(load_lessons()))
    if "<!-- syllabus-overview -->" in markdown:
        overview = syllabus_overview_ko(load_lessons())
        markdown = markdown.replace("<!-- syllabus-overview -->", overview)

    if _LESSONS_MARK in markdown:
        markdown = markdown.replace(_LESSONS_MARK, lessons_table_ko(selected_lessons()))
    if _NEXT_LESSON_MARK in markdown:
        lessons = load_lessons()
        link = ""
        if lessons:
            first = lessons[0]
            title = localized(first, ("title",), first.title, LANG)
            target = files.get_file_from_path(f"{LANG}/{LESSON_DOCS}/{first.slug}.ipynb")
            if target is not None:
                href = target.url_relative_to(page.file)
                link = (
                    f'<p class="next-page">다음: <a href="{href}">{first.id}강 — '
                    f"{html_lib.escape(title)}</a></p>"
                )
        markdown = markdown.replace(_NEXT_LESSON_MARK, link)
    return markdown


def lesson_facts_ko(lesson: Lesson, lessons: dict[str, Lesson], english_href: str) -> str:
    """The box under a Korean lesson's title: time, prerequisites, sources, the English page."""
    parts = []
    if lesson.minutes_class:
        parts.append(f"읽고 실행하는 데 약 {lesson.minutes_class}분")
    if lesson.minutes_home:
        parts.append(f"연습 문제 {lesson.minutes_home}분")
    before = []
    for i, item in enumerate(lesson.prerequisites, 1):
        found = next((x for x in lessons.values() if x.id == item.strip()), None)
        if found is None:
            text = localized(lesson, ("prerequisites", str(i)), item, LANG)
            before.append(html_lib.escape(text))
        else:
            title = html_lib.escape(localized(found, ("title",), found.title, LANG))
            before.append(f'<a href="../{found.slug}/">{found.id}강 ({title})</a>')
    sources = " · ".join(
        f'<a href="{name}"><code>{name}</code></a>' for name in ("lesson.py", "exercises.py")
    )
    return (
        '<div class="lesson-facts" data-search-exclude>'
        f"<p><strong>시간:</strong> {', '.join(parts) or '아직 추정 전'}.</p>"
        f"<p><strong>먼저 알아 둘 것:</strong> {', '.join(before) or '없음'}.</p>"
        f"<p><strong>소스:</strong> {sources} (보기). 강의를 바꾸려면 내 복사본의 "
        f"<code>lessons/{lesson.slug}/lesson.py</code>를 고치고 "
        f"<code>lessonlib run {lesson.id}</code>를 실행하세요. 이 페이지는 그 파일로 만듭니다.</p>"
        f'<p><strong>English:</strong> <a class="lessonlib-twin" hreflang="en" '
        f'href="{english_href}">이 페이지의 영어판</a></p>'
        "</div>"
    )


_HEADING = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)<a class="anchor-link" href="#[^"]*">', re.S)


def heading_ids(html: str) -> str:
    """Heading ids made from the Korean text itself (the notebook renderer's ASCII slugs drop
    Hangul: "1. ``grad_fn``과 ``next_functions``" became ``1-grad_fn-next_functions``, an
    all-Hangul heading nothing). The same slugs as the Markdown pages (``slugify_unicode``),
    unique on the page; links on the page to an old id follow it."""
    from markdown.extensions.toc import slugify_unicode, unique

    used: set[str] = set()
    renamed: dict[str, str] = {}

    def named(match: re.Match) -> str:
        level, old, inner = match.groups()
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", inner))
        ident = unique(slugify_unicode(text, "-") or "section", used)
        if old:
            renamed.setdefault(old, ident)
        return f'<h{level} id="{ident}">{inner}<a class="anchor-link" href="#{ident}">'

    html = _HEADING.sub(named, html)
    if renamed:
        html = re.sub(
            r'href="#([^"]+)"', lambda m: f'href="#{renamed.get(m.group(1), m.group(1))}"', html
        )
    return html


def on_page_content(html, page, config, files):
    lessons = _lessons()
    lesson = korean_lesson(page.file.src_uri, lessons)
    if lesson is None:
        return html
    from lessonlib.site.book import clean_for_search
    from lessonlib.site.hooks import _MATHJAX, toc_tokens

    html = _MATHJAX.sub("", html)
    html = heading_ids(html)
    page.toc = get_toc(toc_tokens(html))
    html = clean_for_search(html)
    english = files.get_file_from_path(f"{LESSON_DOCS}/{lesson.slug}.ipynb")
    href = english.url_relative_to(page.file) if english is not None else "../../../"
    facts = lesson_facts_ko(lesson, lessons, href)
    end = html.find("</h1>")
    return facts + html if end < 0 else html[: end + 5] + facts + html[end + 5 :]


def on_post_build(config):
    """The downloadable notebook and the source files next to each Korean lesson page."""
    site = Path(config["site_dir"])
    notebooks = config["extra"].get("lesson_notebooks", {})
    lessons = _lessons()
    for page_src, executed in notebooks.items():
        slug = Path(page_src).stem
        folder = site / LANG / LESSON_DOCS / slug
        if not folder.is_dir():
            continue
        shutil.copyfile(executed, folder / Path(executed).name)
        lesson = lessons.get(slug)
        for name in ("lesson.py", "exercises.py"):
            if lesson is not None and (lesson.path / name).is_file():
                shutil.copyfile(lesson.path / name, folder / name)
    if (site / "sitemap.xml").is_file() and (site / LANG).is_dir():
        # the language menu reads the sitemap of the language it links to
        shutil.copyfile(site / "sitemap.xml", site / LANG / "sitemap.xml")
    config["theme"]["language"] = "en"


_ALTERNATE_LINK = re.compile(r'<link rel="alternate" href="[^"]*" hreflang="[^"]*">\n?')


def on_post_page(output, page, config):
    """Drop the theme's ``<link rel="alternate" hreflang>`` tags from every page.

    mkdocs-material's script reads them as the roots of whole language sites and fetches
    ``<href>/sitemap.xml`` from each, while our ``alternate`` links point at the page's own
    twin (``../../ko/lessons/x/``): that fetch 404s on every page. The language menu keeps its
    links, which lead to the twin page without any script.
    """
    if not enabled():
        return output
    head, sep, body = output.partition("</head>")  # the tags are in the head: pages are MBs
    return _ALTERNATE_LINK.sub("", head) + sep + body
