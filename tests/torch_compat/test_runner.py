"""``python -m xpnet.torch_compat script.py``: PyTorch scripts run on xpnet, in a subprocess."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    torch.cuda.manual_seed_all(0)
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((64, 4)).astype(np.float32))
    y = torch.tensor(rng.standard_normal((64, 1)).astype(np.float32))
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=False)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)).to(device)
    weights = np.load(sys.argv[1])
    model.load_state_dict({k: torch.tensor(weights[k]) for k in model.state_dict()})
    assert next(model.parameters()).shape == (8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(sys.argv[2]), momentum=0.9)
    for epoch in range(2):
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.mse_loss(model(data), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            print(f"loss {loss.item():.7f}")
''')


def _run(tmp_path, source, *args, compat=True):
    script = tmp_path / "script.py"
    script.write_text(source)
    command = [sys.executable, "-m", "xpnet.torch_compat"] if compat else [sys.executable]
    return subprocess.run([*command, str(script), *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def _weights(tmp_path):
    import numpy as np
    rng = np.random.default_rng(1)
    path = tmp_path / "weights.npz"
    np.savez(path, **{"0.weight": rng.standard_normal((8, 4)).astype(np.float32) * 0.5,
                      "0.bias": np.zeros(8, np.float32),
                      "2.weight": rng.standard_normal((1, 8)).astype(np.float32) * 0.5,
                      "2.bias": np.zeros(1, np.float32)})
    return str(path)


def _losses(result):
    assert result.returncode == 0, result.stderr
    return [float(line.split()[1]) for line in result.stdout.splitlines()
            if line.startswith("loss ")]


def test_a_pytorch_training_script_runs_on_xpnet_with_pytorchs_losses(tmp_path):
    weights = _weights(tmp_path)
    mine = _losses(_run(tmp_path, SCRIPT, weights, "0.05"))
    assert len(mine) == 8 and mine[-1] < mine[0]
    try:
        import torch  # noqa: F401
    except ImportError:
        return   # the same script under the real PyTorch is the reference, where installed
    theirs = _losses(_run(tmp_path, SCRIPT, weights, "0.05", compat=False))
    assert len(theirs) == 8
    for a, b in zip(mine, theirs):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b))


MISSING = textwrap.dedent('''
    import torch
    import torch.nn as nn
    print("started")
    layer = nn.NoSuchLayer(3)
''')


@pytest.mark.parametrize("line, name", [
    ("layer = nn.NoSuchLayer(3)", "torch.nn.NoSuchLayer"),
    ("from torch.nn import NoSuchLayer", "torch.nn.NoSuchLayer"),
    ("import torch.no_such_module", "torch.no_such_module"),
    ("from torch.nn.utils.no_such import thing", "torch.nn.utils.no_such"),
    ("torch.zeros(2).no_such_method()", "torch.Tensor.no_such_method"),
    # a keyword argument an xpnet function, method or class does not take
    ("torch.zeros(2, no_such_keyword=1)", "torch.zeros(no_such_keyword=...)"),
    ("torch.zeros(2).sum(no_such_keyword=1)", "torch.Tensor.sum(no_such_keyword=...)"),
    ("nn.Linear(2, 3, no_such_keyword=1)", "torch.nn.Linear(no_such_keyword=...)"),
])
def test_a_missing_pytorch_name_gives_one_clear_line(tmp_path, line, name):
    result = _run(tmp_path, MISSING.replace("layer = nn.NoSuchLayer(3)", line))
    assert result.returncode == 1 and result.stdout == "started\n"
    assert result.stderr.splitlines() == [
        f"xpnet.torch_compat: {name} is not available in xpnet (script.py, line 5)"]


def test_other_errors_keep_their_traceback(tmp_path):
    result = _run(tmp_path, "import torch\nraise ValueError('the script failed')\n")
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == "ValueError: the script failed"


def test_a_keyword_error_of_the_scripts_own_function_keeps_its_traceback(tmp_path):
    result = _run(tmp_path, "import torch\ndef zeros(n):\n    pass\nzeros(2, dtype=1)\n")
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1] == \
        "TypeError: zeros() got an unexpected keyword argument 'dtype'"


def test_xpnet_never_reaches_itself_through_the_alias(tmp_path):
    # manual_seed and get_rng_state use the real PyTorch when it is there; under the alias
    # they must see none (not xpnet again), and the 'torch' device says PyTorch is missing
    result = _run(tmp_path, textwrap.dedent('''
        import torch, xpnet
        from xpnet.torch_compat import import_torch, torch_is_aliased
        torch.manual_seed(3)
        assert "torch" not in torch.get_rng_state()
        assert torch_is_aliased() and torch.nn.Linear is xpnet.nn.Linear
        try:
            import_torch()
        except ImportError as exc:
            print("no torch:", "names xpnet" in str(exc))
        try:
            xpnet.device("torch")
        except RuntimeError as exc:
            print("device:", "not installed" in str(exc))
    '''))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["no torch: True", "device: True"]


def test_usage_without_a_script(tmp_path):
    result = subprocess.run([sys.executable, "-m", "xpnet.torch_compat"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "usage: python -m xpnet.torch_compat" in result.stderr
