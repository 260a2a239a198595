"""The sandbox-to-grader wire format: plain data round-trips, nothing else comes back alive."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lessonlib.classroom import plaindata
from lessonlib.classroom.plaindata import (
    PlainDataError,
    Unreadable,
    decode,
    describe,
    dumps,
    encode,
    loads,
)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -(2**70),
        2.5,
        "text",
        b"\x00\xff",
        [1, "a"],
        (1, (2, 3)),
        {"a": 1, 2: [3], (1, "x"): None},
        {1, 2},
        1 + 2j,
    ],
)
def test_plain_values_round_trip(value):
    assert loads(dumps(value)) == value


def test_non_finite_floats_round_trip():
    back = loads(dumps([math.inf, -math.inf, math.nan]))
    assert back[:2] == [math.inf, -math.inf] and math.isnan(back[2])


@pytest.mark.parametrize(
    "dtype",
    [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.uint8,
        torch.bool,
        torch.complex64,
    ],
)
def test_tensors_round_trip_exactly(dtype):
    t = (torch.randn(3, 4) * 10).to(dtype)
    back = loads(dumps(t))
    assert isinstance(back, torch.Tensor) and back.dtype == dtype and back.shape == t.shape
    assert torch.equal(back, t)


def test_tensor_details():
    grad = torch.ones(2, requires_grad=True) * 2
    assert torch.equal(loads(dumps(grad)), torch.full((2,), 2.0))
    assert loads(dumps(torch.arange(6).reshape(2, 3).t())).tolist() == [[0, 3], [1, 4], [2, 5]]
    assert loads(dumps(torch.empty(0, 3))).shape == (0, 3)
    assert loads(dumps(torch.nn.Parameter(torch.zeros(2)))).requires_grad is False


def test_arrays_and_numpy_scalars():
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    back = loads(dumps(a))
    assert isinstance(back, np.ndarray) and back.dtype == np.int32 and (back == a).all()
    assert loads(dumps(np.float32(1.5))) == 1.5 and type(loads(dumps(np.int64(2)))) is int


def test_objects_that_are_not_plain_data_come_back_unreadable():
    class Sneaky(str):
        def __eq__(self, other):
            return True

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    for value in (Sneaky("x"), Payload(), object(), np.array([object()]), [Payload()]):
        back = loads(dumps(value))
        inner = back[0] if isinstance(back, list) else back
        assert isinstance(inner, Unreadable)
        assert inner != inner and inner != "x"
    assert "not plain data" in describe(loads(dumps(Payload())))


@pytest.mark.parametrize(
    "hostile",
    [
        {"t": "tensor", "dtype": "object", "shape": [1], "v": ""},
        {"t": "tensor", "dtype": "float32", "shape": [2], "v": "AAAA"},
        {"t": "tensor", "dtype": "float32", "shape": [-1], "v": ""},
        {"t": "ndarray", "dtype": "O", "shape": [1], "v": ""},
        {"t": "pickle", "v": "gASVAAAA"},
        {"t": "dict", "v": [[[1], 2]]},
        {"t": "bigint", "v": "9" * 5000},
        {"t": "bytes", "v": "not base64!"},
        {"__class__": "os.system"},
    ],
)
def test_malformed_or_hostile_nodes_are_refused(hostile):
    with pytest.raises(PlainDataError):
        decode(hostile)


def test_depth_and_size_limits():
    deep: list = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(PlainDataError):
        encode(deep)
    with pytest.raises(PlainDataError):
        decode(json.loads("[" * 200 + "]" * 200))
    with pytest.raises(PlainDataError):
        loads("{" * 100)


def test_describe_is_short():
    assert describe([1, 2]) == "a list of 2 of int"
    assert describe(torch.zeros(2, 3)) == "a Tensor of shape (2, 3) (float32)"
    assert len(describe("x" * 1000)) < 60
    assert plaindata.describe(None) == "None"
