"""The graph as DOT text (to_dot), as a file (draw), and retain_grads."""
import re
import shutil

import pytest

import xpnet
import xpnet.functional as F
from xpnet import nn
from xpnet.autograd import graph
from xpnet.autograd.graph import draw, retain_grads, to_dot


def parse(dot):
    """{node id: title} and the set of (source title, target title) edges of a DOT text."""
    titles = {}
    for line in dot.splitlines():
        m = re.match(r'\s*(\w+) \[label=(?:"((?:[^"\\]|\\.)*)"|<<table[^>]*><tr><td[^>]*>([^<]*)<)',
                     line)
        if m:
            titles[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    edges = {(titles[a], titles[b]) for a, b in re.findall(r"^\s*(\w+) -> (\w+)", dot, re.M)}
    return titles, edges


def worked_example(device):
    """The course's worked example (tests/integration/test_worked_example.py), kept for drawing."""
    def t(value):
        return xpnet.tensor(value, device=device, dtype="float64", requires_grad=True)
    x = t([[[[1.0, 0.0, 3.0], [2.0, 5.0, 1.0], [4.0, 0.0, 2.0]]]])
    K = t([[[[1.0, 0.0], [2.0, -1.0]]], [[[-1.0, 2.0], [0.0, 1.0]]]])
    W, b = t([[0.5, -0.3], [-0.2, 0.7]]), t([1.2, -0.5])
    target = xpnet.tensor([1], device=device)
    z = F.linear(F.flatten(F.max_pool2d(F.relu(F.conv2d(x, K)), 2), 1), W, b)
    loss = F.cross_entropy(z, target)
    return loss, {"x": x, "K": K, "W": W, "b": b, "target": target}


WORKED_EDGES = {
    ("x (1, 1, 3, 3)", "conv2d (1, 2, 2, 2)"), ("K (2, 1, 2, 2)", "conv2d (1, 2, 2, 2)"),
    ("conv2d (1, 2, 2, 2)", "relu (1, 2, 2, 2)"), ("relu (1, 2, 2, 2)", "max_pool2d (1, 2, 1, 1)"),
    ("max_pool2d (1, 2, 1, 1)", "reshape (1, 2)"), ("reshape (1, 2)", "linear (1, 2)"),
    ("W (2, 2)", "linear (1, 2)"), ("b (2,)", "linear (1, 2)"),
    ("linear (1, 2)", "cross_entropy ()"), ("target (1,)", "cross_entropy ()"),
}


def test_the_worked_example_has_its_ops_shapes_and_edges(device):
    loss, params = worked_example(device)
    titles, edges = parse(to_dot(loss, params=params))
    assert edges == WORKED_EDGES
    assert len(titles) == 11                    # 6 ops + 5 leaves, each once
    assert "value" not in to_dot(loss, params=params)


def test_values_and_gradients_on_the_nodes_match_the_hand_computation(device):
    loss, params = worked_example(device)
    retain_grads(loss)
    loss.backward(retain_graph=True)
    dot = to_dot(loss, params=params, show_values=True, max_elements=9)
    titles, _ = parse(dot)
    nodes = {titles[m.group(1)]: line for line in dot.splitlines()
             if (m := re.match(r"\s*(\w+) \[label=", line))}     # {title: its node's line}

    def numbers(title, tag):
        """The numbers written after ``tag`` (value/grad) on the node titled ``title``."""
        text = nodes[title].split(f"<i>{tag}</i>", 1)[1].split("<i>", 1)[0]
        return [float(v) for v in re.findall(r"&#160;&#160;(-?[\d.]+(?:e[-+]\d+)?)<", text)]

    assert numbers("conv2d (1, 2, 2, 2)", "value") == [0, 9, 10, 3, 4, 7, 8, -1]
    assert numbers("relu (1, 2, 2, 2)", "value") == [0, 9, 10, 3, 4, 7, 8, 0]
    assert numbers("max_pool2d (1, 2, 1, 1)", "value") == [10, 8]
    assert numbers("linear (1, 2)", "value") == [3.8, 3.1]
    assert numbers("cross_entropy ()", "value") == [1.1032]          # -ln(0.33181)
    assert numbers("cross_entropy ()", "grad") == [1]
    assert numbers("linear (1, 2)", "grad") == [0.6682, -0.6682]      # p - y
    assert numbers("max_pool2d (1, 2, 1, 1)", "grad") == [0.4677, -0.6682]
    assert numbers("W (2, 2)", "grad") == [6.6819, 5.3455, -6.6819, -5.3455]
    assert numbers("K (2, 1, 2, 2)", "grad") == [0.9355, 2.3387, 1.8709, 0,
                                                  -1.3364, -3.3409, -2.6728, 0]
    assert numbers("x (1, 1, 3, 3)", "grad") == [0, 0, 0, 1.1359, -1.3364, 0, 0.9355, -1.1359, 0]
    assert numbers("target (1,)", "value") == [1]
    assert "<i>grad</i>" not in nodes["target (1,)"]                    # no gradient reaches it


def test_max_elements_hides_the_values_of_larger_tensors():
    loss, params = worked_example("cpu")
    dot = to_dot(loss, params=params, show_values=True, max_elements=4)
    x_line = next(line for line in dot.splitlines() if "x (1, 1, 3, 3)" in line)
    assert x_line.startswith('  n0 [label="x (1, 1, 3, 3)"')          # 9 elements: shape only
    linear = next(line for line in dot.splitlines() if "linear (1, 2)" in line)
    assert "&#160;&#160;3.8<" in linear
    assert "<i>grad</i>" not in dot                                     # no backward yet


def test_parameters_are_named_from_a_module_and_unnamed_leaves_are_inputs(device):
    model = nn.Sequential(nn.Linear(3, 4, device=device), nn.ReLU(),
                          nn.Linear(4, 2, device=device))
    x = xpnet.randn(5, 3, device=device)
    titles, edges = parse(to_dot(model(x).sum(), params=model))
    assert edges == {
        ("input (5, 3)", "linear (5, 4)"), ("0.weight (4, 3)", "linear (5, 4)"),
        ("0.bias (4,)", "linear (5, 4)"), ("linear (5, 4)", "relu (5, 4)"),
        ("relu (5, 4)", "linear (5, 2)"), ("2.weight (2, 4)", "linear (5, 2)"),
        ("2.bias (2,)", "linear (5, 2)"), ("linear (5, 2)", "sum ()")}


def test_constants_are_drawn_and_a_tensor_used_twice_is_one_node():
    x = xpnet.tensor([1.0, 2.0], requires_grad=True)
    dot = to_dot(x * x * 3.0, params={"x": x})
    titles, edges = parse(dot)
    assert sorted(titles.values()) == ["3.0", "mul (2,)", "mul (2,)", "x (2,)"]
    assert re.search(r"^\s*n0 -> n1;\s*n0 -> n1;", dot, re.M)          # x feeds mul twice
    assert ("3.0", "mul (2,)") in edges


def test_an_op_with_several_outputs_labels_each_edge_with_its_output_index():
    lstm = nn.LSTM(3, 4, batch_first=True)
    out, (h, c) = lstm(xpnet.randn(2, 5, 3))
    dot = to_dot(out.sum() + c.sum(), params=lstm)
    assert 'label="lstm (2, 5, 4) (2, 4) (2, 4)"' in dot
    assert '[label="[0]", fontsize=9]' in dot and '[label="[2]", fontsize=9]' in dot
    assert "weight_ih_l0 (16, 3)" in dot


def test_retain_grads_keeps_a_gradient_on_every_op_output():
    x = xpnet.tensor([1.0, -2.0], requires_grad=True)
    hidden = F.relu(x * 2.0)
    loss = retain_grads(hidden.sum())
    loss.backward()
    assert hidden.grad.tolist() == [1.0, 1.0]
    assert loss.grad.tolist() == 1.0


def test_a_tensor_without_a_graph_is_one_node_and_a_note_that_says_why():
    leaf = xpnet.tensor([1.0, 2.0], requires_grad=True)
    dot = to_dot(leaf, params={"w": leaf})
    assert 'label="w (2,)"' in dot and "no graph: this tensor is a leaf" in dot
    with xpnet.no_grad():
        y = leaf * 2.0
    dot = to_dot(y)
    assert 'label="input (2,)"' in dot
    assert "no graph: computed without requires_grad=True, or under no_grad()" in dot
    assert "->" not in dot


def test_a_graph_released_by_backward_cannot_be_drawn():
    loss, params = worked_example("cpu")
    loss.backward()
    with pytest.raises(RuntimeError, match=r"to_dot: the graph behind this tensor was released "
                                           r"by backward\(\).*retain_graph=True"):
        to_dot(loss)


def test_bad_arguments_get_clear_errors():
    x = xpnet.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="to_dot: expected a Tensor.*got ndarray"):
        to_dot(x.numpy())
    with pytest.raises(TypeError, match="to_dot: params must be a Module, a dict"):
        to_dot(x * 2.0, params=3)
    with pytest.raises(TypeError, match=r"to_dot: params\['w'\] must be a Tensor, got list"):
        to_dot(x * 2.0, params={"w": [1.0]})
    with pytest.raises(ValueError, match="to_dot: max_elements must be a non-negative int"):
        to_dot(x * 2.0, max_elements=-1)
    with pytest.raises(ValueError, match=r"draw: path must end in \.png, \.svg, \.pdf or \.dot, "
                                         r"got 'graph\.jpg'"):
        draw(x * 2.0, "graph.jpg")


