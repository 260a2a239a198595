# %% [markdown]
# # Lesson 07 — Grad-CAM: where the model looks, measured
#
# Grad-CAM (Selvaraju et al., 2017) colours an image by how strongly each region pushed the
# network towards a class. The usual demos run it on a pretrained ImageNet model and show a
# cat with a red blob on it. That looks convincing, but a picture cannot tell you whether
# the blob is in the right place. Here we train our own small CNN on the course's synthetic
# **shapes**. Every image comes with a pixel mask of its shape, so we can *measure* where
# the heat maps point. You will:
#
# - read the last conv layer's feature maps with a forward hook (a recap of lesson 02);
# - build Grad-CAM from first principles and see what an in-place ReLU does to hooks;
# - lay heat maps over images, for the predicted class and for a wrong one;
# - check our maps against **captum** and **pytorch-grad-cam**;
# - score the maps with the **pointing game**, and run the **sanity check** of Adebayo et al.;
# - run the same code on torchvision's resnet18, and log overlays to **TensorBoard**.
#
# Run it with `lessonlib run 07`. Every file it writes lands in `build/07/`.

# %%
import copy
import shutil
import time
import warnings

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F  # noqa: N812

from lessonlib.data import shapes_splits
from lessonlib.figures import show_figure
from lessonlib.gradcam import (
    LayerNotFoundError,
    capture_outputs,
    grad_cam,
    grad_cam_and_logits,
    hook_count,
    image_grid,
    min_max,
    overlay,
    peak_distances,
    randomized_copy,
    zhang_tolerance,
)
from lessonlib.models import trained_shapes_cnn
from lessonlib.paths import build_dir

OUT = build_dir("07")


def save(fig, name, *, caption, alt):
    """Write the figure to build/07/<name>.png and show it, numbered, with its caption."""
    show_figure(fig, name=name, out_dir=OUT, caption=caption, alt=alt, dpi=100)


# %% [markdown]
# ## 1. A small CNN that knows its shapes
#
# `trained_shapes_cnn(epochs=5, context_blocks=3)` trains the course's `SmallCNN` on 3000
# shape images in about ten seconds and caches the checkpoint under `build/cache/`. It is
# lesson 02's network (conv blocks of conv, BatchNorm, ReLU and max-pool; a global-average-pool
# head) with one change made for Grad-CAM: the last max-pool is gone and three more conv
# blocks follow at the same 8×8 resolution. Each cell of the last block then sees 81×81 input
# pixels instead of 33×33, the whole shape and its surroundings, on the same 8×8 grid.
# Section 6 measures what that buys. Each of the 600 test images comes with a mask that is
# True on the shape's pixels (the white outlines below).

# %%
model, result = trained_shapes_cnn(epochs=5, context_blocks=3)
LAYER = "features.19"  # the last ReLU: the output of the last conv block
_, test_ds = shapes_splits()
x, y, classes = test_ds.images, test_ds.labels, test_ds.classes
masks = torch.from_numpy(test_ds.masks)
with torch.no_grad():
    pred = model(x).argmax(1)
source = "loaded from the cache" if result.from_cache else f"trained in {result.seconds:.1f} s"
print(f"test accuracy {(pred == y).float().mean():.1%} on {len(y)} images ({source})")
# BatchNorm2d's default arguments left out, so that each layer fits on one line
print(str(model).replace(", eps=1e-05, momentum=0.1, affine=True, track_running_stats=True", ""))
save(
    image_grid([x[:8]], [[classes[c] for c in y[:8]]], contours=masks[:8]),
    "shapes",
    caption="Eight test images with their true class; the white outline is each image's "
    "mask, the shape's own pixels, which section 6 scores the heat maps against.",
    alt="A row of eight shape images (circle, square, triangle, cross, diamond on "
    "coloured backgrounds), each titled with its class and outlined in white.",
)

# %% [markdown]
# ## 2. The last conv layer's feature maps, with a forward hook
#
# A forward hook sees every output of its module. We keep the output of `features.19`, the
# ReLU that ends the last conv block (conv, BatchNorm, ReLU): what the head averages. Grad-CAM
# is usually run on such a block output (resnet's `layer4`, below). The hook is removed in
# `finally`, so it goes even if the forward pass fails. Its 32 channels are 8×8 maps: the
# first conv has stride 2 and two max-pools follow, so one cell covers 8×8 input pixels.

