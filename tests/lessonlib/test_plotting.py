import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torchvision import transforms
from torchvision.utils import make_grid

from lessonlib import plotting


def test_unnormalize_inverts_torchvision_normalize():
    images = torch.rand(2, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.3, 0.4)
    normed = transforms.Normalize(mean, std)(images)
    torch.testing.assert_close(plotting.unnormalize(normed, mean, std), images, atol=1e-6, rtol=0)
    assert plotting.unnormalize(normed * 10, mean, std).max() <= 1.0
    assert plotting.unnormalize(normed * 10, mean, std, clamp=False).max() > 1.0


def test_unnormalize_needs_one_value_per_channel():
    with pytest.raises(ValueError, match="one value per channel"):
        plotting.unnormalize(torch.zeros(3, 4, 4), (0.5,), (0.5,))


def test_to_hwc_moves_channels_last_and_squeezes_gray():
    rgb = torch.arange(24.0).reshape(3, 2, 4)
    assert plotting.to_hwc(rgb).shape == (2, 4, 3)
    np.testing.assert_array_equal(plotting.to_hwc(rgb)[..., 1], rgb[1].numpy())
    assert plotting.to_hwc(torch.zeros(1, 5, 6)).shape == (5, 6)
    with pytest.raises(ValueError):
        plotting.to_hwc(torch.zeros(5, 6))


def test_image_grid_is_make_grid_channels_last():
    images = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    got = plotting.image_grid(images, nrow=3, padding=1, pad_value=0.0)
    want = make_grid(images, nrow=3, padding=1, pad_value=0.0).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(got, want)
    assert got.shape == (2 * 5 + 1, 3 * 5 + 1, 3)


def test_per_class_indices_picks_rows_of_each_class():
    labels = [2, 0, 1, 0, 2, 1, 0, 2, 1]
    assert plotting.per_class_indices(labels, 2) == [1, 3, 2, 5, 0, 4]
    with pytest.raises(ValueError, match="class 0 has only 3"):
        plotting.per_class_indices(labels, 4)


def test_save_figure_writes_a_png_and_keeps_the_figure(tmp_path):
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    path = plotting.save_figure(fig, "line", tmp_path / "out")
    assert path == tmp_path / "out" / "line.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plt.fignum_exists(fig.number), "the figure stays open for plt.show()"
    plt.close(fig)


def test_save_figure_displays_the_png_in_a_kernel_without_inline_figures(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(plotting, "_kernel_without_inline_figures", lambda: True)
    monkeypatch.setattr("lessonlib.graphs.show_image", lambda path, width=None: shown.append(path))
    fig, _ = plt.subplots(figsize=(1, 1))
    path = plotting.save_figure(fig, "shown", tmp_path)
    assert shown == [path]
    plt.close(fig)


def test_outside_a_kernel_nothing_extra_is_displayed():
    assert plotting._kernel_without_inline_figures() is False
