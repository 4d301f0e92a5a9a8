import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import io
from xpnet.testing import assert_close


def checkpoint(device):
    return {
        "model": {"fc.weight": xpnet.tensor(np.arange(6.0).reshape(2, 3), device=device),
                  "fc.bias": xpnet.tensor(np.array([1.5, -2.0], dtype=np.float32),
                                          device=device)},
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones((2, 3), dtype=np.float32)},
                                1: {"step": 3, "exp_avg": np.zeros(2, dtype=np.float32)}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1],
                                        "nesterov": False, "name": None}]},
        "epoch": 3,
        "labels": np.array([1, 2, 3], dtype=np.int64),
        "rng": xpnet.get_rng_state(),
        "history": {"loss": [0.5, float("nan")], "note": "ünïcode"},
    }


def test_a_nested_checkpoint_round_trips_onto_the_device(tmp_path, device):
    path = tmp_path / "ckpt.npz"
    original = checkpoint(device)
    io.save(original, path)
    state = io.load(path, device=device)
    assert list(state) == list(original)
    assert state["epoch"] == 3 and state["rng"]["host"] == original["rng"]["host"]
    opt = state["optimizer"]
    assert list(opt["state"]) == [0, 1]  # int keys stay ints
    assert opt["param_groups"][0]["betas"] == (0.9, 0.999)
    assert opt["param_groups"][0]["params"] == [0, 1] and opt["param_groups"][0]["name"] is None
    assert state["history"]["note"] == "ünïcode" and np.isnan(state["history"]["loss"][1])
    weight = state["model"]["fc.weight"]
    assert isinstance(weight, xpnet.Tensor) and weight.device == device
    assert xpnet.backend.dtype_name(weight.dtype) == "float64"
    assert_close(weight, np.arange(6.0).reshape(2, 3), rtol=0, atol=0)
    assert xpnet.backend.dtype_name(state["model"]["fc.bias"].dtype) == "float32"
    assert xpnet.backend.dtype_name(state["labels"].dtype) == "int64"
    assert state["labels"].tolist() == [1, 2, 3]
    assert opt["state"][0]["exp_avg"].device == device


def test_load_defaults_to_the_cpu(tmp_path):
    io.save({"x": xpnet.ones(2, device="strict")}, tmp_path / "a.npz")
    assert io.load(tmp_path / "a.npz")["x"].device == "cpu"


def test_a_module_state_dict_loads_back_into_a_module(tmp_path, device):
    xpnet.manual_seed(0)
    model = xpnet.nn.Sequential(xpnet.nn.Linear(3, 4), xpnet.nn.ReLU(), xpnet.nn.Linear(4, 2))
    model.to(device)
    xpnet.save(model.state_dict(), tmp_path / "model.npz")
    xpnet.manual_seed(1)
    other = xpnet.nn.Sequential(xpnet.nn.Linear(3, 4), xpnet.nn.ReLU(), xpnet.nn.Linear(4, 2))
    other.load_state_dict(xpnet.load(tmp_path / "model.npz", device=device))
    for (name, a), (_, b) in zip(model.named_parameters(), other.named_parameters()):
        assert_close(a, b, rtol=0, atol=0, msg=name)


def test_saving_does_not_move_or_change_the_live_module(tmp_path, device):
    model = xpnet.nn.Linear(3, 2).to(device)
    before = {k: (v.array, v.numpy().copy()) for k, v in model.state_dict().items()}
    io.save({"model": model.state_dict()}, tmp_path / "m.npz")
    for key, value in model.state_dict().items():
        assert value.device == device and value.array is before[key][0]
        np.testing.assert_array_equal(value.numpy(), before[key][1])