# %%
layer = model.get_submodule(LAYER)
kept = {}
handle = layer.register_forward_hook(lambda mod, inputs, output: kept.update(A=output.detach()))
try:
    with torch.no_grad():
        model(x[:1])
finally:
    handle.remove()
A = kept["A"][0]
print("activation shape:", tuple(A.shape), "| hooks left:", len(layer._forward_hooks))
save(
    image_grid([[x[0], *A[:8]], list(A[8:17])], cmap="viridis", cell=1.2),
    "feature_maps",
    caption="The first test image and 17 of the 32 channels of features.19, caught with a "
    "forward hook: 8×8 maps, bright where the channel fires.",
    alt="A shape image followed by two rows of small 8 by 8 viridis heat maps, mostly "
    "dark with a few bright cells around the shape's position.",
)

# %% [markdown]
# ## 3. Grad-CAM from first principles
#
# Let $A^k$ be channel $k$ of the layer's output and $y^c$ the logit of class $c$.
#
# 1. **Weights**: average the gradient over the positions,
#    $\alpha_k^c = \frac{1}{hw}\sum_{i,j} \partial y^c / \partial A^k_{ij}$.
# 2. **Map**: $L^c = \mathrm{ReLU}\big(\sum_k \alpha_k^c A^k\big)$. The ReLU keeps only the
#    regions that speak *for* the class.
# 3. **Upsample** the $h \times w$ map bilinearly to the input size.
#
# Here it is by hand, for one image: a forward hook keeps $A$, and a *tensor hook* on $A$
# catches its gradient during `backward()`.


# %%
def grad_cam_by_hand(model, layer, image, target):
    store = {}

    def keep(module, inputs, output):
        store["A"] = output
        output.register_hook(lambda grad: store.update(dA=grad))  # runs during backward

    handle = layer.register_forward_hook(keep)
    try:
        model(image[None])[0, target].backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)  # backward() also filled every parameter's .grad
    A, dA = store["A"].detach()[0], store["dA"][0]  # (K, h, w) each
    alpha = dA.mean(dim=(1, 2))
    cam = F.relu((alpha[:, None, None] * A).sum(0))
    up = F.interpolate(cam[None, None], image.shape[1:], mode="bilinear", align_corners=False)
    return cam, up[0, 0]


low, mine = grad_cam_by_hand(model, layer, x[0], pred[0])
library = grad_cam(model, LAYER, x[:1], pred[:1])[0]
print(f"by hand vs lessonlib.gradcam.grad_cam: max |diff| = {(mine - library).abs().max():.1e}")
panels = [[x[0], low, mine, overlay(x[0], mine)]]
save(
    image_grid(panels, [["image", "8×8 map", "upsampled", "overlay"]], cell=2.2),
    "by_hand",
    caption="Grad-CAM by hand for one image: the 8×8 map, the map upsampled to 64×64, and "
    "the map blended over the image.",
    alt="Four panels: a shape image, a coarse 8 by 8 jet heat map, the same map "
    "smoothed to full size, and the image with the red-yellow heat blended over "
    "the shape.",
)

# %% [markdown]
# `lessonlib.gradcam.grad_cam` does the same for a whole batch with **one** forward and
# **one** backward pass. It sums the target logits: in eval mode the images do not interact,
# so each image still gets its own gradient. It asks `torch.autograd.grad` for the gradient
# of the activation alone (no parameter's `.grad` is filled), runs the layers before the
# target under `no_grad`, and removes its hooks in a `finally` block. On CPU it also feeds
# the batch in channels-last memory layout, which oneDNN's convolutions run faster.

# %%
t0 = time.perf_counter()
cams = grad_cam(model, LAYER, x, pred)
print(f"Grad-CAM of {len(x)} test images in {time.perf_counter() - t0:.2f} s: {tuple(cams.shape)}")

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 003 (*27. TensorBoard 시각화*, section 4.4) registers its two hooks in
# `GradCAM.__init__` and never removes them, and its `log_gradcam` builds a new `GradCAM` on
# each call. Every call leaves one forward and one backward hook on the layer: they pile up,
# every later forward and backward pass runs them all, and each keeps its object and the
# tensors it saved alive. The post's class as published (its plotting left out), called
# twice on a copy of our model:
#
# </div>


