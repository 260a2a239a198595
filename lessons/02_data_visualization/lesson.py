# %% [markdown]
# # Lesson 02 — Data visualization
#
# Most bugs in a training pipeline are visible long before they show up in a metric — if
# you look. In this lesson you plot, with **matplotlib** and **seaborn**:
#
# - image batches with `torchvision.utils.make_grid`, after undoing `Normalize` (and what
#   you see if you forget), grayscale versus RGB;
# - the class balance of a data set, and a few samples of every class;
# - training curves of a real (short, seeded) run, an overfitting run, and smoothing;
# - a confusion matrix, raw and normalized;
# - weights: a Linear layer as a heatmap, the first conv filters before and after training,
#   weight distributions;
# - feature maps captured with forward hooks, and an embedding of learned features.
#
# Run it with `lessonlib run 02`; every figure is also saved under `build/02/`.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix
from torchvision.utils import make_grid

from lessonlib import data, models
from lessonlib.figures import show_figure
from lessonlib.paths import build_dir
from lessonlib.plotting import per_class_indices, unnormalize

torch.manual_seed(0)
sns.set_theme(style="whitegrid", font_scale=1.4)  # labels legible at page width
OUT = build_dir("02")

# %% [markdown]
# ## 1. Image grids, and undoing `Normalize`
#
# Our offline **shapes** set has 64x64 RGB images of five shapes. Models train better on
# inputs with zero mean and unit variance, so pipelines apply
# `transforms.Normalize(mean, std)`: `x → (x - mean) / std` per channel. The tensors you
# get from the data set are then no longer images in [0, 1]:

# %%
train_raw, test_raw = data.shapes_splits()  # tensors in [0, 1]
CLASSES = train_raw.classes
normalize = data.normalize_transform()  # transforms.Normalize(SHAPES_MEAN, SHAPES_STD)
batch = normalize(train_raw.images[:16])  # what shapes_splits(transform=normalize) yields
print(f"mean per channel {batch.mean((0, 2, 3)).numpy().round(2)}, std {batch.std().item():.2f}")
print(f"range [{batch.min():.2f}, {batch.max():.2f}]")

# %% [markdown]
# `make_grid` tiles a batch (N, C, H, W) into one (C, H', W') image; `imshow` wants
# (H, W, C), hence the `permute`. Shown as is, matplotlib clips every value to [0, 1]
# (and warns): dark channels turn black, bright ones saturate — the colours are wrong.
# Invert the transform first: `x = x_norm * std + mean` (exercise 02.1).

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6))
axes[0].imshow(make_grid(batch, nrow=8).permute(1, 2, 0))
axes[0].set_title("normalized tensors shown as is: clipped")
fixed = unnormalize(batch, data.SHAPES_MEAN, data.SHAPES_STD)
axes[1].imshow(make_grid(fixed, nrow=8).permute(1, 2, 0))
axes[1].set_title("un-normalized first: the real colours")
for ax in axes:
    ax.axis("off")
show_figure(
    fig,
    name="normalize_grid",
    out_dir=OUT,
    caption="Sixteen shapes after Normalize, shown as is (left: values outside [0, 1] "
    "clipped, colours wrong) and after undoing it (right: the real colours).",
    alt="Two grids of 16 shape images in two rows of 8: on the left dark, "
    "over-saturated colours; on the right the same shapes in their true colours.",
)

# %% [markdown]
# **Grayscale.** scikit-learn's **digits** are 8x8 single-channel images. `imshow` of a 2-D
# array maps values through a *colormap* (matplotlib's viridis, or seaborn's theme's
# rocket here), inventing colours: pass `cmap="gray"` to see intensities.
# `make_grid` repeats a single channel three times, so its result is gray RGB.

# %%
digits_train, digits_test = data.digits_splits()
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1, 3]})
axes[0].imshow(digits_train.images[0, 0])
axes[0].set_title(f"label {digits_train.labels[0]}: default colormap")
axes[1].imshow(digits_train.images[0, 0], cmap="gray")
axes[1].set_title('cmap="gray"')
axes[2].imshow(make_grid(digits_train.images[:24], nrow=12, pad_value=0.5).permute(1, 2, 0))
axes[2].set_title("make_grid: 1 channel → 3 equal channels")
for ax in axes:
    ax.axis("off")
