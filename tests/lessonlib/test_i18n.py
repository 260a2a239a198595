"""The Korean edition's plumbing: translations beside their source, drift caught, CLI in Korean."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lessonlib.course import i18n
from lessonlib.course.catalog import find_lesson, load_lessons
from lessonlib.messages import language_from_env, normalize_language
from lessonlib.paths import project_root

ROOT = project_root()
HANGUL = re.compile(r"[\uac00-\ud7a3]")
CELL = "1-leaves-gradfn-and-nextfunctions"


@pytest.fixture
def course(tmp_path) -> Path:
    """A copy of lesson 01 (with its ko.toml) and of docs/, to edit freely."""
    src = find_lesson("01", ROOT).path
    dst = tmp_path / "lessons" / src.name
    dst.mkdir(parents=True)
    for name in ("lesson.py", "exercises.py", "meta.toml", "ko.toml"):
        shutil.copy(src / name, dst / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("assets"))
    return tmp_path


def _edit_cell(course: Path) -> None:
    script = course / "lessons" / "01_autograd_graphs" / "lesson.py"
    text = script.read_text(encoding="utf-8")
    old = "# Tensors you create yourself are **leaves**."
    assert old in text
    script.write_text(text.replace(old, "# Tensors you make yourself are **leaves**."), "utf-8")


def test_lesson_01_is_fully_translated():
    assert i18n.lesson_problems(find_lesson("01", ROOT)) == []
    assert not i18n.lesson_translations(find_lesson("01", ROOT)).draft


def test_every_lesson_has_a_translation_file():
    for lesson in load_lessons(ROOT):
        assert i18n.translation_file(lesson).is_file(), lesson.slug


def test_editing_an_english_cell_makes_its_translation_stale(course, monkeypatch):
    monkeypatch.delenv(i18n.DRAFT_ENV, raising=False)
    assert i18n.translation_report(root=course, lesson_ids=["01"]).problems == []
    _edit_cell(course)
    report = i18n.translation_report(root=course, lesson_ids=["01"])
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert problem.startswith(f"lessons/01_autograd_graphs/ko.toml [cells.{CELL}]: stale")
    lesson = find_lesson("01", course)
    english = dict(i18n.lesson_units(lesson))[("cells", CELL)]
    assert f'hash = "{i18n.text_hash(english)}"' in problem


def test_draft_mode_turns_problems_into_notes(course, monkeypatch):
    _edit_cell(course)
    monkeypatch.setenv(i18n.DRAFT_ENV, "1")
    report = i18n.translation_report(root=course, lesson_ids=["01"])
    assert report.problems == [] and len(report.notes) == 1


def test_the_skeleton_command_keeps_translations(course):
    lesson = find_lesson("01", course)
    before = i18n.lesson_translations(lesson).entries
    _edit_cell(course)
    script = lesson.script
    script.write_text(
        script.read_text(encoding="utf-8") + "\n# %% [markdown]\n# A new closing remark.\n",
        encoding="utf-8",
    )
    i18n.refresh_lesson(find_lesson("01", course))
    after = i18n.lesson_translations(find_lesson("01", course)).entries
    for key, entry in before.items():
        assert after[key]["ko"] == entry["ko"], key
    stale = after[("cells", CELL)]
    assert stale["hash"] == before[("cells", CELL)]["hash"]  # still the old English's hash
    assert stale["was"] == before[("cells", CELL)]["en"] and "make yourself" in stale["en"]
    new = [k for k in after if k not in before]
    assert new == [("cells", "4-pitfalls.3")] and after[new[0]]["ko"] == ""
    problems = i18n.lesson_problems(find_lesson("01", course), root=course)
    assert any("[cells.4-pitfalls.3]: not translated" in p for p in problems)
    # refreshing twice changes nothing
    path = i18n.translation_file(find_lesson("01", course))
    text = path.read_text(encoding="utf-8")
    i18n.refresh_lesson(find_lesson("01", course))
    assert path.read_text(encoding="utf-8") == text


def test_a_changed_docs_page_makes_its_twin_stale(course, monkeypatch):
    monkeypatch.delenv(i18n.DRAFT_ENV, raising=False)
    page = course / "docs" / "index.md"
    assert i18n.page_problems(page, root=course) == []
    page.write_text(page.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    (problem,) = i18n.page_problems(page, root=course)
    assert problem.startswith("docs/ko/index.md: stale")


def test_toml_strings_round_trip(tmp_path):
    texts = ['a "quoted" \\ back', "multi\nline with ''' quotes", "ends with '\nx'", "$\\partial$"]
    entries = [(("cells", f"k{i}"), {"hash": "h", "en": t, "ko": t}) for i, t in enumerate(texts)]
    path = tmp_path / "ko.toml"
    i18n.write_translations(path, "# header\n", True, entries)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["draft"] is True
    assert [data["cells"][f"k{i}"]["ko"] for i in range(len(texts))] == texts


def test_cell_keys_follow_headings():
    keys = i18n.cell_keys(["# Lesson 1", "text", "## 2. `make_dot`", "more", "more"])
    assert keys == ["lesson-1", "lesson-1.1", "2-makedot", "2-makedot.1", "2-makedot.2"]


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({"LANG": "ko_KR.UTF-8"}, "ko"),
        ({"LANG": "en_US.UTF-8", "LC_ALL": "ko_KR.UTF-8"}, "ko"),
        ({"LC_MESSAGES": "ko_KR", "LANG": "C"}, "ko"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({}, "en"),
        ({"LANG": "ko_KR.UTF-8", "LESSONLIB_LANG": "en"}, "en"),
    ],
)
def test_language_follows_the_locale(env, lang):
    assert language_from_env(env) == lang


def test_unsupported_languages_fall_back_to_english():
    assert normalize_language("fr_FR.UTF-8") == "en" and normalize_language("ko-KR") == "ko"


def _cli(*args, lang_env: dict, tmp_path: Path, timeout: int = 300):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(lang_env, LESSONLIB_STATE=str(tmp_path / "state.json"), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "lessonlib", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_check_prints_korean_verdicts_under_a_korean_locale(tmp_path):
    ko = _cli(
        "check", "01", "--root", "lessons", lang_env={"LANG": "ko_KR.UTF-8"}, tmp_path=tmp_path
    )
    assert ko.returncode == 1, ko.stderr
    assert "01강: Autograd 그래프" in ko.stdout and "시작 안 함" in ko.stdout
    assert "점수: 0/8" in ko.stdout  # numbers kept
    en = _cli("check", "01", "--root", "lessons", lang_env={"LANG": "C.UTF-8"}, tmp_path=tmp_path)
    assert "not started" in en.stdout and not HANGUL.search(en.stdout)


def test_lang_option_before_or_after_the_command(tmp_path):
    for args in (("--lang", "ko", "hint", "01.1"), ("hint", "01.2", "--lang", "ko")):
        out = _cli(*args, lang_env={"LANG": "C"}, tmp_path=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "힌트 1/3" in out.stdout, out.stdout
    first_ko_hint = i18n.lesson_translations(find_lesson("01", ROOT)).text(
        ("exercises", "01.1", "hints", "1")
    )
    out = _cli("--lang", "ko", "hint", "01.1", lang_env={}, tmp_path=tmp_path / "fresh")
    assert first_ko_hint.split()[0] in out.stdout


def test_bad_input_errors_in_korean(tmp_path):
    out = _cli("--lang", "ko", "hint", "01.9", lang_env={}, tmp_path=tmp_path)
    assert out.returncode != 0
    assert out.stderr.startswith("오류: 01.9 연습 문제가 없습니다") and "01.1…01.4" in out.stderr


def test_dev_check_reports_a_stale_cell(course, tmp_path):
    """``lessonlib dev check`` on a copy whose English changed names the file and the cell.

    The copy has no solutions, so dev check also reports that; the translation line is what
    this test reads.
    """
    _edit_cell(course)
    env = {"LESSONLIB_ROOT": str(course), "LANG": "C"}
    out = _cli("dev", "check", "01", lang_env=env, tmp_path=tmp_path)
    assert out.returncode == 1
    flat = " ".join(out.stdout.split())
    assert f"lessons/01_autograd_graphs/ko.toml [cells.{CELL}]: stale" in flat, out.stdout


def test_korean_page_notebook_keeps_code_and_outputs():
    import jupytext
    import nbformat

    from lessonlib.site.build import lesson_page_notebook
    from lessonlib.site.korean import korean_page_notebook

    lesson = find_lesson("01", ROOT)
    nb = jupytext.read(lesson.script)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x: requires_grad=True\n")]
    page = json.loads(json.dumps(lesson_page_notebook(lesson, nb)))
    ko = korean_page_notebook(lesson, page)
    code = [c for c in page["cells"] if c["cell_type"] == "code"]
    assert [c for c in ko["cells"] if c["cell_type"] == "code"] == code
    prose = ["".join(c["source"]) for c in ko["cells"] if c["cell_type"] == "markdown"]
    assert prose[0].startswith("# 01강 — Autograd 그래프")
    assert all(HANGUL.search(text) for text in prose), [
        p[:60] for p in prose if not HANGUL.search(p)
    ]
    assert prose[-1].startswith("## 연습 문제") and "힌트 3" in prose[-1]


def test_lang_option_reaches_the_checking_engine(tmp_path):
    # --json carries the engine's own sentence (the table shows "not started" and the hint)
    out = _cli(
        "--lang", "ko", "check", "01", "--root", "lessons", "--json", lang_env={}, tmp_path=tmp_path
    )
    flat = " ".join(out.stdout.split())
    assert "leaf_names()이 아직 NotImplementedError를 냅니다" in flat, out.stdout
