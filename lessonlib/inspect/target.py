"""What ``lessonlib inspect`` looks at: a model from a target string, and the inputs to feed it.

Targets: ``path/to/file.py:factory`` (a function or class returning an ``nn.Module``),
``torchvision:resnet18`` (random weights, never downloaded), a TorchScript file (``.pt``,
``.pth`` or ``.ts`` holding a scripted or traced module) or an ``.onnx`` file. Every mistake
a user can make here ends in an :class:`InspectError`: one sentence, exit code 2.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lessonlib.errors import LessonlibError

DTYPES = {
    "float32": "float32",
    "float": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "bool": "bool",
}


class InspectError(LessonlibError):
    """A target, shape, weights file or option that inspect cannot use (one sentence)."""


@dataclass(frozen=True)
class InputSpec:
    """One model input: its shape and dtype name (``1,3,224,224`` or ``1,16:int64``)."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        text = "×".join(map(str, self.shape))
        return text if self.dtype == "float32" else f"{text} {self.dtype}"


def parse_input(text: str) -> InputSpec:
    """``"1,3,224,224"`` (or ``"1x3x224x224"``, ``"1,16:int64"``) as an :class:`InputSpec`."""
    raw = str(text).strip()
    shape_text, _, dtype_text = raw.partition(":")
    parts = re.split(r"\s*[,x×]\s*", shape_text.strip().strip("()[]").strip().rstrip(","))
    if not parts or not all(p.isdigit() for p in parts) or any(int(p) == 0 for p in parts):
        raise InspectError(
            f"--input {raw!r} is not a shape: give positive sizes separated by commas, "
            "e.g. --input 1,3,224,224 (add :int64 for token ids)."
        )
    dtype = (dtype_text or "float32").strip().lower()
    if dtype not in DTYPES:
        raise InspectError(
            f"--input {raw!r} names an unknown dtype {dtype!r}: use one of "
            f"{', '.join(sorted(set(DTYPES.values())))}."
        )
    return InputSpec(tuple(int(p) for p in parts), DTYPES[dtype])


def torch_dtype(name: str):
    """The torch dtype called ``name`` (a key of ``DTYPES``)."""
    import torch

    if name.lower() not in DTYPES:
        raise InspectError(
            f"--dtype {name!r} is not a dtype inspect knows: use float32, float64, float16 "
            "or bfloat16."
        )
    return getattr(torch, DTYPES[name.lower()])


@dataclass
class Target:
    """A loaded target: a model (or only an ONNX file), its name and where it came from."""

    name: str
    kind: str  # "module", "torchscript" or "onnx"
    source: str
    model: Any = None  # an nn.Module for "module" and "torchscript"
    onnx_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "model"


def load_target(
    target: str, *, seed: int = 0, weights: str | Path | None = None, dtype: str | None = None
) -> Target:
    """Load ``target`` into a :class:`Target` (random weights seeded by ``seed``)."""
    text = str(target).strip()
    if text.startswith("torchvision:"):
        loaded = _torchvision_model(text.split(":", 1)[1], seed)
    elif re.search(r"\.onnx$", text, re.IGNORECASE):
        path = _existing_file(Path(text))
        loaded = Target(_safe_name(path.stem), "onnx", text, onnx_path=path)
    elif ".py:" in text or text.endswith(".py"):
        loaded = _factory_model(text, seed)
    elif Path(text).suffix.lower() in (".pt", ".pth", ".ts", ".jit"):
        loaded = _torchscript_model(_existing_file(Path(text)))
    else:
        raise InspectError(
            f"{text!r} is not a target inspect knows: give path/to/file.py:factory, "
            "torchvision:resnet18, a TorchScript .pt file or an .onnx file."
        )
    if weights is not None:
        if loaded.model is None:
            raise InspectError(f"--weights needs a PyTorch model, and {text} is an ONNX file.")
        _load_weights(loaded, Path(weights))
    if dtype is not None and loaded.model is not None:
        loaded.model = loaded.model.to(torch_dtype(dtype))
    if loaded.model is not None:
        loaded.model.eval()
    return loaded


def _existing_file(path: Path) -> Path:
    if not path.is_file():
        raise InspectError(f"{path} does not exist: give the path of an existing file.")
    return path