show_figure(
    fig,
    name="digits_grayscale",
    out_dir=OUT,
    caption="One 8x8 digit with the default colormap (invented colours) and with "
    'cmap="gray", then 24 digits tiled by make_grid as gray RGB.',
    alt="A digit drawn in purple-orange colours, the same digit in gray levels, and a "
    "grid of 24 gray handwritten digits.",
)

# %% [markdown]
# ## 2. Class balance and samples per class
#
# A countplot answers "how many of each class?" — the first question before reading any
# accuracy. Both sets are balanced; a 150-image subset of digits (used in section 3) is not.


# %%
def label_frame(name, labels, classes):
    return pd.DataFrame({"class": [classes[i] for i in labels.tolist()], "split": name})


DIGITS = digits_train.classes
shapes = {"train": train_raw.labels, "test": test_raw.labels}
digits = {"train": digits_train.labels, "test": digits_test.labels}
digits["subset of 150"] = digits_train.labels[:150]
shapes_df = pd.concat(label_frame(k, v, CLASSES) for k, v in shapes.items())
digits_df = pd.concat(label_frame(k, v, DIGITS) for k, v in digits.items())
fig, axes = plt.subplots(1, 2, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1, 2]})
sns.countplot(data=shapes_df, x="class", hue="split", order=CLASSES, ax=axes[0])
sns.countplot(data=digits_df, x="class", hue="split", order=DIGITS, ax=axes[1])
axes[0].set_title("shapes")
axes[1].set_title("digits")
show_figure(
    fig,
    name="class_balance",
    out_dir=OUT,
    caption="How many images of each class: the shapes and digits splits are "
    "balanced, the 150-digit subset is not.",
    alt="Two bar charts of counts per class: shapes (5 classes) and digits (10 "
    "classes), with train, test and subset bars; the subset's bars differ in "
    "height.",
)

# %%
per_class = 8
idx = per_class_indices(train_raw.labels, per_class)
fig, ax = plt.subplots(figsize=(8, 5.2))
grid = make_grid(train_raw.images[idx], nrow=per_class, padding=2, pad_value=1)
ax.imshow(grid.permute(1, 2, 0))
ax.set_yticks([2 + 66 * k + 32 for k in range(len(CLASSES))], CLASSES)
ax.set_xticks([])
ax.set_title(f"{per_class} training samples per class")
ax.grid(False)
show_figure(
    fig,
    name="samples_per_class",
    out_dir=OUT,
    caption="Eight training images per class, one row per class: the first look at "
    "what the model must tell apart.",
    alt="A grid of 40 small images in 5 rows labelled circle, square, triangle, cross "
    "and diamond, each on a random background colour.",
)

# %% [markdown]
# ## 3. Training curves
#
# `trained_shapes_cnn()` trains our small CNN for a few epochs (seeded, cached under
# `build/cache`) and keeps the per-epoch history. Plot train and validation side by side:
# the gap between them is what you watch.

# %%
cnn, result = models.trained_shapes_cnn()
hist = pd.DataFrame(result.history)
hist.index = hist.index + 1
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
hist[["train_loss", "val_loss"]].plot(ax=axes[0], marker="o", title="loss (cross-entropy)")
hist[["train_acc", "val_acc"]].plot(ax=axes[1], marker="o", title="accuracy")
for ax in axes:
    ax.set_xlabel("epoch")
show_figure(
    fig,
    name="training_curves",
    out_dir=OUT,
    caption="The small CNN's loss and accuracy per epoch, train and validation side "
    "by side: the gap between the curves is what you watch.",
    alt="Two line charts over epochs: loss falling for train and validation, accuracy "
    "rising for both, close together.",
)
how = "from the cache" if result.from_cache else f"trained in {result.seconds:.0f} s"
print(f"shapes CNN: test accuracy {result.test_accuracy:.1%} ({how})")

# %% [markdown]
# **Overfitting**, on purpose: a wide MLP on only 150 digits. We record the loss of every
# mini-batch (noisy) and, once per epoch, the loss on the whole training subset and on the
# 360 validation digits. A rolling mean smooths the noisy curve (TensorBoard's slider
# uses an exponential moving average instead: exercise 02.5).

