# %% [markdown]
# # Lesson 06 — ONNX export and Netron
#
# A PyTorch checkpoint is a bag of tensors; the *program* that uses them lives in your
# Python code. **ONNX** stores both — every operation, in order, with its weights — in one
# portable file that other runtimes (onnxruntime, TensorRT, browsers, phones) execute and
# viewers such as **Netron** draw. In this lesson you will:
#
# - see why a `.pth` state dict cannot be drawn as a network;
# - export a small CNN and torchvision's resnet18 with `torch.onnx.export`, with the current
#   exporter (`dynamo=True`, built on `torch.export`) and the legacy TorchScript one;
# - name inputs and outputs, make the batch dimension dynamic, keep weights in a side file;
# - validate the file (`onnx.checker`), infer shapes, and read the graph with the `onnx` API;
# - run it with **onnxruntime** and check it computes what PyTorch computes;
# - look at it in Netron (`lessonlib netron model.onnx`).
#
# Run it with `lessonlib run 06`; every file it writes lands in `build/06/`.

# %%
import warnings
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch.export import Dim
from torchvision.models import resnet18

from lessonlib.errors import LessonlibError
from lessonlib.figures import show_figure
from lessonlib.models import small_cnn
from lessonlib.netron import screenshot_netron_pages, serve_netron
from lessonlib.paths import build_dir

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter's notice
OUT = build_dir("06")
model = small_cnn(seed=0).eval()  # eval(): BatchNorm uses its running statistics
example = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
print(model)

# %% [markdown]
# ## 1. A `.pth` holds weights, not the graph
#
# `torch.save(model.state_dict())` writes an ordered dict *name → tensor*. Nothing in it
# says that `features.0` is a convolution that feeds a BatchNorm, or that a ReLU comes
# next: that lives in your model class's `forward`, which you need to use the weights at all.

# %%
pth = OUT / "small_cnn.pth"
torch.save(model.state_dict(), pth)
state = torch.load(pth, weights_only=True)
for name, tensor in list(state.items())[:6]:
    print(f"{name:32} {tuple(tensor.shape)}")
print(f"... {len(state)} tensors, {pth.stat().st_size / 1024:.0f} KiB, and not one operation")

# %% [markdown]
# Netron can open this file, and section 6 shows what it draws: weights, no network.
#
# ## 2. Export with the current exporter
#
# `torch.onnx.export(model, args, path, dynamo=True)` runs `torch.export` to capture the
# forward pass as a graph of ATen operations, translates each into ONNX operators and
# optimises the result. `input_names` / `output_names` name the graph's inputs and outputs
# (the names onnxruntime's `run` will expect). `verbose=False` silences its progress lines.
#
# The batch size is **fixed** to the example's unless you say otherwise, and here we meet the
# first pitfall. Code ported from the legacy exporter often carries `dynamic_axes`; the new
# exporter **ignores `dynamic_axes` when `dynamic_shapes` is given** (below: "all static").
# With `dynamic_axes` alone, torch 2.14 converts them and warns that they are deprecated.
# We keep this export in memory (`f=None` returns an `ONNXProgram`) as a cautionary tale.

# %%
static = torch.onnx.export(
    model,
    (example,),
    dynamo=True,
    verbose=False,
    input_names=["image"],
    output_names=["logits"],
    dynamic_shapes={"x": {}},  # no dimension dynamic ...
    dynamic_axes={"image": {0: "batch"}},  # ... so this is ignored, without a warning
)


def io_shapes(proto):
    """{name: [dim, ...]} of a model's inputs and outputs; named dims are dynamic."""
    values = list(proto.graph.input) + list(proto.graph.output)
    return {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values
    }


print("in-memory export:", io_shapes(static.model_proto))
session = ort.InferenceSession(
    static.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
)
try:
    session.run(None, {"image": np.zeros((7, 3, 64, 64), np.float32)})
except Exception as err:  # onnxruntime's InvalidArgument
    print("batch 7 on a batch-2 model:", str(err).splitlines()[0][:150])

# %% [markdown]
# `dynamic_shapes` says which dimensions may vary, keyed by the **argument names of
# `forward`** (`SmallCNN.forward(self, x)`), with `torch.export.Dim` objects. The name you
# give the `Dim` becomes the symbolic dimension in the file.

