"""Lesson 03 exercises, solved. Never shipped to students."""

from __future__ import annotations

import torch

Pair = int | tuple[int, int]


def _pair(value: Pair) -> tuple[int, int]:
    return value if isinstance(value, tuple) else (value, value)


def count_parameters(params: dict[str, torch.Tensor]) -> dict[str, int]:
    """TODO(03.1) solved: elements of all tensors, and of those with requires_grad."""
    total = sum(t.numel() for t in params.values())
    trainable = sum(t.numel() for t in params.values() if t.requires_grad)
    return {"total": total, "trainable": trainable, "non_trainable": total - trainable}


def conv2d_output_shape(
    input_shape: tuple[int, int, int, int],
    out_channels: int,
    kernel_size: Pair,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
) -> tuple[int, int, int, int]:
    """TODO(03.2) solved: floor((n + 2p - d(k - 1) - 1) / s) + 1 per spatial dimension."""
    n, _, h, w = input_shape
    sizes = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(
            (h, w),
            _pair(kernel_size),
            _pair(stride),
            _pair(padding),
            _pair(dilation),
            strict=True,
        )
    ]
    return (n, out_channels, sizes[0], sizes[1])


def conv2d_mult_adds(
    input_shape: tuple[int, int, int, int],
    out_channels: int,
    kernel_size: Pair,
    stride: Pair = 1,
    padding: Pair = 0,
    dilation: Pair = 1,
    groups: int = 1,
    bias: bool = True,
) -> int:
    """TODO(03.3) solved: (weights + bias) x every output position of the batch."""
    n, c_in, _, _ = input_shape
    _, _, h_out, w_out = conv2d_output_shape(
        input_shape, out_channels, kernel_size, stride, padding, dilation
    )
    kh, kw = _pair(kernel_size)
    weights = out_channels * (c_in // groups) * kh * kw
    return (weights + (out_channels if bias else 0)) * n * h_out * w_out


def params_size_mb(params: dict[str, torch.Tensor]) -> float:
    """TODO(03.4) solved: bytes of every element, in units of 10**6 bytes."""
    return sum(t.numel() * t.element_size() for t in params.values()) / 1e6


def freeze_all_but(params: dict[str, torch.Tensor], head: str) -> list[str]:
    """TODO(03.5) solved: requires_grad only for names inside module ``head``."""
    for name, tensor in params.items():
        tensor.requires_grad_(name == head or name.startswith(head + "."))
    return sorted(name for name, tensor in params.items() if tensor.requires_grad)