# %%
class PostGradCAM:  # post 003, section 4.4, as published
    def __init__(self, model, target_layer):
        self.model = model
        self.target_layer = target_layer
        self.gradients = None
        self.activations = None
        target_layer.register_forward_hook(self.save_activation)
        target_layer.register_full_backward_hook(self.save_gradient)

    def save_activation(self, module, input, output):
        self.activations = output.detach()

    def save_gradient(self, module, grad_input, grad_output):
        self.gradients = grad_output[0].detach()

    def __call__(self, x, class_idx=None):
        self.model.eval()
        output = self.model(x)
        if class_idx is None:
            class_idx = output.argmax(dim=1)
        self.model.zero_grad()
        one_hot = torch.zeros_like(output)
        one_hot[0, class_idx] = 1
        output.backward(gradient=one_hot)
        weights = self.gradients.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * self.activations).sum(dim=1, keepdim=True))
        return F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)


post_model = copy.deepcopy(model)
for call in (1, 2):
    PostGradCAM(post_model, post_model.get_submodule(LAYER))(x[:1])
    print(f"post 003's GradCAM, after call {call}: {hook_count(post_model)} hooks on the model")

# %% [markdown]
# A hook stays on its module until its handle's `remove()` is called. Keep the handle,
# remove it in a `finally` block (as `grad_cam_by_hand` above does), or register hooks
# once for the object's whole life and remove them when done with it. `lessonlib`'s
# `grad_cam`, called twice, leaves nothing behind:

# %%
for call in (1, 2):
    grad_cam(model, LAYER, x[:1])
    print(f"lessonlib's grad_cam, after call {call}: {hook_count(model)} hooks on the model")

# %% [markdown]
# ### What an in-place ReLU does to hooks
#
# `nn.ReLU(inplace=True)` overwrites its input to save memory. Hook the BatchNorm right
# before such a ReLU, and a full backward hook raises an error. Worse, a forward hook that
# keeps a *reference* to the output ends up holding the ReLU'd values. The negative half of
# the activation is gone, and nothing warns you. A tensor hook on that output still gets the
# gradient of the values *before* the ReLU, so activation and gradient no longer match.

# %%
inplace_model = copy.deepcopy(model)
inplace_model.features[10].inplace = True  # the ReLU right after BatchNorm features.9
bn = inplace_model.features[9]
handle = bn.register_full_backward_hook(lambda module, grad_in, grad_out: None)
try:
    inplace_model(x[:2])
except RuntimeError as err:
    print("full backward hook:", str(err).split(". ")[0] + ".")
finally:
    handle.remove()
handle = bn.register_forward_hook(lambda m, i, out: kept.update(ref=out, copy=out.clone()))
with torch.no_grad():
    inplace_model(x[:2])
handle.remove()
print(f"min of the kept reference {kept['ref'].min():.2f}, of a clone {kept['copy'].min():.2f}")

# %% [markdown]
# There are two fixes: build the model with `inplace=False` (as `SmallCNN` does), or clone in
# the hook. `grad_cam` hands a clone on to the next layer, and the in-place op overwrites
# that clone. The maps agree:

# %%
same = grad_cam(inplace_model, "features.9", x[:8], pred[:8])
ref = grad_cam(model, "features.9", x[:8], pred[:8])
print(f"in-place vs plain ReLU model: max |diff| = {(same - ref).abs().max():.1e}")

# %% [markdown]
# ## 4. Overlays: the predicted class and a wrong one
#
# `overlay(image, cam)` min-max scales the map, colours it with a matplotlib colormap and
# blends: `(1 - alpha) * image + alpha * colour`. For the predicted class the heat sits on
# the shape. For a wrong class it wanders, since there is little evidence for it anywhere.