# %%
onnx_path = OUT / "small_cnn.onnx"
batch = Dim("batch", min=1, max=4096)
program = torch.onnx.export(
    model,
    (example,),
    onnx_path,
    dynamo=True,
    verbose=False,
    input_names=["image"],
    output_names=["logits"],
    dynamic_shapes={"x": {0: batch}},
)
print(type(program).__name__, "->", io_shapes(onnx.load(onnx_path)))
for f in sorted(OUT.glob("small_cnn.onnx*")):
    print(f"  {f.name:22} {f.stat().st_size / 1024:7.1f} KiB")

# %% [markdown]
# Two files: by default (`external_data=True`) the graph goes into `.onnx` and the weights
# into `.onnx.data`, beside it — keep them together. That keeps files over protobuf's 2 GB
# limit loadable; `external_data=False` writes one self-contained file instead.
#
# ## 3. Check the file and read its graph
#
# `onnx.checker.check_model(..., full_check=True)` validates the structure *and* runs shape
# inference strictly; `onnx.shape_inference.infer_shapes` annotates every intermediate value
# with its type and shape (`graph.value_info`), which is what Netron prints on its edges.

# %%
proto = onnx.load(onnx_path)  # also reads small_cnn.onnx.data
onnx.checker.check_model(proto, full_check=True)
inferred = onnx.shape_inference.infer_shapes(proto)
print(
    f"opset {proto.opset_import[0].version}, made by {proto.producer_name} {proto.producer_version}"
)
print("op types:", dict(Counter(node.op_type for node in proto.graph.node)))
print(
    "initializers:",
    len(proto.graph.initializer),
    "tensors,",
    sum(int(np.prod(t.dims)) for t in proto.graph.initializer),
    "numbers;",
    "PyTorch parameters:",
    sum(p.numel() for p in model.parameters()),
)
for value in inferred.graph.value_info[:4]:
    dims = [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
    print(f"  {value.name:24} {dims}")

# %% [markdown]
# Where did the three `BatchNorm2d` layers go? In eval mode BatchNorm is an affine map, so
# the exporter's optimiser (`optimize=True`) folded it into the preceding convolution's
# weights and bias: fewer ops and fewer numbers to store, the same function.
#
# ## 4. The legacy exporter
#
# `dynamo=False` selects the TorchScript-based exporter (deprecated since PyTorch 2.9, still
# common in older code). It traces the model and takes **`dynamic_axes`** keyed by the
# `input_names`; it rejects `dynamic_shapes`. It writes a single file.

# %%
legacy_path = OUT / "small_cnn_legacy.onnx"
torch.onnx.export(
    model,
    (example,),
    legacy_path,
    dynamo=False,
    input_names=["image"],
    output_names=["logits"],
    dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
)
legacy = onnx.load(legacy_path)
onnx.checker.check_model(legacy, full_check=True)
print(io_shapes(legacy), f"opset {legacy.opset_import[0].version}")
print("op types:", dict(Counter(node.op_type for node in legacy.graph.node)))

# %% [markdown]
# Same network, slightly different graphs: both exporters folded the BatchNorms, but the
# legacy one pattern-matches the head into `GlobalAveragePool` + `Flatten`, while the new
# one keeps the ATen ops' literal translation (`ReduceMean` + `Reshape`). Both are valid
# ONNX; what matters is what they compute, which we check next.
#
# ## 5. onnxruntime and numeric parity
#
# An `InferenceSession` loads the file; `run(None, {input_name: array})` returns the
# outputs as numpy arrays. Compare with PyTorch on the same inputs, at two batch sizes:
# float32 arithmetic in a different order differs in the last bits, so we expect ≤ 1e-5,
# not 0.


# %%
def parity(module, path, batches, size=64):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for b in batches:
        x = torch.randn(b, 3, size, size, generator=torch.Generator().manual_seed(b))
        with torch.no_grad():
            want = module(x).numpy()
        (got,) = sess.run(None, {name: x.numpy()})
        diff = np.abs(got - want).max()
        print(f"  {path.name:24} batch {b}: output {got.shape}, max |torch - ort| = {diff:.2e}")


parity(model, onnx_path, (1, 7))
parity(model, legacy_path, (1, 7))

# %% [markdown]
# ### resnet18
#
# torchvision's `resnet18(weights=None)` (random weights, no download) exports the same
# way. Its 11.7 M parameters (45 MB) go to `resnet18.onnx.data`; the returned
# `ONNXProgram` can also `save` a single-file copy with `external_data=False`.

# %%
resnet = resnet18(weights=None).eval()
resnet_path = OUT / "resnet18.onnx"
resnet_program = torch.onnx.export(
    resnet,
    (torch.randn(2, 3, 224, 224),),
    resnet_path,
    dynamo=True,
    verbose=False,
    input_names=["image"],
    output_names=["logits"],
    dynamic_shapes={"x": {0: batch}},
    external_data=True,
)
resnet_program.save(OUT / "resnet18_single.onnx", external_data=False)
for f in sorted(OUT.glob("resnet18*.onnx*")):
    print(f"  {f.name:26} {f.stat().st_size / 2**20:6.1f} MiB")
resnet_ops = Counter(
    node.op_type for node in onnx.load(resnet_path, load_external_data=False).graph.node
)
print("resnet18 op types:", dict(resnet_ops))
parity(resnet, resnet_path, (1, 2), size=224)

# %%
fig, ax = plt.subplots(figsize=(7, 3))
names, counts = zip(*resnet_ops.most_common(), strict=True)
ax.barh(names[::-1], counts[::-1], color="#4C72B0")
ax.set_xlabel("nodes in the ONNX graph")
ax.set_title("resnet18 exported with dynamo=True: op types")
fig.tight_layout()
fig.savefig(OUT / "resnet18_op_counts.png", dpi=120)
plt.close(fig)
show_figure(
    OUT / "resnet18_op_counts.png",
    caption="The op types of resnet18's ONNX graph (dynamo export), counted with the onnx "
    "API: 20 Conv and 8 Add (one per residual block), and no BatchNormalization: folded.",
    alt="A horizontal bar chart of node counts per ONNX op type; Conv has the longest bar, "
    "then Relu and Add, then a few op types with a single node each.",
)

# %% [markdown]
# 20 convolutions (the stem, 16 in the eight residual blocks, 3 in the downsampling
# shortcuts), 8 `Add`s — one per residual block — and no BatchNorm: folded, as in the
# small CNN.
#
# ## 6. Netron
#
# Netron draws the ONNX graph: every node an operator, every edge a tensor with its inferred
# shape, weights listed inside the node. In a terminal, `lessonlib netron
# build/06/small_cnn.onnx` serves it and prints the URL (Ctrl-C stops it). Below, the pages
# headless chromium rendered for the `.onnx` and for the `.pth` of section 1. (No dialog:
# the helper sets Netron's consent cookie and, since Netron locks itself with an "update"
# dialog 180 days after its build date, the page's clock.)

# %%
shots = {"small_cnn.onnx": OUT / "netron_small_cnn.png", "small_cnn.pth": OUT / "netron_pth.png"}
try:
    with serve_netron(onnx_path) as onnx_view, serve_netron(pth) as pth_view:
        drawn = screenshot_netron_pages(
            [(onnx_view.url, shots["small_cnn.onnx"]), (pth_view.url, shots["small_cnn.pth"])],
            width=1000,
            height=1250,
        )
    print("nodes drawn:", dict(zip(shots, drawn, strict=True)))
    fig, axes = plt.subplots(1, 2, figsize=(7, 11))
    for ax, (name, png) in zip(axes, shots.items(), strict=True):
        ax.imshow(plt.imread(png)[70:1200, 330:670])  # the graph, centred on the 1000-px page
        ax.set_title(f"Netron: {name}")
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "netron_onnx_vs_pth.png", dpi=110)
    plt.close(fig)
    show_figure(
        OUT / "netron_onnx_vs_pth.png",
        caption="Netron in headless chromium. Left, the exported small_cnn.onnx: operators "
        "joined by edges that carry tensor shapes, batch×3×64×64 at the top. Right, the .pth "
        "state dict: boxes of tensors with nothing connecting them.",
        alt="Two Netron screenshots side by side: on the left a vertical chain of operator "
        "boxes (Conv, Relu, MaxPool …, Gemm) linked by arrows; on the right separate boxes "
        "listing weight and bias tensors, unconnected.",
    )
except LessonlibError as err:  # no chromium here: the exported files are still fine
    print(err)

# %% [markdown]
# Left, the exported graph: operators, edges and shapes (`batch×3×64×64` at the top — the
# dynamic dimension by name). Right, the state dict: one box of tensors per module, nothing
# connecting them. Click a node in the real UI to see its attributes and weights.
#
# ## What to try
#
# - Export with `optimize=False` and count the ops again: where do the BatchNorms reappear?
# - Give `dynamic_shapes` a dynamic height and width too (`{0: batch, 2: Dim("h"), 3: Dim("w")}`;
#   the pooling sizes constrain them) and run a 96×96 image through onnxruntime.
# - Now do the exercises: `lessonlib check 06`, and `lessonlib hint 06.1` when stuck.
