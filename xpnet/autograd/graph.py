"""The graph behind a tensor as a picture: Graphviz DOT text, and SVG/PNG files through ``dot``.

>>> import xpnet
>>> x = xpnet.tensor([1.0, 2.0], requires_grad=True)
>>> print(to_dot((x * x).sum(), params={"x": x}))   # doctest: +ELLIPSIS
digraph xpnet {
...
  n0 [label="x (2,)", shape=ellipse...];
  n1 [label="mul (2,)", shape=box...];
...

What is drawn (DeZero's ``plot_dot_graph`` style): each op as a box labelled with its name and
its output's shape (``conv2d (64, 32, 26, 26)``), each leaf tensor as an ellipse labelled with its
name and shape, an arrow from every input to the op that consumed it. Leaves are named from
``params`` (a Module's ``named_parameters()`` and ``named_buffers()``, or a dict); others are
``input``. An op's output is not drawn as a node of its own: the op's box stands for it, and
carries its value and gradient when ``show_values=True``.

When to draw. The graph lives only until ``backward()`` releases it, so draw either before
``backward()`` (the values are there, the gradients not yet) or after
``backward(retain_graph=True)``, which keeps it (values and gradients both). Gradients of
intermediate results are kept only for tensors that asked with ``retain_grad()``;
:func:`retain_grads` asks for every op output in the graph at once.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys

import numpy as np

from .. import backend as _backend
from .tensor import Tensor

INSTALL_HINT = ("apt-get install graphviz / brew install graphviz / conda install graphviz")
_FORMATS = ("png", "svg", "pdf")
_OP_STYLE = 'shape=box, style="rounded,filled", fillcolor="#dae8fc", color="#6c8ebf"'
_PARAM_STYLE = 'shape=ellipse, style=filled, fillcolor="#ffe6cc", color="#d79b00"'
_INPUT_STYLE = 'shape=ellipse, style=filled, fillcolor="#eeeeee", color="#888888"'
_CONST_STYLE = 'shape=plain, fontcolor="#555555"'
_NOTE_STYLE = 'shape=note, style=filled, fillcolor="#fff2cc", color="#d6b656"'


def _ops_of(op, tensor):
    """Every Function behind ``tensor``, inputs before the ops that consume them (a stable
    order: the same graph gives the same DOT text)."""
    order, seen = [], set()
    stack = [(tensor.creator, False)]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        if fn.inputs is None:
            raise RuntimeError(
                f"{op}: the graph behind this tensor was released by backward(); draw it before "
                f"backward(), or after backward(retain_graph=True), which keeps it")
        stack.append((fn, True))
        for edge in reversed(fn.input_edges):
            if edge is not None and id(edge[0]) not in seen:
                stack.append((edge[0], False))
    return order


def retain_grads(tensor: Tensor) -> Tensor:
    """Call ``retain_grad()`` on ``tensor`` and on every op output in the graph behind it, so
    that a following ``backward(retain_graph=True)`` leaves a gradient on each node of the
    picture; returns ``tensor``."""
    _check_tensor("retain_grads", tensor)
    if tensor.creator is None:
        return tensor
    tensor.retain_grad()
    for fn in _ops_of("retain_grads", tensor):
        for x in fn.inputs:
            if isinstance(x, Tensor) and x.creator is not None:
                x.retain_grad()
    return tensor


def _check_tensor(op, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor (the result whose graph to draw), got "
                        f"{type(tensor).__name__}")


def _named(op, params) -> dict:
    """{id(tensor): name} from a Module, a dict name -> Tensor, or (name, Tensor) pairs."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):   # a Module (autograd cannot import nn)
        pairs = list(params.named_parameters()) + list(params.named_buffers())
    elif isinstance(params, dict):
        pairs = list(params.items())
    else:
        try:
            pairs = list(params)
        except TypeError:
            pairs = None
        if pairs is None or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            raise TypeError(f"{op}: params must be a Module, a dict name -> Tensor or (name, "
                            f"Tensor) pairs, got {type(params).__name__}")
    names = {}
    for name, t in pairs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: params[{name!r}] must be a Tensor, got {type(t).__name__}")
        names.setdefault(id(t), str(name))
    return names


