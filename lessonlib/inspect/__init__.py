"""``lessonlib inspect``: every view of a model in one offline report folder.

``inspect_model(target, inputs)`` writes ``build/inspect/<name>/report.html`` and ``report.md``
with the torchinfo summary, the torchview and autograd graphs, ONNX export and parity, a
Netron screenshot, per-layer activations, gradient flow, weight histograms, Grad-CAM and a
TensorBoard log. Torch is imported only when a report is made.
"""

from __future__ import annotations

from lessonlib.inspect.core import VIEWS, InspectResult, inspect_model
from lessonlib.inspect.target import InputSpec, InspectError, load_target, parse_input

__all__ = [
    "VIEWS",
    "InputSpec",
    "InspectError",
    "InspectResult",
    "inspect_model",
    "load_target",
    "parse_input",
]
