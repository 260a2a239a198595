import pytest

from lessonlib.course.catalog import (
    find_exercise,
    find_lesson,
    load_lessons,
    normalize_exercise_id,
    normalize_lesson_id,
)
from lessonlib.errors import LessonlibError


def test_lessons_are_numbered_folders_with_meta():
    lessons = load_lessons()
    ids = [lesson.id for lesson in lessons]
    assert ids and ids == sorted(ids)
    for lesson in lessons:
        assert lesson.script.is_file() and lesson.exercises_file.is_file()
        assert lesson.title and lesson.exercises
        assert all(ex.id.startswith(lesson.id + ".") for ex in lesson.exercises)


@pytest.mark.parametrize("text", ["1", "01", "01_autograd_graphs"])
def test_lesson_ids_are_normalized(text):
    assert normalize_lesson_id(text) == "01"
    assert find_lesson(text).slug == "01_autograd_graphs"


@pytest.mark.parametrize("text", ["1.2", "01.2", "01.02", " 1.2 "])
def test_exercise_ids_are_normalized_the_same_way(text):
    assert normalize_exercise_id(text) == "01.2"
    assert find_exercise(text)[1].id == "01.2"


def test_unknown_lesson_is_one_sentence_naming_the_ids():
    with pytest.raises(LessonlibError) as err:
        find_lesson("99")
    message = str(err.value)
    assert message.startswith("no lesson 99; lessons are 01")
    assert "\n" not in message and err.value.code == 2


def test_unknown_exercise_names_the_valid_ones():
    lesson, ex = find_exercise("01.2")
    assert (lesson.id, ex.function) == ("01", "count_graph_nodes")
    with pytest.raises(LessonlibError, match=r"no exercise 01\.9; lesson 01's exercises are 01\.1"):
        find_exercise("01.9")