# %%
flat_train, flat_test = data.digits_splits(flat=True)
x_small, y_small = flat_train.images[:150], flat_train.labels[:150]
x_val, y_val = flat_test.images, flat_test.labels
torch.manual_seed(0)
wide = models.TinyMLP(64, 256, 10)
opt = torch.optim.Adam(wide.parameters(), lr=3e-3)
gen = torch.Generator().manual_seed(0)
step_losses, rows = [], []
threads = torch.get_num_threads()
torch.set_num_threads(1)  # for a model this small, syncing threads costs more than they save
for epoch in range(1, 41):
    wide.train()
    for b in torch.randperm(150, generator=gen).split(30):
        loss = F.cross_entropy(wide(x_small[b]), y_small[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step_losses.append(loss.item())
    wide.eval()
    with torch.no_grad():
        train_loss = F.cross_entropy(wide(x_small), y_small).item()
        rows.append((epoch, train_loss, F.cross_entropy(wide(x_val), y_val).item()))
torch.set_num_threads(threads)
curve = pd.DataFrame(rows, columns=["epoch", "train", "val"]).set_index("epoch")
best = int(curve["val"].idxmin())

# %%
steps = pd.Series(step_losses, index=np.arange(1, len(step_losses) + 1) / 5)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
axes[0].plot(steps, alpha=0.3, label="every mini-batch")
axes[0].plot(steps.rolling(20, min_periods=1).mean(), label="rolling mean of 20")
axes[0].set(yscale="log", xlabel="epoch", ylabel="train loss", title="raw vs smoothed")
curve.plot(ax=axes[1], logy=True, title="150 training digits: overfitting")
axes[1].axvline(best, color="gray", linestyle="--", label=f"lowest val loss (epoch {best})")
axes[1].set(xlabel="epoch", ylabel="loss")
for ax in axes:
    ax.legend()
show_figure(
    fig,
    name="overfitting",
    out_dir=OUT,
    caption="Overfitting on 150 digits. Left: every mini-batch's loss (noisy) and its "
    "rolling mean. Right: training loss keeps falling while validation loss "
    "stops improving at the dashed line: the gap is memorisation.",
    alt="Two log-scale line charts: a noisy pale curve with a smooth curve through "
    "it; then train loss falling towards zero while validation loss flattens out "
    "well above it, its minimum marked by a dashed vertical line.",
)
print(f"val loss: {curve['val'][best]:.3f} at epoch {best}, {curve['val'][40]:.3f} at epoch 40")
print(f"train loss at epoch 40: {curve['train'][40]:.4f}")

# %% [markdown]
# The training loss keeps falling towards 0 while the validation loss stops improving and
# then creeps back up: the network memorises its 150 examples instead of learning digits.
# Early stopping would keep the weights of the dashed line.
#
# ## 4. Confusion matrix
#
# Accuracy is one number; the confusion matrix says *which* classes get mixed up. Rows are
# the true class, columns the prediction. Normalizing each row (`normalize="true"`) turns
# counts into per-class recall, comparable across classes of different sizes.

# %%
mlp, _ = models.trained_digits_mlp()
with torch.no_grad():
    pred = mlp(x_val).argmax(1)
raw = confusion_matrix(y_val, pred)
normed = confusion_matrix(y_val, pred, normalize="true")
fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
counts = np.where(raw > 0, raw.astype(str), "")  # leave the zeros blank
percent = np.where(normed > 0, [[f"{v:.0%}" for v in row] for row in normed], "")
sns.heatmap(raw, annot=counts, fmt="", cmap="Blues", cbar=False, ax=axes[0])
sns.heatmap(normed, annot=percent, fmt="", cmap="Blues", vmin=0, vmax=1, ax=axes[1])
for ax, title in zip(axes, ["counts", "normalized by true class (recall)"], strict=True):
    ax.set(xlabel="predicted digit", ylabel="true digit", title=title)
show_figure(
    fig,
    name="confusion_matrix",
    out_dir=OUT,
    caption="The digits MLP's confusion matrix: counts (left) and each row normalized "
    "to recall (right). Off-diagonal cells are the mistakes.",
    alt="Two 10 by 10 blue heatmaps with true digit on the rows and predicted digit "
    "on the columns, dark along the diagonal, a few small numbers off it.",
)
off = raw - np.diag(np.diag(raw))
t, p = np.unravel_index(off.argmax(), off.shape)
print(f"accuracy {np.trace(raw) / raw.sum():.1%}; most frequent mistake: {t} read as {p}")

# %% [markdown]
# ## 5. Looking at weights
#
# **A Linear layer** is a matrix: row *i* holds the weights hidden unit *i* gives to each
# input pixel. As a heatmap it is hard to read; reshaped to 8x8 each row becomes a picture
# of what that unit responds to (red: this pixel raises the unit, blue: lowers it).

# %%
w = mlp.fc1.weight.detach()  # (32 hidden units, 64 pixels)
fig, axes = plt.subplots(1, 2, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
sns.heatmap(w.numpy(), cmap="RdBu_r", center=0, xticklabels=8, yticklabels=4, ax=axes[0])
axes[0].set(xlabel="input pixel", ylabel="hidden unit", title="fc1.weight (32 x 64)")
lim = w.abs().max()
units = make_grid(((w / lim + 1) / 2).reshape(32, 1, 8, 8), nrow=8, pad_value=0.5)
axes[1].imshow(units[0], cmap="RdBu_r", vmin=0, vmax=1)
axes[1].set_title("each row as an 8x8 image")
axes[1].axis("off")
show_figure(
    fig,
    name="linear_weights",
    out_dir=OUT,
    caption="fc1.weight of the digits MLP: as a 32 x 64 heatmap (hard to read) and "
    "each hidden unit's row reshaped to an 8x8 picture (red raises the unit, "
    "blue lowers it).",
    alt="A red-blue heatmap of 32 rows by 64 columns, and 32 small red-blue 8x8 tiles "
    "arranged in four rows.",
)

# %% [markdown]
# **Conv filters before and after training.** `small_cnn(seed)` rebuilds the exact
# initial weights of the trained model. Each 3x3x3 filter of the first layer is a tiny RGB
# patch, scaled on its own to [0, 1] (`scale_each=True`; exercise 02.4 builds this grid).
# At 3x3 there is little to read in one filter, but every one of them moved; in networks
# with larger first-layer kernels (AlexNet's 11x11) the same grid shows oriented edges
# and colour blobs.

# %%
untrained = models.small_cnn(0, width=models.SHAPES_CNN_CONFIG["width"]).eval()
fig, axes = plt.subplots(2, 1, figsize=(8, 3.6))
for ax, net, when in zip(axes, (untrained, cnn), ("before", "after"), strict=True):
    filters = net.features[0].weight.detach()
    grid = make_grid(filters, nrow=8, padding=1, normalize=True, scale_each=True, pad_value=1)
    ax.imshow(grid.permute(1, 2, 0), interpolation="nearest")
    ax.set_title(f"{when} training: features.0, {tuple(filters.shape)}")
    ax.axis("off")
show_figure(
    fig,
    name="conv_filters",
    out_dir=OUT,
    caption="The first conv layer's 3x3 RGB filters before and after training, each "
    "scaled on its own: every filter moved.",
    alt="Two rows of tiny coloured 3x3 squares, the filters before training above and "
    "after training below.",
)
w0, w1 = untrained.features[0].weight, cnn.features[0].weight
print(f"relative change of the first layer's weights: {(w1 - w0).norm() / w0.norm():.2f}")

# %% [markdown]
# **Weight distributions.** PyTorch initialises Conv2d and Linear weights uniformly in
# ±1/√fan_in (the flat blue boxes); training spreads them into wider, bell-shaped
# distributions. A layer whose histogram never moves is not learning.

# %%
layers = [n for n, m in cnn.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
fig, axes = plt.subplots(1, len(layers), figsize=(15, 3))
for ax, name in zip(axes, layers, strict=True):
    for when, net in (("before", untrained), ("after", cnn)):
        values = net.get_submodule(name).weight.detach().flatten().numpy()
        sns.histplot(values, element="step", stat="density", alpha=0.4, label=when, ax=ax)
    ax.set(title=name, xlabel="weight")
axes[0].legend()
show_figure(
    fig,
    name="weight_distributions",
    out_dir=OUT,
    caption="Weight histograms per layer before (flat, uniform initialisation) and "
    "after training (wider, bell-shaped).",
    alt="One small histogram per Conv2d and Linear layer, each overlaying a flat "
    "box-shaped before distribution and a wider rounded after distribution.",
)

# %% [markdown]
# ## 6. Feature maps with forward hooks
#
# A **forward hook** is a function PyTorch calls after a module's `forward`, with its input
# and output. Register one per layer you want to see, run the model once, then **remove
# the hooks** — a forgotten hook keeps running (and keeping tensors alive) on every later
# call. Exercise 02.3 packages this.

# %%
activations = {}


def keep_output(name):
    def hook(module, inputs, output):
        activations[name] = output.detach()

    return hook


names = ["features.2", "features.6", "features.10"]  # the ReLU after each conv
handles = [cnn.get_submodule(n).register_forward_hook(keep_output(n)) for n in names]
image, label = test_raw[3]
try:
    with torch.no_grad():
        logits = cnn(image[None])
finally:
    for handle in handles:
        handle.remove()
print({n: tuple(a.shape) for n, a in activations.items()})
print(f"predicted {CLASSES[logits.argmax()]}, true {CLASSES[label]}")
print("hooks left on the model:", sum(len(m._forward_hooks) for m in cnn.modules()))

# %%
fig, axes = plt.subplots(1, 4, figsize=(15, 3.6), gridspec_kw={"width_ratios": [1, 2, 2, 2]})
axes[0].imshow(image.permute(1, 2, 0))
axes[0].set_title(f"input: {CLASSES[label]}")
for ax, name in zip(axes[1:], names, strict=True):
    maps = activations[name][0, :8, None]  # first 8 channels as 1-channel images
    grid = make_grid(maps, nrow=4, normalize=True, scale_each=True, pad_value=float("nan"))
    ax.imshow(grid[0], cmap="magma")  # NaN padding shows as background
    ax.set_title(f"{name}: {tuple(activations[name].shape[1:])}")
for ax in axes:
    ax.axis("off")
show_figure(
    fig,
    name="feature_maps",
    out_dir=OUT,
    caption="A test image and the first 8 feature maps after each ReLU, caught with "
    "forward hooks: early maps trace edges, deeper ones are coarser.",
    alt="A shape image, then three grids of 8 heat maps each in magenta-black tones, "
    "getting smaller and blockier from left to right.",
)

# %% [markdown]
# Early maps look like edge detectors on the image; deeper ones are coarser and respond
# to whole parts of the shape.
#
# ## 7. An embedding of learned features
#
# The 32 numbers entering the classifier's Linear layer are the network's description of
# an image. PCA projects them onto the 2 directions of largest variance; coloured by
# class, separate clusters mean the last layer has an easy job (classes that overlap in 2-D
# may still be apart in the other 30 dimensions). The same projection for the untrained
# network shows what training bought (exercise 02.6 computes PCA by hand).

# %%
names_test = [CLASSES[i] for i in test_raw.labels.tolist()]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
for ax, net, when in zip(axes, (untrained, cnn), ("before", "after"), strict=True):
    with torch.no_grad():
        feats = net.classifier[:2](net.features(test_raw.images))  # pool, flatten: (600, 32)
    xy = PCA(n_components=2).fit_transform(feats.numpy())
    sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=names_test, hue_order=CLASSES, s=14, ax=ax)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=f"{when} training: 600 test images")
show_figure(
    fig,
    name="embedding",
    out_dir=OUT,
    caption="PCA of the 32 features entering the classifier for 600 test images, "
    "before and after training: after training the five classes form separate "
    "clusters.",
    alt="Two scatter plots coloured by class: on the left the colours are mixed in "
    "one cloud; on the right they form five distinct groups.",
)
print("figures:", sorted(p.name for p in OUT.glob("*.png")))

# %% [markdown]
# ## What to try
#
# - Unnormalize with the *wrong* statistics (ImageNet's `(0.485, 0.456, 0.406)`,
#   `(0.229, 0.224, 0.225)`) and compare the colours.
# - Train the wide MLP with `weight_decay=1e-3` in Adam: does the validation loss still
#   turn up?
# - Replace PCA by `sklearn.manifold.TSNE` (slower: ~10 s here) and compare the clusters.
# - Now do the exercises: `lessonlib check 02`, and `lessonlib hint 02.1` when stuck.
