"""Plain data across a process boundary without running code on load.

A sandboxed submission hands its functions' return values to the grader as JSON in which
every object is a tagged node: tensors and arrays travel as raw bytes with dtype and shape,
containers as lists. ``decode`` builds only plain Python values, ``torch.Tensor`` and
``numpy.ndarray`` from it, whatever the bytes say, so a hostile process can send wrong
answers but never an object with its own ``__eq__``, ``__reduce__`` or ``__del__``.
No pickle, no ``eval``, no imports by name.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

# dtype names both sides accept; anything else is refused on decode.
TENSOR_DTYPES = (
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
)
ARRAY_DTYPES = (
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
)
MAX_DEPTH = 64
MAX_ITEMS = 1_000_000
MAX_BYTES = 64 * 2**20


class PlainDataError(ValueError):
    """The data is not plain data (on encode) or not well-formed (on decode)."""


class Unreadable:
    """Stands for a value the submission returned that is not plain data.

    It equals nothing (not even another ``Unreadable``), so any check comparing it fails.
    """

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<a {self.type_name} object, which is not plain data>"


# ---------------------------------------------------------------- encode (sandbox side)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _encode(value: Any, depth: int, budget: list[int]) -> Any:
    if depth > MAX_DEPTH:
        raise PlainDataError("nested deeper than 64 levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise PlainDataError(f"more than {MAX_ITEMS} items")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return value if -(2**63) <= value < 2**63 else {"t": "bigint", "v": str(value)}
    if kind is float:
        return value if math.isfinite(value) else {"t": "float", "v": repr(value)}
    if kind is list:
        return [_encode(v, depth + 1, budget) for v in value]
    if kind is tuple:
        return {"t": "tuple", "v": [_encode(v, depth + 1, budget) for v in value]}
    if kind is dict:
        items = [
            [_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)] for k, v in value.items()
        ]
        return {"t": "dict", "v": items}
    if kind in (set, frozenset):
        return {"t": "set", "v": [_encode(v, depth + 1, budget) for v in value]}
    if kind is bytes:
        return {"t": "bytes", "v": _b64(value)}
    if kind is complex:
        return {"t": "complex", "v": [repr(value.real), repr(value.imag)]}
    module = getattr(kind, "__module__", "") or ""
    if module.startswith("torch"):
        encoded = _encode_torch(value)
        if encoded is not None:
            return encoded
    if module.startswith("numpy"):
        encoded = _encode_numpy(value)
        if encoded is not None:
            return encoded
    if module == "pathlib" or kind.__name__.endswith("Path"):
        return {"t": "path", "v": str(value)}
    return {"t": "unreadable", "v": f"{module}.{kind.__qualname__}".lstrip(".")}


def _encode_torch(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Size):
        return {"t": "tuple", "v": [int(v) for v in value]}
    if isinstance(value, torch.dtype):
        return {"t": "str", "v": str(value)}
    if not isinstance(value, torch.Tensor):
        return None
    t = torch.Tensor.detach(value).to("cpu").contiguous()
    dtype = str(t.dtype).removeprefix("torch.")
    if dtype not in TENSOR_DTYPES:
        return {"t": "unreadable", "v": f"torch.Tensor of dtype {dtype}"}
    raw = t.view(torch.int16) if dtype == "bfloat16" else t
    data = raw.numpy().tobytes() if t.numel() else b""
    return {"t": "tensor", "dtype": dtype, "shape": list(t.shape), "v": _b64(data)}


def _encode_numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        item = value.item()
        return (
            item
            if type(item) in (bool, int, float, complex) and not isinstance(item, complex)
            else _encode(item, 0, [MAX_ITEMS])
        )
    if not isinstance(value, np.ndarray):
        return None
    dtype = str(value.dtype)
    if dtype not in ARRAY_DTYPES:
        return {"t": "unreadable", "v": f"numpy.ndarray of dtype {dtype}"}
    data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False)
    return {"t": "ndarray", "dtype": dtype, "shape": list(value.shape), "v": _b64(data.tobytes())}


def encode(value: Any) -> Any:
    """``value`` as JSON-ready data (tagged nodes); non-plain objects become ``unreadable``."""
    return _encode(value, 0, [MAX_ITEMS])


def dumps(value: Any) -> str:
    """``encode`` then JSON text on one line."""
    return json.dumps(encode(value), separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------- decode (grader side)


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise PlainDataError(what)


def _shape(node: dict) -> tuple[int, ...]:
    shape = node.get("shape")
    _need(type(shape) is list and len(shape) <= 32, "bad shape")
    _need(all(type(s) is int and 0 <= s <= 2**31 for s in shape), "bad shape")
    return tuple(shape)


def _raw(node: dict) -> bytes:
    text = node.get("v")
    _need(type(text) is str and len(text) <= MAX_BYTES * 4 // 3 + 4, "bad bytes")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise PlainDataError("bad base64") from exc


def _decode_tensor(node: dict):
    import numpy as np
    import torch

    dtype = node.get("dtype")
    _need(dtype in TENSOR_DTYPES, f"tensor dtype {dtype!r} not accepted")
    shape, raw = _shape(node), _raw(node)
    numel = math.prod(shape)
    tdtype = getattr(torch, dtype)
    itemsize = torch.empty((), dtype=tdtype).element_size()
    _need(len(raw) == numel * itemsize, "tensor bytes do not match its shape")
    if numel == 0:
        return torch.empty(shape, dtype=tdtype)
    if dtype == "bfloat16":
        ints = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy())
        return ints.view(torch.bfloat16).reshape(shape)
    array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).copy()
    return torch.from_numpy(array.astype(np.dtype(dtype), copy=False)).reshape(shape)


def _decode_array(node: dict):
    import numpy as np

    dtype = node.get("dtype")
    _need(dtype in ARRAY_DTYPES, f"array dtype {dtype!r} not accepted")
    shape, raw = _shape(node), _raw(node)
    want = np.dtype(dtype).newbyteorder("<")
    _need(len(raw) == math.prod(shape) * want.itemsize, "array bytes do not match its shape")
    return np.frombuffer(raw, dtype=want).astype(np.dtype(dtype)).reshape(shape)


def _decode(node: Any, depth: int) -> Any:
    _need(depth <= MAX_DEPTH, "nested too deeply")
    kind = type(node)
    if node is None or kind in (bool, int, float, str):
        return node
    if kind is list:
        return [_decode(v, depth + 1) for v in node]
    _need(kind is dict, "not plain data")
    tag, v = node.get("t"), node.get("v")
    if tag == "tuple":
        _need(type(v) is list, "bad tuple")
        return tuple(_decode(x, depth + 1) for x in v)
    if tag == "dict":
        _need(type(v) is list and all(type(p) is list and len(p) == 2 for p in v), "bad dict")
        out = {}
        for key, val in v:
            key = _decode(key, depth + 1)
            _need(type(key) in (str, int, float, bool, tuple) or key is None, "bad dict key")
            try:
                out[key] = _decode(val, depth + 1)
            except TypeError as exc:  # a tuple key holding something unhashable
                raise PlainDataError("bad dict key") from exc
        return out
    if tag == "set":
        _need(type(v) is list, "bad set")
        items = [_decode(x, depth + 1) for x in v]
        try:
            return set(items)
        except TypeError as exc:
            raise PlainDataError("bad set") from exc
    if tag == "bigint":
        _need(type(v) is str and 0 < len(v) <= 4000, "bad int")
        return int(v)
    if tag == "float":
        _need(v in ("inf", "-inf", "nan"), "bad float")
        return float(v)
    if tag == "complex":
        _need(type(v) is list and len(v) == 2 and all(type(x) is str for x in v), "bad complex")
        return complex(float(v[0]), float(v[1]))
    if tag == "bytes":
        return _raw(node)
    if tag in ("str", "path"):
        _need(type(v) is str, "bad string")
        return v
    if tag == "tensor":
        return _decode_tensor(node)
    if tag == "ndarray":
        return _decode_array(node)
    if tag == "unreadable":
        return Unreadable(str(v)[:120])
    raise PlainDataError(f"unknown tag {str(tag)[:40]!r}")


def decode(data: Any) -> Any:
    """Plain values (and tensors, arrays) from ``encode``'s output; ``PlainDataError`` if bad."""
    try:
        return _decode(data, 0)
    except RecursionError as exc:
        raise PlainDataError("nested too deeply") from exc


def loads(text: str | bytes) -> Any:
    """Parse JSON text then ``decode`` it."""
    if len(text) > MAX_BYTES * 2:
        raise PlainDataError("too large")
    try:
        return decode(json.loads(text))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise PlainDataError(f"not JSON: {exc}") from exc


def describe(value: Any) -> str:
    """A short phrase for a decoded value: ``a list of 3 str``, ``a Tensor of shape (2, 3)``."""
    if isinstance(value, Unreadable):
        return f"a {value.type_name} (not plain data)"
    kind = type(value).__name__
    if kind == "Tensor":
        return f"a Tensor of shape {tuple(value.shape)} ({str(value.dtype).removeprefix('torch.')})"
    if kind == "ndarray":
        return f"an array of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, (list, tuple, set, dict)):
        inner = sorted({type(v).__name__ for v in value})[:3]
        of = f" of {'/'.join(inner)}" if inner else ""
        return f"a {kind} of {len(value)}{of}"
    if value is None:
        return "None"
    text = repr(value)
    text = text if len(text) <= 40 else text[:39] + "…"
    article = "an" if kind[:1] in "aeiou" else "a"
    return f"{article} {kind} ({text})"