def _torchvision_model(name: str, seed: int) -> Target:
    import torch
    import torchvision

    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError:
        near = [n for n in torchvision.models.list_models() if name.lower()[:3] in n][:3]
        also = f" (did you mean {', '.join(near)}?)" if near else ""
        raise InspectError(
            f"torchvision has no model called {name!r}{also}: see torchvision.models.list_models()."
        ) from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder(weights=None)  # random weights: nothing is downloaded
    return Target(_safe_name(name), "module", f"torchvision:{name}", model=model)


def _factory_model(text: str, seed: int) -> Target:
    import torch
    from torch import nn

    path_text, _, factory = text.rpartition(":") if ".py:" in text else (text, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise InspectError(f"{path} does not exist: give path/to/file.py:factory.")
    if not factory:
        raise InspectError(
            f"{text!r} names no factory: add ':name' of the function or class that builds the "
            "model, e.g. model.py:make_model."
        )
    module_name = f"_lessonlib_inspect_{_safe_name(path.stem)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    no_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ there
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - the user's file; any failure is one sentence
        raise InspectError(
            f"{path} fails on import ({type(err).__name__}: {_one_line(err)}): fix it, then run "
            "inspect again."
        ) from None
    finally:
        sys.dont_write_bytecode = no_bytecode
    maker = getattr(module, factory, None)
    if not callable(maker):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        listed = ", ".join(names[:6]) or "none"
        raise InspectError(
            f"{path} has no function or class {factory!r} (callables there: {listed})."
        )
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = maker()
    except Exception as err:  # noqa: BLE001
        raise InspectError(
            f"{factory}() raised {type(err).__name__}: {_one_line(err)} (inspect calls it with "
            "no arguments)."
        ) from None
    if not isinstance(model, nn.Module):
        raise InspectError(
            f"{factory}() returned a {type(model).__name__}, not an nn.Module: return the model."
        )
    return Target(_safe_name(factory), "module", text, model=model)


def _torchscript_model(path: Path) -> Target:
    import torch

    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:  # noqa: BLE001
        raise InspectError(
            f"{path} is not a TorchScript file ({_one_line(err)[:80]}): a state dict needs its "
            "model, so give file.py:factory --weights {path} instead."
        ) from None
    return Target(_safe_name(path.stem), "torchscript", str(path), model=model)


def _load_weights(target: Target, path: Path) -> None:
    import torch

    _existing_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise InspectError(
            f"{path} is not a state dict torch.load can read: {_one_line(err)}."
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InspectError(f"{path} holds a {type(state).__name__}, not a state dict.")
    try:
        target.model.load_state_dict(state)
    except RuntimeError as err:
        raise InspectError(
            f"{path} does not fit {target.name}: {_one_line(err).split(':', 1)[0]} (missing or "
            "unexpected keys, or other shapes)."
        ) from None
    target.notes.append(f"weights from {path.name}")


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(err).__name__).rstrip(".")


def example_batch(specs: list[InputSpec], seed: int = 0, image: str | Path | None = None):
    """Seeded inputs for ``specs``: an image batch shows a shape (or ``image``), others noise."""
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(seed)
    batch = []
    for i, spec in enumerate(specs):
        dtype = getattr(torch, spec.dtype)
        if not dtype.is_floating_point:
            high = 2 if dtype == torch.bool else 100
            batch.append(torch.randint(0, high, spec.shape, generator=gen).to(dtype))
            continue
        if i == 0 and _image_like(spec.shape):
            n, c, h, w = spec.shape
            if image is not None:
                pixels = _read_image(Path(image), h, w)[None].repeat(n, 1, 1, 1)
            else:
                from lessonlib.data import make_shapes

                pixels = torch.from_numpy(
                    np.ascontiguousarray(make_shapes(n, max(h, w), seed).images)
                )
                pixels = pixels[:, :, :h, :w]
            if c == 1:
                pixels = pixels.mean(1, keepdim=True)
            batch.append(pixels.to(dtype))
            continue
        batch.append(torch.randn(spec.shape, generator=gen).to(dtype))
    return batch


def _image_like(shape: tuple[int, ...]) -> bool:
    return len(shape) == 4 and shape[1] in (1, 3) and min(shape[2:]) >= 16


def _read_image(path: Path, height: int, width: int):
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    _existing_file(path)
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB").resize((width, height))
    except (UnidentifiedImageError, OSError):
        raise InspectError(f"{path} is not an image PIL can read (PNG, JPEG, ...).") from None
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1)