def _shape(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _number(v) -> str:
    """A short, exact-looking number: 10, 0.4677, -1.3364, 1.2e+07."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.3g}"
    text = f"{v:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _blocks(array, max_elements):
    """The array as 2-D blocks of number strings (size-1 axes of a 3-D or larger array dropped,
    what is still 3-D or larger shown as its 2-D slices); None above ``max_elements``."""
    if array is None:
        return None
    if math.prod(array.shape) > max_elements:   # never copy a big array to print nothing
        return None
    # an explicit transfer: the array may live in device memory
    host = array.numpy() if isinstance(array, Tensor) else _backend.to_numpy(array)
    if host.ndim > 2:    # (1, 1, 3, 3) prints as one 3×3 block, (1, 2, 1, 1) as a row of 2
        host = np.squeeze(host)
    if host.ndim <= 1:
        host = host.reshape(1, -1)
    host = host.reshape(-1, host.shape[-2], host.shape[-1])
    return [[[_number(v) for v in row] for row in block] for block in host]


def _table(title, annotations):
    """An HTML-like DOT label: the title, then each (tag, blocks) as a grid of numbers with
    its tag ("value", "grad") in the first column."""
    columns = max((len(row) for _, blocks in annotations for b in blocks for row in b),
                   default=1) + 1
    rows = [f'<tr><td colspan="{columns}">{_html(title)}</td></tr>']
    for tag, blocks in annotations:
        color = "#1f4e79" if tag.endswith("value") else "#9c2a00"
        first = True
        for k, block in enumerate(blocks):
            if k:   # a gap between the 2-D slices of a 3-D (or larger) array
                rows.append(f'<tr><td colspan="{columns}" height="3"></td></tr>')
            for row in block:
                name = f'<font color="{color}"><i>{_html(tag)}</i></font>' if first else ""
                first = False
                cells = "".join(f'<td align="right">&#160;&#160;{v}</td>' for v in row)
                rows.append(f'<tr><td align="left">{name}</td>{cells}</tr>')
    return ('<<table border="0" cellborder="0" cellspacing="0" cellpadding="1">'
            + "".join(rows) + "</table>>")


def _label(title, annotations):
    """The DOT label attribute: quoted text, or an HTML-like table when values are shown."""
    if not annotations:
        return f'"{_escape(title)}"'
    return _table(title, annotations)


def to_dot(tensor: Tensor, params=None, show_values: bool = False, show_grads=None,
           max_elements: int = 16, rankdir: str = "TB", title: str | None = None) -> str:
    """The DOT text of the graph behind ``tensor``.

    Args:
        tensor: the result whose graph to draw (typically a loss).
        params: names for leaf tensors: a Module (its ``named_parameters()`` and
            ``named_buffers()``), a dict name -> Tensor, or (name, Tensor) pairs. Leaves not
            named here are ``input``.
        show_values: write each node's value on it (tensors of at most ``max_elements``).
        show_grads: write each node's gradient on it where it has one (leaves after backward,
            op outputs that called ``retain_grad()``); defaults to ``show_values``.
        max_elements: larger tensors show their shape only.
        rankdir: Graphviz's layout direction, "TB" (inputs at the top) or "LR".
        title: a caption above the graph.

    Returns:
        The DOT source (``digraph xpnet { ... }``). A tensor with no graph (a leaf, or a result
        computed without ``requires_grad`` or under ``no_grad``) gives a graph of that one
        node and a note saying why nothing else is drawn.

    Raises:
        RuntimeError: the graph was released by ``backward()`` (draw before it, or after
            ``backward(retain_graph=True)``).
    """
    op = "to_dot"
    _check_tensor(op, tensor)
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"{op}: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 0:
        raise ValueError(f"{op}: max_elements must be a non-negative int, got {max_elements!r}")
    names = _named(op, params)
    show_grads = show_values if show_grads is None else show_grads
    limit = max_elements if (show_values or show_grads) else -1

    def annotations(t, prefix=""):
        """[(tag, blocks)]: the value and gradient of ``t`` where shown and small enough."""
        found = []
        if show_values:
            found.append((prefix + "value", _blocks(t.array, limit)))
        if show_grads and t.grad is not None:
            found.append((prefix + "grad", _blocks(t.grad.array, limit)))
        return [(tag, blocks) for tag, blocks in found if blocks is not None]

    lines = ["digraph xpnet {",
             f'  graph [rankdir={rankdir}, nodesep=0.3, ranksep=0.35];',
             '  node [fontname="Helvetica", fontsize=11, margin="0.12,0.05"];',
             '  edge [color="#555555", arrowsize=0.7];']
    if title:
        lines.insert(2, f'  graph [label="{_escape(title)}", labelloc=t, fontname="Helvetica", '
                        f'fontsize=13];')
    ids = {}

    def node_id(key):
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    def leaf(t):
        key = ("tensor", id(t))
        if key in ids:
            return ids[key]
        name = names.get(id(t))
        style = _PARAM_STYLE if t.requires_grad else _INPUT_STYLE   # does a gradient reach it?
        title = f"{name if name is not None else 'input'} {_shape(t.shape)}"
        lines.append(f'  {node_id(key)} [label={_label(title, annotations(t))}, {style}];')
        return ids[key]

    if tensor.creator is None:
        leaf(tensor)
        why = ("no graph: this tensor is a leaf" if tensor.requires_grad else
               "no graph: computed without requires_grad=True, or under no_grad()")
        lines.append(f'  note [label="{_escape(why)}", {_NOTE_STYLE}];')
        lines.append("}")
        return "\n".join(lines) + "\n"

    functions = _ops_of(op, tensor)
    # every op output that is reachable: the root, and the op inputs that have creators
    outputs = {(id(tensor.creator), tensor._output_index): tensor}
    for fn in functions:
        for x in fn.inputs:
            if isinstance(x, Tensor) and x.creator is not None:
                outputs.setdefault((id(x.creator), x._output_index), x)
    constants = 0
    for fn in functions:
        sources = []
        for x in fn.inputs:
            if isinstance(x, Tensor):
                if x.creator is None:
                    sources.append((leaf(x), None))
                else:
                    label = f"[{x._output_index}]" if x.creator.n_outputs > 1 else None
                    sources.append((ids[("fn", id(x.creator))], label))
            elif x is not None:            # a Python number the op took as a constant
                cid = f"c{constants}"
                constants += 1
                lines.append(f'  {cid} [label="{_escape(repr(x))}", {_CONST_STYLE}];')
                sources.append((cid, None))
        mine = [(i, t) for (key, i), t in sorted(outputs.items(), key=lambda kv: kv[0][1])
                if key == id(fn)]
        if fn.n_outputs > 1 and fn.outputs_meta:
            shapes = " ".join(_shape(s) for s, _ in fn.outputs_meta)
        else:
            shapes = " ".join(_shape(t.shape) for _, t in mine)
        notes = []
        for i, t in mine:
            notes += annotations(t, f"[{i}] " if fn.n_outputs > 1 else "")
        me = node_id(("fn", id(fn)))
        lines.append(f'  {me} [label={_label(f"{fn.op_name} {shapes}", notes)}, {_OP_STYLE}];')
        for source, label in sources:
            attrs = f' [label="{label}", fontsize=9]' if label else ""
            lines.append(f"  {source} -> {me}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(tensor: Tensor, path, params=None, show_values: bool = False, show_grads=None,
         max_elements: int = 16, rankdir: str = "TB", title: str | None = None,
         dpi: int = 96) -> str:
    """Write the graph behind ``tensor`` to ``path`` (``.png``, ``.svg``, ``.pdf`` or ``.dot``).

    The DOT text is always written beside it (``path`` with the suffix ``.dot``); the picture is
    made from it by Graphviz's ``dot`` when that is installed. Without it, one line on stderr
    says how to install it, and only the ``.dot`` file is written. The other arguments are
    :func:`to_dot`'s; ``dpi`` sets the resolution of a PNG.

    Returns:
        The path of the picture, or of the ``.dot`` file when no picture was made.
    """
    op = "draw"
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    fmt = suffix[1:].lower()
    if fmt not in _FORMATS + ("dot",):
        raise ValueError(f"{op}: path must end in .png, .svg, .pdf or .dot, got {path!r}")
    text = to_dot(tensor, params=params, show_values=show_values, show_grads=show_grads,
                  max_elements=max_elements, rankdir=rankdir, title=title)
    dot_path = stem + ".dot"
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(text)
    if fmt == "dot":
        return dot_path
    executable = shutil.which("dot")
    if executable is None:
        print(f"xpnet: Graphviz's dot is not installed ({INSTALL_HINT}); wrote {dot_path}",
              file=sys.stderr)
        return dot_path
    command = [executable, f"-T{fmt}", f"-o{path}", dot_path]
    if fmt == "png":
        command.insert(1, f"-Gdpi={int(dpi)}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{op}: Graphviz's dot failed on {dot_path} (exit {done.returncode}): "
                           f"{done.stderr.strip()}")
    return path


__all__ = ["to_dot", "draw", "retain_grads"]
