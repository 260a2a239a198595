import json

import pytest

from lessonlib.course import progress


@pytest.fixture(autouse=True)
def state_path(tmp_path, monkeypatch):
    path = tmp_path / "state" / "state.json"
    monkeypatch.setenv("LESSONLIB_STATE", str(path))
    return path


def test_hints_are_revealed_one_at_a_time_and_stop_at_the_last(state_path):
    hints = ("first", "second", "third")
    seen = [progress.next_hint("01.2", hints) for _ in range(4)]
    assert [s[0] for s in seen] == [1, 2, 3, 3]
    assert [s[1] for s in seen] == ["first", "second", "third", "third"]
    assert [s[2] for s in seen] == [False, False, True, True]
    assert json.loads(state_path.read_text())["hints"]["01.2"] == 3


def test_state_is_written_atomically_without_temp_files(state_path):
    progress.record_check("01", "abc", {"01.1": "passed"}, 1)
    assert sorted(p.name for p in state_path.parent.iterdir()) == ["state.json"]


def test_a_corrupt_or_missing_state_file_loses_only_counters(state_path):
    state_path.parent.mkdir(parents=True)
    state_path.write_text("{not json")
    assert progress.load_state() == {"hints": {}, "checks": {}}
    assert progress.next_hint("01.1", ("a", "b"))[0] == 1


def test_cached_check_is_invalidated_when_the_file_changes(tmp_path):
    exercises = tmp_path / "exercises.py"
    exercises.write_text("x = 1\n")
    digest = progress.file_digest(exercises)
    progress.record_check("01", digest, {"01.1": "failed"}, 0)
    assert progress.cached_check("01", digest)["statuses"] == {"01.1": "failed"}
    exercises.write_text("x = 2\n")
    assert progress.cached_check("01", progress.file_digest(exercises)) is None


def test_progress_rechecks_only_what_changed_and_reports_course_problems(monkeypatch):
    from types import SimpleNamespace

    from lessonlib.course import checking
    from lessonlib.course.catalog import load_lessons
    from lessonlib.errors import LessonlibError

    lessons = load_lessons()[:3]
    calls = []

    def fake_check(lesson, root=None, **kwargs):
        calls.append(lesson.id)
        if lesson.id == lessons[2].id:
            raise LessonlibError("the checks of that lesson could not run.")
        statuses = {ex.id: "passed" for ex in lesson.exercises}
        return SimpleNamespace(
            exercises_file=lesson.exercises_file,
            statuses=lambda: statuses,
            earned=lesson.points,
        )

    monkeypatch.setattr(checking, "check_lesson", fake_check)
    first = progress.lesson_progress(lessons)
    assert sorted(calls) == [x.id for x in lessons]
    assert first[lessons[0].id]["earned"] == lessons[0].points
    assert "could not run" in first[lessons[2].id]["problem"]
    calls.clear()
    again = progress.lesson_progress(lessons)
    assert calls == [lessons[2].id]  # only the lesson without a recorded verdict
    assert again[lessons[1].id]["statuses"] == first[lessons[1].id]["statuses"]
    # a new library version (or changed checks) invalidates every recorded verdict
    monkeypatch.setattr(progress, "library_version", lambda: "another")
    calls.clear()
    progress.lesson_progress(lessons)
    assert sorted(calls) == [x.id for x in lessons]


def test_first_unfinished_lesson_is_the_first_not_all_passed():
    from lessonlib.course.catalog import load_lessons

    lessons = load_lessons()[:2]
    assert progress.first_unfinished_lesson(lessons).id == lessons[0].id
    first = lessons[0]
    progress.record_check(
        first.id,
        progress.file_digest(first.exercises_file),
        {ex.id: "passed" for ex in first.exercises},
        first.points,
    )
    assert progress.first_unfinished_lesson(lessons).id == lessons[1].id