# %%
def overlays(indices, *rows):
    """The images in row 1, then one overlay row per (label, maps, classes)."""
    grid = [[x[i] for i in indices]] + [[overlay(x[i], m[i]) for i in indices] for _, m, _ in rows]
    names = [[f"true {classes[y[i]]}" for i in indices]]
    names += [[f"{label}: {classes[c[i]]}" for i in indices] for label, _, c in rows]
    return image_grid(grid, names)


wrong = (pred + 2) % len(classes)
cams_wrong = grad_cam(model, LAYER, x, wrong)
correct = torch.nonzero(pred == y)[:7, 0].tolist()
save(
    overlays(correct, ("predicted", cams, pred), ("wrong", cams_wrong, wrong)),
    "overlays",
    caption="Top row: seven correctly classified test images. Middle: Grad-CAM for the "
    "predicted class, hot on the shape. Bottom: for a wrong class, the heat "
    "wanders.",
    alt="Three rows of seven images: the shapes; overlays with red heat on each "
    "shape; overlays with heat scattered away from the shapes.",
)

# %% [markdown]
# Now the test images the model got wrong: the map for the class it *predicted*, and for
# the *true* class.

# %%
mistakes = torch.nonzero(pred != y)[:7, 0].tolist()
print(f"{int((pred != y).sum())} misclassified test images")
if mistakes:
    cams_true = grad_cam(model, LAYER, x, y)
    fig = overlays(mistakes, ("predicted", cams, pred), ("true", cams_true, y))
    save(
        fig,
        "overlays_misclassified",
        caption="The misclassified test images: Grad-CAM for the class the model "
        "predicted (middle) and for the true class (bottom).",
        alt="Three rows of small images: misclassified shapes, then two rows of "
        "heat-map overlays titled with the predicted and the true class.",
    )

# %% [markdown]
# ## 5. The same maps from captum and pytorch-grad-cam
#
# captum's `LayerGradCam` returns the layer-sized map and `LayerAttribution.interpolate`
# upsamples it. pytorch-grad-cam's `GradCAM` returns maps that are already min-max scaled
# and resized (with OpenCV). After min-max scaling, all three must agree.

# %%
with warnings.catch_warnings():  # their tqdm import asks for Jupyter widgets they do not use
    warnings.filterwarnings("ignore", message="IProgress not found")
    from captum.attr import LayerAttribution, LayerGradCam
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

sample, targets = x[:8], pred[:8]
ours = grad_cam(model, LAYER, sample, targets)
attr = LayerGradCam(model, layer).attribute(sample, target=targets, relu_attributions=True)
by_captum = LayerAttribution.interpolate(attr, (64, 64), "bilinear")[:, 0].detach()
with GradCAM(model=model, target_layers=[layer]) as cam:
    by_pgc = cam(input_tensor=sample, targets=[ClassifierOutputTarget(int(t)) for t in targets])
for name, maps in [("captum", by_captum), ("pytorch-grad-cam", by_pgc)]:
    diff = (min_max(ours) - min_max(maps)).abs().max()
    print(f"ours vs {name}: max |diff| after min-max = {diff:.1e}")
names = ["lessonlib", "captum", "pytorch-grad-cam"]
rows = [list(min_max(m)) for m in (ours, by_captum, by_pgc)]
save(
    image_grid(rows, [[n] * 8 for n in names]),
    "three_libraries",
    caption="The same eight maps from lessonlib, captum and pytorch-grad-cam, each "
    "min-max scaled: the rows are identical.",
    alt="Three rows of eight jet heat maps, one row per library; the three rows look the same.",
)

# %% [markdown]
# ## 6. Measuring: the pointing game
#
# The pointing game (Zhang et al., 2016) asks one question of each map: does its maximum
# fall on the object? The original protocol counts a hit within 15 pixels of the object on
# images of about 224 pixels, which is 4 pixels on our 64-pixel images. Two references help
# to read the score. A point drawn at random hits as often as the grown object covers the
# image. And the maps for a *wrong* class should score far lower.

