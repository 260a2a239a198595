"""Translations stored as data beside their English source, and how they fall behind.

Per lesson, ``lessons/NN_x/<lang>.toml`` (e.g. ``ko.toml``) holds one entry per English text:
the lesson's markdown cells, meta.toml's title, summary, objectives, prerequisites, and per
exercise its title, task (the stub function's docstring), hints and what it assesses. Each
entry keeps ``en`` (the current English, for the translator), ``ko`` (the translation) and
``hash``: the sha256 (first 16 hex digits) of the English the translation was made from.
When the English changes, ``hash`` no longer matches and the entry is *stale*. Hand-written
pages ``docs/X.md`` have twins ``docs/<lang>/X.md`` whose front matter carries ``source_hash``.

``refresh_lesson`` / ``refresh_docs`` (``lessonlib dev i18n ko``) write the skeletons and keep
every existing translation; ``translation_report`` (part of ``lessonlib dev check``) names each
missing, stale or orphaned text by file and key. A file marked ``draft = true`` (a ``draft: true``
front-matter line for pages), or ``LESSONLIB_I18N_DRAFT=1``, turns its problems into notes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from lessonlib.course.catalog import Lesson, load_lessons, read_toml
from lessonlib.errors import LessonlibError
from lessonlib.paths import project_root

LANGUAGES = ("ko",)
DRAFT_ENV = "LESSONLIB_I18N_DRAFT"
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)

Key = tuple[str, ...]


def text_hash(text: str) -> str:
    """The hash an entry records: sha256 of the English text (stripped), first 16 hex digits."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]


def slug(text: str) -> str:
    """``## 2. Drawing the graph with `torchviz` `` -> ``2-drawing-the-graph-with-torchviz``."""
    text = re.sub(r"[`*_$\\]", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "cell"


def cell_keys(texts: list[str]) -> list[str]:
    """A stable key per markdown cell: its heading's slug, or the section's slug plus ``.n``.

    Editing a cell's text keeps its key (the entry becomes stale); inserting a cell only
    renumbers the cells after it in its own section.
    """
    keys: list[str] = []
    section, count = "intro", 0
    for text in texts:
        match = _HEADING.search(text)
        if match and text.lstrip().startswith("#"):
            section, count = slug(match.group(1)), 0
            key = section
        else:
            count += 1
            key = f"{section}.{count}"
        while key in keys:
            key += "+"
        keys.append(key)
    return keys


def markdown_cells(script: Path) -> list[str]:
    """The markdown cells of a percent script, as the executed notebook has them."""
    import jupytext

    nb = jupytext.read(script)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def task_texts(lesson: Lesson) -> dict[str, str]:
    """Each exercise's task: its stub function's docstring (what the site shows)."""
    tree = ast.parse(lesson.exercises_file.read_text(encoding="utf-8"))
    docs = {n.name: ast.get_docstring(n) or "" for n in tree.body if isinstance(n, ast.FunctionDef)}
    return {ex.id: docs.get(ex.function, "").strip() for ex in lesson.exercises}


def lesson_units(lesson: Lesson) -> list[tuple[Key, str]]:
    """Every English text of a lesson that has a translation, keyed, in page order."""
    units: list[tuple[Key, str]] = [(("title",), lesson.title), (("summary",), lesson.summary)]
    units += [(("objectives", str(i)), o) for i, o in enumerate(lesson.objectives, 1)]
    units += [
        (("prerequisites", str(i)), p)
        for i, p in enumerate(lesson.prerequisites, 1)
        if not p.strip().isdigit()  # a lesson id, shown as that lesson's title
    ]
    tasks = task_texts(lesson)
    for ex in lesson.exercises:
        units.append((("exercises", ex.id, "title"), ex.title))
        if tasks.get(ex.id):
            units.append((("exercises", ex.id, "task"), tasks[ex.id]))
        units += [(("exercises", ex.id, "hints", str(i)), h) for i, h in enumerate(ex.hints, 1)]
        units.append((("exercises", ex.id, "assesses"), ex.assesses))  # for the syllabus
    texts = markdown_cells(lesson.script)
    units += [(("cells", k), t) for k, t in zip(cell_keys(texts), texts, strict=True)]
    return [(k, t) for k, t in units if t.strip()]


# ----------------------------------------------------------------------------- the toml files


def translation_file(lesson: Lesson, lang: str = "ko") -> Path:
    return lesson.path / f"{lang}.toml"


def _flatten(table: dict, prefix: Key = ()) -> dict[Key, dict]:
    out: dict[Key, dict] = {}
    for name, value in table.items():
        if not isinstance(value, dict):
            continue
        if {"en", "ko", "hash"} & set(value) and not any(
            isinstance(v, dict) for v in value.values()
        ):
            out[prefix + (name,)] = value
        else:
            out.update(_flatten(value, prefix + (name,)))
    return out


@dataclass
class Translations:
    """One lesson's translation file, read: entries by key, and whether it is a draft."""

    path: Path
    entries: dict[Key, dict]
    draft: bool = False

    def text(self, key: Key, english: str | None = None) -> str | None:
        """The translation of ``key`` (stale or not), or None when there is none."""
        entry = self.entries.get(key)
        value = (entry or {}).get("ko", "")
        return value if value.strip() else None


def read_translations(path: Path) -> Translations:
    """Read a ``<lang>.toml``; a missing file reads as empty."""
    if not path.is_file():
        return Translations(path, {})
    try:
        data = read_toml(path)
    except tomllib.TOMLDecodeError as exc:
        raise LessonlibError(f"{path} is not valid TOML: {exc}.") from exc
    return Translations(path, _flatten(data), bool(data.get("draft", False)))


def lesson_translations(lesson: Lesson, lang: str = "ko") -> Translations:
    return read_translations(translation_file(lesson, lang))


def _toml_key(part: str) -> str:
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)


