"""Lesson 06's hidden cases: other files and models, judged by the visible judges. Never shipped."""

from __future__ import annotations

from functools import partial

from lessonlib.classroom.cases import Case, lesson_checks

visible = lesson_checks("06")
weights_as_inputs, training_cnn = visible.cnn_with_weights_as_inputs, visible.training_cnn_file
one_image = partial(visible.model_file_and_batch, seed=7, n=1, batch_seed=3)

CASES = [
    Case(
        "06.2",
        "a CNN whose weights are listed as inputs",
        weights_as_inputs,
        visible.same_op_counts,
    ),
    Case("06.3", "one image through another SmallCNN", one_image, visible.same_difference),
    Case(
        "06.4", "a CNN exported in training mode, fixed batch", training_cnn, visible.same_signature
    ),
]