# %%
tol = zhang_tolerance(64)
dist = peak_distances(cams, masks)
score = (dist <= tol).float().mean().item()
print(f"pointing game, predicted class, {tol}-px tolerance: {score:.1%} of {len(x)} test images")
print(f"strict (maximum exactly on a mask pixel): {(dist == 0).float().mean():.1%}")
print(f"wrong class: {(peak_distances(cams_wrong, masks) <= tol).float().mean():.1%}")
chance = F.max_pool2d(masks[:, None].float(), 2 * tol + 1, 1, tol).mean().item()  # square: ≈
print(f"random point: about {chance:.1%}")
per_class = [f"{n} {(dist[y == c] <= tol).float().mean():.0%}" for c, n in enumerate(classes)]
print("per class:", ", ".join(per_class))

# %% [markdown]
# The strict score is lower, and the misses tell us why. A CNN tells shapes apart by their
# *contours*: corners, edges, the curve of a circle. Part of the evidence sits on the outline,
# and the coarse 8×8 map puts such a maximum a pixel or three outside as often as inside.
# (Lesson 02's plain SmallCNN, whose last layer sees only 33×33 pixels, does this far more
# often: see "What to try".)
#
# It is not the grid's fault. A bilinearly upsampled 8×8 map peaks at one of 64 cell
# centres, and almost every shape covers at least one of them (the *grid ceiling* below),
# so a map that peaked in the middle of the shape would score nearly 100 % strictly.

# %%
misses = torch.nonzero(dist > 0)[:8, 0].tolist()
print(f"strict misses lie a median {dist[dist > 0].median():.1f} px from the shape")
centres = torch.arange(8) * 8 + 3  # where an upsampled 8x8 map can peak (first of the tie)
ceiling = masks[:, centres][:, :, centres].flatten(1).any(1).float().mean()
print(f"grid ceiling: {ceiling:.1%} of the shapes cover a cell centre")
fig = image_grid(
    [[overlay(x[i], cams[i]) for i in misses]],
    [[f"{classes[y[i]]}, {dist[i]:.1f} px" for i in misses]],
    contours=masks[misses],
)
for ax, i in zip(fig.axes, misses, strict=True):
    ax.plot(cams[i].argmax() % 64, cams[i].argmax() // 64, "w+", markersize=10)
save(
    fig,
    "pointing_misses",
    caption="Strict misses of the pointing game: the white + marks the map's maximum, the "
    "outline the shape; most lie a pixel or three off its contour.",
    alt="A row of eight overlays with a white outline around each shape and a white "
    "plus sign near, but just outside, the outline.",
)

# %% [markdown]
# ### The sanity check (Adebayo et al., 2018)
#
# An explanation that looks the same for a network with *random* weights explains nothing
# about the training. `randomized_copy` re-initialises layers. First we randomise all of
# them and score the new model's maps for its own predictions. The score should drop.


# %%
def pointing_score(net):
    """Pointing game of ``net``'s maps for its own predictions (one forward, one backward)."""
    maps, logits = grad_cam_and_logits(net, LAYER, x)  # targets=None: the predictions
    return (peak_distances(maps, masks) <= tol).float().mean().item(), maps, logits.argmax(1)


random_score, rand_cams, rand_pred = pointing_score(randomized_copy(model, seed=1))
print(f"sanity check: trained {score:.1%} -> randomized weights {random_score:.1%}")
save(
    overlays(correct, ("trained", cams, pred), ("random", rand_cams, rand_pred)),
    "sanity",
    caption="The sanity check: maps for the trained model (middle) and for a copy with "
    "every layer re-initialised (bottom), each for its own predictions.",
    alt="Three rows of seven images: shapes, heat maps focused on the shapes, and "
    "heat maps from the random model that are blotchy and off target.",
)

# %% [markdown]
# Adebayo et al. also randomise *cascading*: the top layer first, then the next one down,
# and so on. Look at the first bar. A random classifier keeps most of the score: the
# trained conv features still fire on the shape, and most mixes of them point there. The
# pointing game measures *where*, not *which class*. The score collapses once the last conv
# layers lose their training.

# %%
convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)]
top_down = ["classifier.2", *convs[::-1]]
cascade = [
    pointing_score(randomized_copy(model, top_down[: k + 1], seed=1))[0]
    for k in range(len(top_down))
]
print("cascade:", ", ".join(f"{n} {v:.1%}" for n, v in zip(top_down, cascade, strict=True)))
fig, ax = plt.subplots(figsize=(8, 2.8))
ax.bar(["trained"] + [f"random to\n{n}" for n in top_down], [score] + cascade)
ax.axhline(chance, color="gray", ls="--", label="random point")
ax.set(ylabel="pointing game", title="randomising layers from the top down")
ax.legend()
fig.tight_layout()
save(
    fig,
    "sanity_cascade",
    caption="The pointing game as layers are randomised from the top down: a random "
    "classifier keeps most of the score; it collapses once the last conv layers "
    "lose their training.",
    alt="A bar chart: a tall trained bar, similar bars for the first randomised "
    "layers, then bars dropping towards a dashed line marking a random point.",
)

