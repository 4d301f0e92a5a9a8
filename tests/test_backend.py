import builtins
import sys

import numpy as np
import pytest

import xpnet
from xpnet import backend


@pytest.mark.parametrize("flag", ["tpu", "cuda:x", "gpu", "cuda:-1", "torch:mps"])
def test_an_unknown_device_flag_names_the_choices(flag):
    with pytest.raises(ValueError, match=rf"unknown device '{flag}'; expected 'cpu', 'strict', "
                                         r"'cuda', 'cuda:N'"):
        backend.resolve(flag)


def test_a_device_must_be_a_string():
    with pytest.raises(TypeError, match="device must be a string such as 'cpu' or 'cuda', got 3"):
        backend.resolve(3)


def test_cuda_without_cupy_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cupy)
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    backend._resolve.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"device 'cuda' needs CuPy, which is not "
                                               r"installed; pip install \"xpnet\[cuda\]\""):
            backend.resolve("cuda")
    finally:
        backend._resolve.cache_clear()


def test_a_gpu_index_that_does_not_exist_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"device 'cuda:3': GPU index 3 does not exist; 2 "
                                           r"GPU\(s\) visible"):
        backend._check_gpu_count("CuPy", 3, 2, "cuda:3")
    with pytest.raises(RuntimeError, match="sees no GPU; use --device cpu"):
        backend._check_gpu_count("CuPy", 0, 0, "cuda")


def test_the_default_device_comes_from_the_environment_then_the_setter(monkeypatch):
    monkeypatch.setenv("XPNET_DEVICE", "strict")
    assert backend.default_device() == "strict"
    assert xpnet.zeros(2).device == "strict"
    backend.set_default_device("cpu")
    try:
        assert xpnet.zeros(2).device == "cpu"
    finally:
        backend.set_default_device(None)
    with pytest.raises(ValueError, match="unknown device 'nope'"):
        backend.set_default_device("nope")


def test_a_device_block_sets_the_default_inside_only():
    before = backend.default_device()
    with xpnet.device("strict"):
        assert xpnet.ones(3).device == "strict"
        assert xpnet.nn.Linear(2, 2).weight.device == "strict"
    assert backend.default_device() == before


def test_tensors_move_between_devices_keeping_values(device):
    x = xpnet.tensor([[1.5, -2.0], [3.0, 4.25]], dtype="float64")
    moved = x.to(device)
    assert moved.device == xpnet.device(device).name
    np.testing.assert_array_equal(moved.numpy(), x.numpy())
    np.testing.assert_array_equal(moved.to("cpu").numpy(), x.numpy())
    assert backend.backend_of(moved.data) is moved.backend


def test_to_numpy_reads_every_backend(device):
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    array = backend.from_numpy(host, device)
    np.testing.assert_array_equal(backend.to_numpy(array), host)


def test_available_devices_lists_the_cpu_first():
    devices = backend.available_devices()
    assert devices[0] == "cpu" and "strict" in devices
