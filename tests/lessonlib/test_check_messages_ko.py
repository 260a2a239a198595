"""The checks' failure messages follow the language (``LESSONLIB_LANG``, ``--lang``, the locale).

The judges of ``lessons/NN_x/checks.py`` and the case API (``lessonlib.classroom.cases``) write
their sentences with ``_()``; the checking engine runs in a process of its own (cold, or forked
from the warm worker), so the language has to reach it through the environment. Numbers stay
as they are in every language. The catalogs: every marked message is in ``lessonlib.pot`` and
has a Korean translation in ``ko.po`` with the same placeholders.
"""

from __future__ import annotations

import glob
import re
import string
import symtable
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from lessonlib import messages
from lessonlib.classroom.cases import lesson_checks
from lessonlib.classroom.references.torchviz import torchviz_graph
from lessonlib.course.catalog import find_lesson
from lessonlib.course.checking import check_lesson
from lessonlib.paths import project_root

ROOT = project_root()
LESSON = find_lesson("01")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LOCALE = ROOT / "lessonlib" / "locale"
RIGHT = "    return len(_nodes(output))\n"
WRONG = "    return len(_nodes(output)) + 1 if output.grad_fn is not None else 0\n"


def wrong_node_count(tmp_path: Path) -> Path:
    """A copy of lesson 01's solution whose count_graph_nodes counts one node too many."""
    folder = tmp_path / "student" / LESSON.slug
    folder.mkdir(parents=True)
    source = (ROOT / "solutions" / LESSON.slug / "exercises.py").read_text(encoding="utf-8")
    assert source.count(RIGHT) == 1
    (folder / "exercises.py").write_text(source.replace(RIGHT, WRONG), encoding="utf-8")
    return folder.parent


def nodes_of_the_first_case() -> int:
    """What torchviz draws for 01.2's first case (the loss of a two-layer MLP)."""
    checks = lesson_checks("01")
    case = next(c for c in checks.CASES if c.exercise == "01.2")
    return torchviz_graph(case.build().args[0]).number_of_nodes()


def message_of(report, exercise: str) -> str:
    [result] = [r for r in report.results if r.id == exercise]
    assert result.status == "failed", (result.status, result.message)
    return result.message


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+", text)


@pytest.fixture
def lang(monkeypatch):
    """Set the language the way the CLI hands it to the engine (``LESSONLIB_LANG``)."""
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.setenv(name, "C.UTF-8")
    messages.set_language(None)

    def use(code: str) -> None:
        monkeypatch.setenv("LESSONLIB_LANG", code)

    yield use
    messages.set_language(None)


def test_a_wrong_node_count_fails_in_english_and_in_korean_with_the_same_numbers(tmp_path, lang):
    root, want = wrong_node_count(tmp_path), nodes_of_the_first_case()
    lang("en")
    english = message_of(check_lesson(LESSON, root, warm=False), "01.2")
    assert (
        f"torchviz draws {want} autograd nodes, you counted {want + 1}, more than there are: "
        "was a node counted more than once? (Some are reached along several paths.)"
    ) in english
    assert not HANGUL.search(english)
    lang("ko")
    korean = message_of(check_lesson(LESSON, root, warm=False), "01.2")
    assert HANGUL.search(korean), korean
    assert "torchviz" in korean and str(want) in numbers(korean) and str(want + 1) in korean
    assert numbers(korean) == numbers(english)
    assert "torchviz draws" not in korean


def test_a_check_forked_from_a_warm_worker_speaks_its_own_language(tmp_path, lang, worker_env):
    """The worker is started by an English check; the next check, in Korean, is forked from it."""
    root = wrong_node_count(tmp_path)
    lang("en")
    english = message_of(check_lesson(LESSON, root, warm=True), "01.2")
    assert list(worker_env.rglob("check-*.sock")), "no warm worker was started"
    lang("ko")
    korean = message_of(check_lesson(LESSON, root, warm=True), "01.2")
    assert "you counted" in english and not HANGUL.search(english)
    assert HANGUL.search(korean) and numbers(korean) == numbers(english)
    lang("en")
    assert message_of(check_lesson(LESSON, root, warm=True), "01.2") == english


