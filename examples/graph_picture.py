"""The computational graph as a picture: the course's worked example, and the MNIST CNN.

1. The worked example of backpropagation, with the numbers of tests/integration/test_worked_example.py: a
   3×3 input, two 2×2 filters, ReLU, 2×2 max pooling, a dense layer, softmax cross-entropy (one
   op, cross_entropy, in the picture). Every node carries its forward value and its gradient
   dL/d(node): the graph is kept with ``backward(retain_graph=True)`` and every op output asked
   for its gradient with ``retain_grads``, then drawn.
2. The MNIST CNN (xpnet.models.mnist_cnn) on one image: ops with their output shapes, the
   parameters named as in ``model.named_parameters()``. Drawn before backward, which would
   release the graph.

Then the CNN's summary (xpnet.nn.summary). Writes .png (and .dot) files; with no Graphviz
installed, only the .dot files, and a line that says how to install it.

    python examples/graph_picture.py --out docs
"""
import argparse
import os

import xpnet
import xpnet.functional as F
from xpnet import models
from xpnet.autograd.graph import draw, retain_grads
from xpnet.nn.summary import summary

parser = argparse.ArgumentParser()
parser.add_argument("--out", default=".", help="folder for the pictures")
parser.add_argument("--format", default="png", choices=["png", "svg", "pdf", "dot"])
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)


def t(value, requires_grad=True):
    return xpnet.tensor(value, dtype="float64", requires_grad=requires_grad)


# -- 1. the worked example, values and gradients on every node -----------------------------------
x = t([[[[1.0, 0.0, 3.0],
         [2.0, 5.0, 1.0],
         [4.0, 0.0, 2.0]]]])                       # (1, 1, 3, 3)
K = t([[[[1.0, 0.0], [2.0, -1.0]]],
       [[[-1.0, 2.0], [0.0, 1.0]]]])               # two 2×2 filters, (2, 1, 2, 2)
W = t([[0.5, -0.3], [-0.2, 0.7]])
b = t([1.2, -0.5])
target = xpnet.tensor([1])                          # the second class: one-hot [0, 1]

z = F.linear(F.flatten(F.max_pool2d(F.relu(F.conv2d(x, K)), 2), 1), W, b)
loss = F.cross_entropy(z, target)
retain_grads(loss)                     # a gradient on every op output, not just the leaves
loss.backward(retain_graph=True)       # keep the graph, so it can be drawn after backward
print(f"worked example: loss {loss.item():.5f} (= -ln 0.33181)")
path = draw(loss, os.path.join(args.out, f"worked_example_graph.{args.format}"),
            params={"x": x, "K": K, "W": W, "b": b, "target": target},
            show_values=True, max_elements=9, dpi=110,
            title="The worked example: value and gradient dL/d(node) on every node")
print(f"wrote {path}")

# -- 2. the MNIST CNN: ops and output shapes, parameters by name ----------------------------------
xpnet.manual_seed(0)
model = models.mnist_cnn()
image = xpnet.randn(1, 1, 28, 28)
labels = xpnet.tensor([3])
cnn_loss = F.cross_entropy(model(image), labels)
path = draw(cnn_loss, os.path.join(args.out, f"mnist_cnn_graph.{args.format}"),
            params={**dict(model.named_parameters()), "image": image, "label": labels}, dpi=110,
            title="xpnet.models.mnist_cnn on one image")
print(f"wrote {path}")

print(summary(model, input_size=(64, 1, 28, 28)))