def test_without_graphviz_draw_writes_the_dot_text_and_says_how_to_install_it(
        monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    x = xpnet.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    written = draw(y, tmp_path / "g.png", params={"x": x})
    assert written == str(tmp_path / "g.dot")
    assert not (tmp_path / "g.png").exists()
    assert (tmp_path / "g.dot").read_text() == to_dot(y, params={"x": x})
    err = capsys.readouterr().err
    assert err == (f"xpnet: Graphviz's dot is not installed (apt-get install graphviz / brew "
                   f"install graphviz / conda install graphviz); wrote {tmp_path / 'g.dot'}\n")


def test_draw_to_dot_needs_no_graphviz(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(graph.shutil, "which", lambda name: pytest.fail("dot was looked up"))
    x = xpnet.tensor([1.0], requires_grad=True)
    assert draw(x * 2.0, tmp_path / "g.dot") == str(tmp_path / "g.dot")
    assert "mul (1,)" in (tmp_path / "g.dot").read_text()
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("fmt, magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_draw_makes_the_picture_with_graphviz(tmp_path, fmt, magic):
    loss, params = worked_example("cpu")
    written = draw(loss, tmp_path / f"g.{fmt}", params=params, show_values=True)
    assert written == str(tmp_path / f"g.{fmt}")
    assert (tmp_path / f"g.{fmt}").read_bytes().startswith(magic)
    assert (tmp_path / "g.dot").exists()


def test_a_title_is_a_caption_above_the_graph():
    x = xpnet.tensor([1.0], requires_grad=True)
    dot = to_dot(x * 2.0, title='the "x" graph')
    assert '  graph [label="the \\"x\\" graph", labelloc=t' in dot.splitlines()[2]