def test_the_language_is_asked_of_the_environment_at_each_message(monkeypatch):
    """A process whose environment is replaced after ``_`` was first used (a forked check)."""
    msgid = "torchviz draws {want} autograd nodes, you counted {got}: count every node you can "
    msgid += "reach from grad_fn, the root and the AccumulateGrad leaves included."
    monkeypatch.setenv("LESSONLIB_LANG", "en")
    messages.set_language(None)
    try:
        assert messages._(msgid) == msgid
        monkeypatch.setenv("LESSONLIB_LANG", "ko")
        assert HANGUL.search(messages._(msgid))
        messages.set_language("en")  # --lang wins over the environment
        assert messages._(msgid) == msgid
    finally:
        messages.set_language(None)


def test_a_probes_sentence_is_translated_where_the_judge_reads_it(monkeypatch):
    """Probes run in the sandbox (English); ``probe_then`` shows their record in Korean."""
    from lessonlib.classroom.cases import _as_record, later, words
    from lessonlib.messages import N_

    did = later(N_("raised {error}"), error="TypeError")
    msgid = N_("16 input channels cannot be shown: raise ValueError; yours {did}.")
    sentence = later(msgid, did=did)
    assert (
        sentence == "16 input channels cannot be shown: raise ValueError; yours raised TypeError."
    )
    record = _as_record(sentence)
    monkeypatch.setenv("LESSONLIB_LANG", "ko")
    messages.set_language(None)
    try:
        korean = words(record)
        assert HANGUL.search(korean) and "16" in korean and "TypeError" in korean
        assert "{" not in korean
        # a record with look-ups in its fields is shown as it is, never evaluated
        assert words({"msgid": "{x.__class__}", "values": {"x": 1}}) == "{x.__class__}"
    finally:
        messages.set_language(None)


# ---------------------------------------------------------------- the catalogs


def _catalog(path: Path):
    with path.open("rb") as fh:
        return read_po(fh, locale="ko" if path.suffix == ".po" else None)


def _fields(text: str) -> set[tuple]:
    return {(f, s, c) for _, f, s, c in string.Formatter().parse(text) if f is not None}


def test_every_marked_message_is_in_the_template():
    """``make i18n`` was run after the last edit of a message (lessonlib and lessons)."""
    pot = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalog(LOCALE / "lessonlib.pot")}
    keywords = {**DEFAULT_KEYWORDS, "_": None, "N_": None}  # the Makefile's -k _ -k N_
    marked = set()
    for folder in ("lessonlib", "lessons"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=keywords, comment_tags=()
        ):
            marked.add(message if isinstance(message, str) else message[0])
    missing = sorted(marked - pot)
    assert not missing, f"not in lessonlib.pot (run make i18n): {missing[:5]}"


def test_every_message_has_a_korean_translation_with_the_same_placeholders():
    pot = _catalog(LOCALE / "lessonlib.pot")
    ko = _catalog(LOCALE / "ko" / "LC_MESSAGES" / "lessonlib.po")
    problems = []
    for entry in pot:
        if not entry.id:
            continue
        mine = ko.get(entry.id)
        strings = [] if mine is None else mine.string
        strings = [strings] if isinstance(strings, str) else list(strings)
        if mine is None or "fuzzy" in mine.flags or not all(strings):
            problems.append(f"untranslated: {entry.id!r}")
            continue
        source = entry.id if isinstance(entry.id, str) else entry.id[-1]
        for text in strings:
            if _fields(text) != _fields(source):
                problems.append(f"placeholders differ: {entry.id!r} -> {text!r}")
    assert not problems, "\n".join(problems[:10])


def test_no_judge_hides_the_translation_function():
    """``_, x = inputs.args`` in a function that also calls ``_()`` breaks every message."""
    files = sorted(glob.glob(str(ROOT / "lessons" / "*" / "checks.py")))
    files.append(str(ROOT / "lessonlib" / "classroom" / "cases.py"))
    shadowing = []

    def walk(table, path):
        for child in table.get_children():
            if child.get_type() == "function" and "_" in child.get_identifiers():
                symbol = child.lookup("_")
                if symbol.is_referenced() and (symbol.is_assigned() or symbol.is_parameter()):
                    shadowing.append(f"{path}: {child.get_name()}")
            walk(child, path)

    for path in files:
        walk(symtable.symtable(Path(path).read_text(encoding="utf-8"), path, "exec"), path)
    assert len(files) >= 10 and not shadowing, shadowing