def _toml_string(text: str) -> str:
    if "\n" not in text:
        return json.dumps(text, ensure_ascii=False)
    if "'''" not in text and not text.endswith("'"):
        return "'''\n" + text + "'''"
    body = json.dumps(text, ensure_ascii=False)[1:-1].replace("\\n", "\n")
    return '"""\n' + body + '"""'


_HEADER = """\
# {lang} texts of lesson {id} ({title}). Written by `lessonlib dev i18n {lang}`; see
# docs/translating.md. Per entry: `en` is the current English (refreshed, do not translate
# it here), `{lang}` your translation, `hash` the English it was made from. When dev check calls
# an entry stale, update `{lang}` (compare `was` with `en`) and set `hash` to the value it prints.
# Remove `draft = true` when every entry is done: dev check then insists on all of them.
"""


def write_translations(path: Path, header: str, draft: bool, entries: list[tuple[Key, dict]]):
    lines = [header]
    if draft:
        lines.append("draft = true\n")
    for key, entry in entries:
        lines.append("[" + ".".join(_toml_key(p) for p in key) + "]")
        for field in ("hash", "en", "was", "ko"):
            if field in entry:
                lines.append(f"{field} = {_toml_string(str(entry[field]))}")
        lines.append("")
    text = "\n".join(lines).rstrip() + "\n"
    tomllib.loads(text)  # never write a file the loader cannot read
    path.write_text(text, encoding="utf-8")


def refresh_lesson(lesson: Lesson, lang: str = "ko") -> Path:
    """Write the lesson's skeleton: every English text with its translation kept (or empty).

    An entry whose key vanished (a renamed heading) is carried to the new cell at the same
    position when that one has no entry; otherwise it stays at the end as an orphan.
    """
    path = translation_file(lesson, lang)
    old = read_translations(path)
    units = lesson_units(lesson)
    current = {k for k, _ in units}
    orphans = [k for k in old.entries if k not in current]
    old_cells = [k for k in old.entries if k[0] == "cells"]
    new_cells = [k for k, _ in units if k[0] == "cells"]
    entries = []
    for key, english in units:
        entry = old.entries.get(key)
        if entry is None and key[0] == "cells":
            i = new_cells.index(key)
            if i < len(old_cells) and old_cells[i] in orphans:
                entry = old.entries[old_cells[i]]
                orphans.remove(old_cells[i])
        entry = dict(entry or {"hash": text_hash(english), lang: ""})
        entry.setdefault(lang, "")
        entry.setdefault("hash", text_hash(english))
        previous = entry.get("en", "")
        if entry["hash"] == text_hash(english):
            entry.pop("was", None)
        elif "was" not in entry and previous and text_hash(previous) == entry["hash"]:
            entry["was"] = previous
        entry["en"] = english
        entries.append((key, {f: entry[f] for f in ("hash", "en", "was", lang) if f in entry}))
    entries += [(k, old.entries[k]) for k in orphans]
    draft = old.draft if path.is_file() else True
    header = _HEADER.format(lang=lang, id=lesson.id, title=lesson.title)
    write_translations(path, header, draft, entries)
    return path


# ----------------------------------------------------------------------------- docs pages

_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def docs_pages(root: Path | None = None) -> list[Path]:
    """The hand-written English pages: ``docs/*.md``."""
    return sorted(((root or project_root()) / "docs").glob("*.md"))


def translated_page(page: Path, lang: str = "ko") -> Path:
    return page.parent / lang / page.name