# %% [markdown]
# ## 7. The same code on resnet18
#
# `grad_cam` needs only a model, a layer name and a batch. For torchvision's resnet18
# (`weights=None`: random weights, nothing to download) the usual choice is `layer4`, the
# last residual stage. It is the deepest layer that still has a spatial layout; only global
# pooling and the classifier follow. Its maps are coarse: `layer4` sees the image at 1/32
# of its size.

# %%
from torchvision.models import resnet18

resnet = resnet18(weights=None, num_classes=5).eval()
big = F.interpolate(x[:4], size=224, mode="bilinear")
stages = ["layer1", "layer2", "layer3", "layer4"]
with capture_outputs(resnet, stages) as outs, torch.no_grad():
    resnet(big)
print(", ".join(f"{n}: {tuple(outs[n].shape[1:])}" for n in stages))
resnet_cams = grad_cam(resnet, "layer4", big)
print("resnet18 layer4 maps:", tuple(resnet_cams.shape))
try:
    grad_cam(resnet, "layer5", big)
except LayerNotFoundError as err:
    print("LayerNotFoundError:", err)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    grad_cam(resnet.train(), "layer4", big[:2])
resnet.eval()
print("train mode:", caught[0].message)

# %% [markdown]
# With random weights the maps show only the architecture's habits, such as borders and
# padding. That is the sanity check again: nothing here was learned.

# %%
save(
    image_grid([[overlay(big[i], resnet_cams[i]) for i in range(4)]], cell=2.4),
    "resnet18",
    caption="Grad-CAM at resnet18's layer4 with random weights, on four upsampled test "
    "images: coarse blobs that follow borders and padding, not the shapes.",
    alt="Four shape images at 224 pixels with large blurry heat blobs near the image "
    "borders rather than on the shapes.",
)

# %% [markdown]
# ## 8. Logging overlays to TensorBoard
#
# `SummaryWriter.add_figure` renders a matplotlib figure into an image event and closes the
# figure. We log one step per view: correct answers, mistakes, and the randomized model.

# %%
from torch.utils.tensorboard import SummaryWriter

shutil.rmtree(OUT / "tb", ignore_errors=True)
views = [(correct, cams, pred), (mistakes or correct, cams, pred), (correct, rand_cams, rand_pred)]
with SummaryWriter(OUT / "tb") as writer:
    for step, (indices, maps, cls) in enumerate(views):
        writer.add_figure("gradcam/overlays", overlays(indices, ("Grad-CAM", maps, cls)), step)
print("event files in build/07/tb/:", len(list((OUT / "tb").glob("events.out.tfevents.*"))))
print("view them with: lessonlib tensorboard 07")

# %% [markdown]
# ## What to try
#
# - Compute the maps at `features.4` (16×16) instead of `features.19`. Are they sharper? How
#   does the pointing game change?
# - Score lesson 02's plain SmallCNN: `trained_shapes_cnn()` and its last block's ReLU,
#   `features.10`. Then train both designs with other seeds (`seed=1`, `2`, …): the same
#   accuracy, yet the score moves from run to run. Over six seeds
#   (`benchmarks/bench_pointing.py`) we measured 82–96 % (strict 59–75 %) for the plain
#   design and 91–98 % (strict 75–91 %) for this one. Score more than one training run before
#   you trust a number, or a design.
# - Set `relu=False` in `grad_cam` and look at the negative regions for a wrong class.
# - Score the wrong-class maps with a growing tolerance. When does a random point do as well?
# - Now do the exercises: `lessonlib check 07`, and `lessonlib hint 07.1` when stuck.
