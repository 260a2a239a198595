# %% [markdown]
# # Lesson 01 — Autograd graphs
#
# Every time you compute with tensors that require gradients, PyTorch quietly records
# *how* each result was made. That record — the **backward graph** — is what
# `loss.backward()` walks to compute gradients. In this lesson you will:
#
# - see which tensors are **leaves** and which carry a **`grad_fn`**;
# - walk the graph by hand through `grad_fn.next_functions`;
# - draw it with **torchviz**'s `make_dot`, for an expression and for a small MLP;
# - draw a model's **module graph** with **torchview**'s `draw_graph` at several depths;
# - learn when a graph is empty, and when it is too big to be read.
#
# Run it with `lessonlib run 01`; every file it writes lands in `build/01/`.

# %%
import warnings

import torch
from torch import nn

from lessonlib.figures import show_figure, show_figures
from lessonlib.graphs import first, graph_size, render
from lessonlib.paths import build_dir

warnings.filterwarnings("ignore", category=DeprecationWarning)  # torchviz imports distutils
torch.manual_seed(0)
OUT = build_dir("01")

# %% [markdown]
# ## 1. Leaves, `grad_fn` and `next_functions`
#
# Tensors you create yourself are **leaves**. Ask for gradients with `requires_grad=True`
# and autograd starts recording. Every result of an operation on them gets a `grad_fn`:
# the backward function of the operation that made it.

# %%
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
b = torch.tensor(0.1)  # a constant: no gradient wanted
y = (w * x).sum() + b

for name, t in {"x": x, "w": w, "b": b, "y": y}.items():
    # type(...).__name__: the node's name without its memory address (<... object at 0x7f…>)
    node = type(t.grad_fn).__name__ if t.grad_fn is not None else None
    print(f"{name}: requires_grad={t.requires_grad!s:5}  is_leaf={t.is_leaf!s:5}  grad_fn={node}")

# %% [markdown]
# `y.grad_fn` is an `AddBackward0`: the last operation was `+ b`. Its `next_functions` are
# the backward functions of its inputs — one `(node, input_index)` pair per input. A
# constant such as `b` has no node there: its entry is `None`. At the bottom sit the
# `AccumulateGrad` nodes, whose `.variable` is the leaf tensor the gradient is added to.


# %%
def walk(fn, depth=0):
    """Print the backward graph below ``fn`` as an indented tree."""
    extra = f"  -> leaf of shape {tuple(fn.variable.shape)}" if hasattr(fn, "variable") else ""
    print("    " * depth + type(fn).__name__ + extra)
    for child, _ in fn.next_functions:
        if child is not None:
            walk(child, depth + 1)


walk(y.grad_fn)

# %% [markdown]
# Calling `backward()` walks exactly this graph from the top and leaves the gradients in
# the leaves' `.grad`: $\partial y / \partial x = w$ and $\partial y / \partial w = x$.

# %%
y.backward()
print("x.grad =", x.grad, " (equals w)")
print("w.grad =", w.grad, " (equals x)")

# %% [markdown]
# ## 2. Drawing the backward graph with torchviz
#
# `torchviz.make_dot` performs the same walk and returns a `graphviz.Digraph`. Blue boxes
# are leaves (named if you pass `params`), grey boxes are backward functions, the green
# box is the output. `render` (our helper) writes the `.dot` source and, when Graphviz's
# `dot` program is installed, the SVG and PNG.

# %%
from torchviz import make_dot

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
y = (w * x).sum() + b
expr_graph = make_dot(y, params={"x": x, "w": w})
files = render(expr_graph, "expression", OUT)
print("nodes, edges:", graph_size(expr_graph))
show_figure(
    first(files, ".png"),
    caption="The backward graph of y = (w * x).sum() + b, drawn by make_dot. Read it from "
    "the green output at the bottom upwards: AddBackward0, SumBackward0 and MulBackward0 "
    "lead to the two blue leaves w and x; b is a constant and has no box.",
    alt="torchviz graph: the blue leaves w and x at the top, each above an AccumulateGrad "
    "node; both feed MulBackward0, then SumBackward0, AddBackward0 and the green output box.",
    width=360,
)

# %% [markdown]
# ### An MLP, with attributes and saved tensors
#
# Passing `params=dict(model.named_parameters())` names every leaf after its parameter.
# `show_attrs=True` prints each node's attributes (e.g. the transposition flags of a
# matrix multiply) and `show_saved=True` adds, in orange, the tensors each backward function
# saved during the forward pass — the memory that training costs you.

# %%
mlp = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
loss = mlp(torch.randn(4, 8)).pow(2).mean()
mlp_graph = make_dot(loss, params=dict(mlp.named_parameters()))
show_figure(
    first(render(mlp_graph, "mlp", OUT), ".png"),
    caption="The MLP's backward graph: each Linear is an AddmmBackward0 with a TBackward0 "
    "for its transposed weight, named after its parameter (0.weight, 2.bias …).",
    alt="torchviz graph of a two-layer MLP: from the loss (green) through MeanBackward0, "
    "PowBackward0, two AddmmBackward0 and a ReluBackward0 down to four blue parameter leaves.",
    width=520,
)
print("plain graph (nodes, edges):", graph_size(mlp_graph))

# %% [markdown]
# <div class="admonition warning">
# <p class="admonition-title">If you come from the posts</p>
#
# Post 002 (*Pytorch의 시각화 및 학습 현황 확인*, its graphviz part) builds the input as
# `x = Variable(torch.randn(1, 8))` from `torch.autograd`, "to create the input". Since
# PyTorch 0.4 tensors record their own graph and `Variable(t)` returns a plain tensor over the
# same data: it adds nothing, and the graph is the same without it.
#
# </div>