def page_front_matter(path: Path) -> dict[str, str]:
    """``key: value`` lines of a page's front matter (quotes dropped)."""
    match = _FRONT.match(path.read_text(encoding="utf-8")) if path.is_file() else None
    found = {}
    for line in (match.group(1) if match else "").splitlines():
        name, _, value = line.partition(":")
        found[name.strip()] = value.strip().strip("\"'")
    return found


def refresh_docs(root: Path | None = None, lang: str = "ko") -> list[Path]:
    """Create ``docs/<lang>/X.md`` for each page that has none: front matter, then the English
    to translate (``source_hash: ""`` until it is translated). Existing pages are left alone."""
    written = []
    for page in docs_pages(root):
        target = translated_page(page, lang)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        english = page.read_text(encoding="utf-8")
        target.write_text(
            f'---\nsource_hash: ""\ndraft: true\n---\n<!-- translate docs/{page.name} (hash '
            f"{text_hash(english)}) into this page, then set source_hash to that hash -->\n\n"
            + english,
            encoding="utf-8",
        )
        written.append(target)
    return written


# ----------------------------------------------------------------------------- the check


@dataclass
class TranslationReport:
    """What ``dev check`` says about one language: problems (fail) and notes (drafts)."""

    problems: list[str]
    notes: list[str]
    translated: int = 0
    total: int = 0


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def lesson_problems(lesson: Lesson, lang: str = "ko", root: Path | None = None) -> list[str]:
    """Missing, stale and orphaned entries of one lesson's translation file."""
    root = root or project_root()
    tr = lesson_translations(lesson, lang)
    where = _rel(tr.path, root)
    if not tr.path.is_file():
        return [f"{where} is missing: run `lessonlib dev i18n {lang}`"]
    problems = []
    units = lesson_units(lesson)
    for key, english in units:
        name = ".".join(key)
        entry = tr.entries.get(key)
        if entry is None or not str(entry.get(lang, "")).strip():
            problems.append(f"{where} [{name}]: not translated")
        elif entry.get("hash") != text_hash(english):
            problems.append(
                f"{where} [{name}]: stale (the English changed): update {lang}, then set hash = "
                f'"{text_hash(english)}"'
            )
    current = {k for k, _ in units}
    for key in tr.entries:
        if key not in current:
            problems.append(f"{where} [{'.'.join(key)}]: no such English text any more")
    return problems


def page_problems(page: Path, lang: str = "ko", root: Path | None = None) -> list[str]:
    root = root or project_root()
    target = translated_page(page, lang)
    where = _rel(target, root)
    if not target.is_file():
        return [f"{where} is missing: run `lessonlib dev i18n {lang}`"]
    got = page_front_matter(target).get("source_hash", "")
    want = text_hash(page.read_text(encoding="utf-8"))
    if not got:
        return [f"{where}: not translated (source_hash is empty)"]
    if got != want:
        return [
            f'{where}: stale (docs/{page.name} changed): update it, then set source_hash: "{want}"'
        ]
    return []


def translation_report(
    lang: str = "ko", root: Path | None = None, lesson_ids: list[str] | None = None
) -> TranslationReport:
    """Every lesson's and page's translation problems; drafts (or LESSONLIB_I18N_DRAFT=1)
    give notes instead."""
    root = root or project_root()
    everything_draft = os.environ.get(DRAFT_ENV, "") not in ("", "0")
    report = TranslationReport([], [])
    checks = []
    for lesson in load_lessons(root):
        if lesson_ids and lesson.id not in lesson_ids:
            continue
        draft = lesson_translations(lesson, lang).draft
        checks.append(
            (_rel(translation_file(lesson, lang), root), draft, lesson_problems(lesson, lang, root))
        )
    if not lesson_ids:
        for page in docs_pages(root):
            draft = page_front_matter(translated_page(page, lang)).get("draft") == "true"
            checks.append(
                (_rel(translated_page(page, lang), root), draft, page_problems(page, lang, root))
            )
    for where, draft, problems in checks:
        report.total += 1
        report.translated += not problems
        if problems and (draft or everything_draft):
            report.notes.append(f"{where}: draft, {len(problems)} texts to translate or update")
        else:
            report.problems += problems
    return report


def localized(lesson: Lesson, key: Key, english: str, lang: str | None = None) -> str:
    """The translation of one of ``lesson``'s texts in ``lang`` (default: the CLI's language),
    or ``english`` when it is English or not translated yet."""
    if lang is None:
        from lessonlib.messages import current_language

        lang = current_language()
    if lang == "en":
        return english
    return lesson_translations(lesson, lang).text(key) or english