def test_the_file_is_one_npz_with_json_metadata_and_array_paths(tmp_path):
    io.save(checkpoint("cpu"), tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert "model/fc.weight" in npz.files and "optimizer/state/0/exp_avg" in npz.files
        meta = json.loads(bytes(npz["__xpnet__"]).decode())
    assert meta["format"] == "xpnet" and meta["version"] == 1
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def test_keys_that_collide_or_shadow_numpy_names_are_kept_apart(tmp_path):
    obj = {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, "file": np.arange(2), "__xpnet__": 5}
    io.save(obj, tmp_path / "k.npz")
    state = io.load(tmp_path / "k.npz")
    assert state["a/b"].tolist() == [1.0] and state["a"]["b"].tolist() == [0.0]
    assert state["file"].tolist() == [0, 1] and state["__xpnet__"] == 5


def test_a_failed_write_leaves_the_old_file_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    io.save({"epoch": 1, "w": np.ones(3)}, path)
    old = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save({"epoch": 2, "w": np.zeros(3)}, path)
    monkeypatch.undo()
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save({"epoch": 3, "w": np.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["ckpt.npz"]
    assert io.load(path)["epoch"] == 1


def test_a_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    meta = json.dumps({"format": "xpnet", "version": 1, "tree": {"dict": [["x", {"array": "x"}]]}})
    np.savez(path, x=np.array([{"a": 1}], dtype=object),
             __xpnet__=np.frombuffer(meta.encode(), dtype=np.uint8))
    with pytest.raises(ValueError, match="the array 'x' holds Python objects, which xpnet never "
                                         "loads") as info:
        io.load(path)
    assert "allow_pickle" not in str(info.value)


def test_files_that_are_not_xpnet_files_are_refused(tmp_path):
    (tmp_path / "p.pkl").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="p.pkl is not an xpnet file"):
        io.load(tmp_path / "p.pkl")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="plain.npz is not an xpnet file .*no '__xpnet__'"):
        io.load(tmp_path / "plain.npz")
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="not an xpnet file .*single .npy"):
        io.load(tmp_path / "one.npy")
    with zipfile.ZipFile(tmp_path / "truncated.npz", "w") as zf:
        zf.writestr("x.npy", b"")
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "truncated.npz").read_bytes()[:10])
    with pytest.raises(ValueError, match="truncated.npz is damaged"):
        io.load(tmp_path / "truncated.npz")
    (tmp_path / "notes.txt").write_text("epoch 3, loss 0.1\n")
    with pytest.raises(ValueError, match="notes.txt is not an xpnet file .*; it looks like text"):
        io.load(tmp_path / "notes.txt")
    (tmp_path / "noise.bin").write_bytes(bytes(range(250, 256)) * 50)
    with pytest.raises(ValueError, match="noise.bin is not an xpnet file .*unrecognised bytes") \
            as info:
        io.load(tmp_path / "noise.bin")
    assert "allow_pickle" not in str(info.value)


def test_a_checkpoint_cut_short_says_it_is_damaged(tmp_path):
    path = tmp_path / "ckpt.npz"
    io.save({"w": np.arange(10000.0), "epoch": 3}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"load: {path} is damaged"):
            io.load(path)


def test_a_temporary_left_by_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "ckpt.npz"
    dead = tmp_path / ".ckpt.npz.999999999.abcd.tmp"        # no such process
    dead.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".ckpt.npz.{os.getppid()}.efgh.tmp"   # a live writer's: kept
    alive.write_bytes(b"being written")
    other = tmp_path / ".other.npz.999999999.ijkl.tmp"        # another target's: kept
    other.write_bytes(b"x")
    io.save({"a": 1}, path)
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, other.name, "ckpt.npz"])


def test_an_error_while_saving_names_the_target_not_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(io.npz, "write_members", no_space)
    with pytest.raises(OSError, match=f"save: cannot write {path}: No space left on device") \
            as info:
        io.save({"a": 1}, path)
    assert ".tmp" not in str(info.value) and os.listdir(tmp_path) == []


def test_unsupported_objects_name_their_key_path(tmp_path):
    with pytest.raises(TypeError, match=r"unsupported object of type set at 'model/layers/1'"):
        io.save({"model": {"layers": [1, {2}]}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"dict keys must be str or int, got float 1.5 at 'a'"):
        io.save({"a": {1.5: 0}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"the array at 'o' has dtype object"):
        io.save({"o": np.array([None])}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


def test_numpy_scalars_become_python_numbers(tmp_path):
    io.save({"lr": np.float32(0.5), "step": np.int64(7), "flag": np.bool_(True)}, tmp_path / "s")
    state = io.load(tmp_path / "s")
    assert state == {"lr": 0.5, "step": 7, "flag": True} and type(state["step"]) is int


def test_a_saved_file_gets_the_usual_permissions_not_the_temp_files(tmp_path):
    umask = os.umask(0o022)
    try:
        io.save({"a": 1}, tmp_path / "m.npz")
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644
        os.chmod(tmp_path / "m.npz", 0o600)
        io.save({"a": 2}, tmp_path / "m.npz")  # an existing file keeps its mode
        assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)