# %%
from torch.autograd import Variable

t = torch.randn(1, 8)
v = Variable(t)  # post 002
same_data = v.data_ptr() == t.data_ptr()
print(f"Variable(t): a {type(v).__name__}, requires_grad={v.requires_grad}, same data {same_data}")
with_variable = make_dot(mlp(v), params=dict(mlp.named_parameters()))
without = make_dot(mlp(t), params=dict(mlp.named_parameters()))  # what to write today
print("graph with Variable:", graph_size(with_variable), "| without:", graph_size(without))

# %%
detailed = make_dot(loss, params=dict(mlp.named_parameters()), show_attrs=True, show_saved=True)
show_figure(
    first(render(detailed, "mlp_attrs_saved", OUT), ".png"),
    caption="The same graph with show_attrs=True and show_saved=True: the orange boxes are "
    "the tensors each backward function kept from the forward pass.",
    alt="The MLP's torchviz graph with attribute text inside each grey node and orange boxes "
    "beside them for saved tensors such as mat1, mat2 and result.",
)
print("with attributes and saved tensors (nodes, edges):", graph_size(detailed))

# %% [markdown]
# ## 3. The module graph with torchview
#
# The backward graph shows *operations*. Often you want the *architecture*: which module
# feeds which, with tensor shapes. `torchview.draw_graph` runs a forward pass and records
# modules; `depth` controls how far nested modules are opened and `expand_nested=True`
# draws a frame around each opened module.

# %%
from torchview import draw_graph


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


cnn_view = draw_graph(SmallCNN(), input_size=(1, 3, 64, 64), expand_nested=True)
show_figure(
    first(render(cnn_view.visual_graph, "small_cnn_torchview", OUT), ".png"),
    caption="torchview's module graph of the small CNN: one box per module with its input "
    "and output shapes, from the (1, 3, 64, 64) input to the (1, 5) logits.",
    alt="A vertical chain of boxes: input-tensor, Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, "
    "AdaptiveAvgPool2d inside a Sequential frame, then Linear and the output tensor, each "
    "labelled with shapes.",
    width=320,
)

# %% [markdown]
# ### resnet18 at depth 1, 2 and 3
#
# torchvision's `resnet18(weights=None)` builds the architecture with random weights — no
# download needed, and the graph does not depend on the weights. Depth 1 shows the stages,
# depth 2 the residual blocks, depth 3 the convolutions and the skip connections inside them.

# %%
from torchvision.models import resnet18

resnet = resnet18(weights=None).eval()
pictures = []
for depth in (1, 2, 3):
    view = draw_graph(resnet, input_size=(1, 3, 224, 224), depth=depth, expand_nested=True)
    pictures.append(first(render(view.visual_graph, f"resnet18_depth{depth}", OUT), ".png"))
    print(f"depth {depth}: (nodes, edges) = {graph_size(view.visual_graph)}")
show_figures(
    pictures,
    caption="resnet18 at depth 1, 2 and 3, side by side (click one to zoom). Depth 1: the "
    "stem and four stages; depth 2: two BasicBlocks per stage; depth 3: each block's "
    "convolutions, and the skip connection that joins them again.",
    alts=[
        "A short chain: conv1, bn1, relu, maxpool, layer1 to layer4 as single boxes, avgpool, fc.",
        "The same chain with each of layer1 to layer4 opened into two BasicBlock boxes.",
        "A tall graph: every BasicBlock opened into Conv2d, BatchNorm2d and ReLU, with a "
        "second branch (the skip connection) rejoining at an add node.",
    ],
    labels=["depth 1", "depth 2", "depth 3"],
)

# %% [markdown]
# **Which view when?** Use the **backward graph** (torchviz, or `grad_fn` by hand) to debug
# gradients: a parameter missing from it gets no gradient; an unexpected `detach` cuts it.
# Use the **module graph** (torchview) to understand or document an architecture: shapes,
# branches and merges, nesting.

# %% [markdown]
# ## 4. Pitfalls
#
# **No graph at all.** Under `torch.no_grad()` (evaluation) or after `detach()`, results
# carry no `grad_fn`: torchviz then draws a single box, and `backward()` fails.

# %%
with torch.no_grad():
    frozen = mlp(torch.randn(4, 8)).sum()
print("under no_grad: grad_fn =", frozen.grad_fn)
print("detached:      grad_fn =", loss.detach().grad_fn)
print("make_dot of it (nodes, edges):", graph_size(make_dot(frozen)))

# %% [markdown]
# **Huge graphs.** A real network's backward graph has hundreds of nodes: fine for a
# program, unreadable as a picture. Count them before you draw.

# %%
big = resnet18(weights=None)
big_out = big(torch.randn(1, 3, 224, 224))  # the logits, not a loss
big_graph = make_dot(big_out, params=dict(big.named_parameters()))
n_nodes, n_edges = graph_size(big_graph)
print(f"resnet18 backward graph: {n_nodes} nodes, {n_edges} edges")
written = render(big_graph, "resnet18_backward", OUT, formats=("svg",))
print("written to build/01/:", ", ".join(p.name for p in written))

# %% [markdown]
# **`dot` missing.** torchviz and torchview only *describe* graphs; drawing needs
# Graphviz's `dot` program (`apt-get install graphviz`). Without it, `render` here still
# writes the `.dot` source and tells you how to install it; you can paste the source into
# any Graphviz viewer.
#
# ## What to try
#
# - Make `w` a constant (`requires_grad=False`) and redraw the expression: what vanishes?
# - Add a skip connection to the MLP (`h + x`) and find where the graph branches.
# - Now do the exercises: `lessonlib check 01`, and `lessonlib hint 01.1` when stuck.
