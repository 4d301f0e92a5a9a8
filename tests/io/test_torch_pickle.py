"""PyTorch files read without torch: the committed fixtures (made by
tests/fixtures/make_torch_fixtures.py) always; files a live torch writes when it is installed."""
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures")


def fixture(name):
    return os.path.join(FIXTURES, name)


def tiny_mlp(device=None):
    """The fixture's MLP, built in xpnet with the same names."""
    return nn.Sequential(nn.Linear(4, 8, device=device), nn.BatchNorm1d(8, device=device),
                         nn.ReLU(), nn.Linear(8, 3, device=device))


class TiedLM(nn.Module):
    def __init__(self, device=None):
        self.emb = nn.Embedding(7, 4, device=device)
        self.norm = nn.LayerNorm(4, device=device)
        self.head = nn.Linear(4, 7, bias=False, device=device)
        self.head.weight = self.emb.weight

    def forward(self, ids):
        return self.head(self.norm(self.emb(ids)))


@pytest.mark.parametrize("name", ["tiny_mlp.pt", "tiny_mlp.safetensors"])
def test_a_model_trained_in_pytorch_loads_and_gives_its_outputs(device, name):
    expected = np.load(fixture("tiny_mlp_expected.npz"))
    model = tiny_mlp(device).eval()
    state = xpnet.io.load_state_dict(fixture(name), device=device)
    assert model.load_state_dict(state) == ([], [])
    assert model[1].num_batches_tracked.item() == 5
    y = model(xpnet.tensor(expected["inputs"], device=device))
    assert_close(y, expected["outputs"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["tiny_tied_lm.pt", "tiny_tied_lm.safetensors"])
def test_a_pytorch_model_with_a_tied_head_loads_strictly_and_stays_tied(device, name):
    expected = np.load(fixture("tiny_tied_lm_expected.npz"))
    model = TiedLM(device)
    state = xpnet.load(fixture(name), device=device)
    assert sorted(state) == ["emb.weight", "head.weight", "norm.bias", "norm.weight"]
    assert model.load_state_dict(state) == ([], [])
    assert model.head.weight is model.emb.weight
    assert_close(model(xpnet.tensor(expected["ids"], device=device)), expected["logits"],
                 rtol=1e-5, atol=1e-6)


def test_strided_views_dtypes_and_plain_values_come_back_as_saved():
    state = xpnet.load(fixture("tensors.pt"))
    expected = np.load(fixture("tensors_expected.npz"))
    tensors = state["tensors"]
    assert sorted(tensors) == sorted(expected.files)
    dtypes = {"bf16": "float32", "half": "float16", "double": "float64", "long": "int64",
              "int8": "int8", "uint8": "uint8", "mask": "bool"}
    for key, value in tensors.items():
        assert isinstance(value, xpnet.Tensor), key
        assert xpnet.backend.dtype_name(value.dtype) == dtypes.get(key, "float32"), key
        assert value.shape == expected[key].shape, key
        np.testing.assert_array_equal(value.numpy().astype(expected[key].dtype), expected[key],
                                      err_msg=key)
    assert tensors["transposed"].numpy()[1].tolist() == [1.0, 7.0, 13.0, 19.0]
    assert tensors["sliced"].numpy().tolist() == [[8.0, 9.0, 10.0], [14.0, 15.0, 16.0]]
    bf16 = tensors["bf16"].numpy()   # float32 whose low 16 bits are zero: bfloat16, widened
    assert not (bf16.view(np.uint32) & 0xFFFF).any()
    assert bf16[:2].tolist() == [1.5, -2.25]
    np.testing.assert_allclose(bf16[2:], [3.0e38, 1e-3], rtol=2.0 ** -8)
    rest = {k: v for k, v in state.items() if k != "tensors"}
    assert rest == {"epoch": 7, "name": "tiny", "lr": 0.125, "note": None,
                    "history": [0.5, 0.25], "shape": (2, 3), "flags": {"ema": True}}


def test_a_pickled_module_is_refused_by_name():
    with pytest.raises(ValueError) as info:
        xpnet.load(fixture("whole_module.pt"))
    assert str(info.value) == (
        f"refusing to load torch.nn.modules.linear.Linear from {fixture('whole_module.pt')}: "
        f"only tensors, storages and plain containers are allowed (a whole pickled module? "
        f"save model.state_dict() instead)")


def test_the_legacy_format_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"legacy.pt is a PyTorch file in the legacy \(pre-1.6, "
                                         r"non-zip\) format, which xpnet does not read; in "
                                         r"PyTorch, torch.save\(torch.load\(f\), f\)"):
        xpnet.load(fixture("legacy.pt"))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def torch_zip(pickled: bytes, members=None) -> io.BytesIO:
    """A file laid out as torch.save lays it out, with the given data.pkl."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("archive/data.pkl", pickled)
        zf.writestr("archive/byteorder", "little")
        for name, data in (members or {}).items():
            zf.writestr(f"archive/data/{name}", data)
    buffer.seek(0)
    return buffer


def storage_pickle(offset, size, stride, numel=4, storage="FloatStorage") -> bytes:
    """data.pkl of one tensor made by _rebuild_tensor_v2 from storage '0', written op by op."""
    def ints(values):
        return b"(" + b"".join(b"K" + bytes([v]) for v in values) + b"t"
    return (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(("
            b"X\x07\x00\x00\x00storage" + f"ctorch\n{storage}\n".encode() +
            b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + b"K" + bytes([numel]) + b"tQ" +
            b"K" + bytes([offset]) + ints(size) + ints(stride) +
            b"\x89ccollections\nOrderedDict\n)RtR.")


def test_a_hand_written_torch_file_is_read_like_torch_reads_it():
    data = np.arange(4, dtype="<f4").tobytes()
    value = xpnet.load(torch_zip(storage_pickle(1, (2,), (2,)), {"0": data}))
    assert value.numpy().tolist() == [1.0, 3.0]


@pytest.mark.parametrize("pickled, members, message", [
    (pickle.dumps(Evil(), protocol=2), {},
     r"refusing to load (posix|nt).system from <BytesIO>: only tensors"),
    (pickle.dumps({"f": np.float64(1.0)}, protocol=2), {},
     r"refusing to load numpy.* from <BytesIO>"),
    (b"\x80\x02cbuiltins\neval\n.", {}, r"refusing to load builtins.eval from <BytesIO>"),
    (storage_pickle(0, (2,), (1,)), {},
     r"<BytesIO> is a damaged PyTorch file: the storage 'archive/data/0' is missing"),
    (storage_pickle(0, (2,), (1,)), {"0": b"\x00" * 12},
     r"storage 'archive/data/0' holds 12 bytes, its FloatStorage of 4 elements needs 16"),
    (storage_pickle(1, (2,), (3,)), {"0": b"\x00" * 16},
     r"a tensor of size \(2,\), stride \(3,\) at offset 1 reaches element 4 of a storage of 4"),
    (storage_pickle(0, (2,), (1,), storage="QInt8Storage"), {"0": b"\x00" * 4},
     r"refusing to load torch.QInt8Storage from <BytesIO>"),
    (b"\x80\x02}q\x00(X\x01\x00", {},
     r"<BytesIO> is a damaged PyTorch file \(UnpicklingError: pickle data was truncated\)"),
])
def test_a_torch_file_that_is_not_a_state_dict_is_refused_before_any_code_runs(
        pickled, members, message):
    with pytest.raises(ValueError, match=message):
        xpnet.load(torch_zip(pickled, members))


def test_a_torchscript_archive_is_named_as_such():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("model/constants.pkl", b"")
        zf.writestr("model/code/__torch__.py", b"")
    with pytest.raises(ValueError, match=r"not a PyTorch state dict file: it is a TorchScript "
                                         r"archive \(torch.jit.save\)"):
        xpnet.io.torch_pickle.read(buffer, "m.pt")


# -- against a live PyTorch ------------------------------------------------------------------

def trained_torch_mlp(torch):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def test_torch_save_and_safetensors_of_a_trained_model_load_into_xpnet(tmp_path, device):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch_model = trained_torch_mlp(torch)
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    torch.save(torch_model.state_dict(), tmp_path / "m.pth")
    safetensors_torch.save_file(torch_model.state_dict(), tmp_path / "m.safetensors")
    buffer = io.BytesIO()
    torch.save(torch_model.state_dict(), buffer)   # a file object, as scripts pass
    buffer.seek(0)
    for source in (tmp_path / "m.pth", tmp_path / "m.safetensors", buffer):
        model = tiny_mlp(device).eval()
        model.load_state_dict(xpnet.load(source, device=device))
        assert_close(model(xpnet.tensor(x, device=device)), expected, rtol=1e-5, atol=1e-6)


def test_an_xpnet_model_saved_as_safetensors_loads_into_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = tiny_mlp().eval()
    model[1].running_mean.array = model[1].running_mean.xp.linspace(-1, 1, 8, dtype="float32")
    xpnet.save(model.state_dict(), tmp_path / "m.safetensors")
    torch_model = trained_torch_mlp(torch)
    torch_model.load_state_dict(safetensors_torch.load_file(tmp_path / "m.safetensors"))
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(x)).numpy()
    assert_close(model(xpnet.tensor(x)), expected, rtol=1e-5, atol=1e-6)


def test_a_tied_xpnet_model_round_trips_through_pytorch_with_both_names(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    model = TiedLM()
    xpnet.save(model.state_dict(), tmp_path / "lm.safetensors")
    loaded = safetensors_torch.load_file(tmp_path / "lm.safetensors")
    assert sorted(loaded) == ["emb.weight", "head.weight", "norm.bias", "norm.weight"]
    torch.manual_seed(3)
    from tests.fixtures.make_torch_fixtures import tied_lm
    torch_model = tied_lm(torch)
    torch_model.load_state_dict(loaded)                    # strict
    torch.save(torch_model.state_dict(), tmp_path / "lm.pt")
    again = TiedLM()
    again.load_state_dict(xpnet.load(tmp_path / "lm.pt"))   # strict, and stays tied
    assert again.head.weight is again.emb.weight
    ids = np.array([[1, 2, 6]])
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(ids)).numpy()
    assert_close(again(xpnet.tensor(ids)), expected, rtol=1e-5, atol=1e-6)
    assert_close(model(xpnet.tensor(ids)), expected, rtol=1e-5, atol=1e-6)


def test_every_dtype_and_view_torch_writes_is_read_exactly():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    big = torch.randn(5, 7, 3, dtype=torch.float64)
    values = {"permuted": big.permute(2, 0, 1), "narrow": big[1:4, 2:6:2, 1],
              "expanded": torch.ones(3, 1).expand(3, 4),
              "int32": torch.arange(5, dtype=torch.int32),
              "int16": torch.arange(-3, 3, dtype=torch.int16),
              "complex": torch.randn(3, dtype=torch.cfloat),
              "bf16": torch.randn(6).to(torch.bfloat16)}
    buffer = io.BytesIO()
    torch.save(values, buffer)
    buffer.seek(0)
    state = xpnet.load(buffer)
    for key, value in values.items():
        want = value.float().numpy() if key == "bf16" else value.numpy()
        got = state[key].numpy()
        assert got.dtype == want.dtype and got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)


# -- writing .pt ----------------------------------------------------------------------------------

def _checkpoint():
    model = TiedLM()
    opt = xpnet.optim.Adam(model.parameters(), lr=1e-3)
    model(xpnet.tensor([[1, 2, 3]])).sum().backward()
    opt.step()
    return model, {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
                   "loss": 0.25, "notes": ["a", None, True, (1, 2.5)], "big": 2 ** 40,
                   "mask": xpnet.tensor([True, False]), "ids": xpnet.arange(4),
                   "transposed": xpnet.tensor(np.arange(6.0).reshape(2, 3)).t(),
                   "half": xpnet.tensor([1.5, -2.0], dtype="float16")}


def _same(a, b):
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, xpnet.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("name", ["ckpt.pt", "ckpt.pth"])
def test_a_pt_name_writes_torch_saves_zip_and_xpnet_reads_it_back_exactly(tmp_path, name):
    _, ckpt = _checkpoint()
    xpnet.save(ckpt, tmp_path / name)
    with zipfile.ZipFile(tmp_path / name) as zf:
        assert {"archive/data.pkl", "archive/byteorder", "archive/version"} <= set(zf.namelist())
    _same(ckpt, xpnet.load(tmp_path / name))


def test_an_open_file_named_pt_gets_the_torch_format_too(tmp_path):
    model, _ = _checkpoint()
    with open(tmp_path / "m.pt", "wb") as f:        # torch.save(sd, f), as scripts write it
        xpnet.save(model.state_dict(), f)
    assert zipfile.is_zipfile(tmp_path / "m.pt")
    again = TiedLM()
    again.load_state_dict(xpnet.load(tmp_path / "m.pt"))
    assert again.head.weight is again.emb.weight    # one storage under both names: still tied
    _same(model.state_dict(), again.state_dict())


def test_an_xpnet_pt_file_loads_in_pytorch_with_weights_only_and_keeps_the_tie(tmp_path):
    torch = pytest.importorskip("torch")
    model, ckpt = _checkpoint()
    xpnet.save(ckpt, tmp_path / "ckpt.pt")
    loaded = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    state = loaded["model"]
    assert list(state) == list(model.state_dict())
    assert state["emb.weight"].data_ptr() == state["head.weight"].data_ptr()   # tied
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(state[key].numpy(), value.numpy())
    assert loaded["epoch"] == 3 and loaded["loss"] == 0.25 and loaded["big"] == 2 ** 40
    assert loaded["notes"] == ["a", None, True, (1, 2.5)]
    assert loaded["mask"].dtype == torch.bool and loaded["ids"].dtype == torch.int64
    assert loaded["half"].dtype == torch.float16 and loaded["half"].tolist() == [1.5, -2.0]
    assert loaded["transposed"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert sorted(loaded["optimizer"]) == ["param_groups", "state"]
    from tests.fixtures.make_torch_fixtures import tied_lm
    tied_lm(torch).load_state_dict(state)            # strict


def test_load_takes_pytorchs_map_location_and_weights_only(tmp_path):
    model, _ = _checkpoint()
    xpnet.save(model.state_dict(), tmp_path / "m.pt")
    for where in ("cpu", "strict", {"cuda:0": "strict"}, lambda storage, location: storage):
        state = xpnet.load(tmp_path / "m.pt", map_location=where, weights_only=True)
        expected = "cpu" if callable(where) or where == "cpu" else "strict"
        assert all(v.device == expected for v in state.values())
    assert xpnet.load(tmp_path / "m.pt", lambda s, loc: s)["emb.weight"].device == "cpu"
    with pytest.raises(ValueError, match=r"load: map_location must name one device"):
        xpnet.load(tmp_path / "m.pt", map_location={"cuda:0": "cpu", "cuda:1": "strict"})
    with pytest.raises(TypeError, match=r"load: give device or map_location, not both"):
        xpnet.load(tmp_path / "m.pt", "cpu", map_location="cpu")


def test_a_whole_module_or_an_odd_value_is_refused_for_pt_too(tmp_path):
    with pytest.raises(TypeError, match=r"save: got a whole TiedLM at '<root>'; .*state_dict"):
        xpnet.save(TiedLM(), tmp_path / "m.pt")
    with pytest.raises(TypeError, match=r"save: unsupported object of type object at 'a/1'"):
        xpnet.save({"a": [1, object()]}, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()          # nothing half-written is left
