import builtins
import sys

import numpy as np
import pytest

import xpnet
from xpnet import backend


@pytest.mark.parametrize("flag", ["tpu", "cuda:x", "gpu", "cuda:-1", "torch:mps", "strict:device2"])
def test_an_unknown_device_flag_names_the_choices(flag):
    with pytest.raises(ValueError, match=rf"unknown device '{flag}'; expected 'cpu', 'strict', "
                                         r"'cuda', 'cuda:N', 'torch' or 'torch:cuda\[:N\]' \(or "
                                         r"'strict:device1', the test device"):
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
    assert backend.backend_of(moved.array) is moved.backend


def test_to_numpy_reads_every_backend(device):
    host = np.arange(6, dtype=np.float32).reshape(2, 3)
    array = backend.from_numpy(host, device)
    np.testing.assert_array_equal(backend.to_numpy(array), host)


def test_available_devices_lists_the_cpu_first():
    devices = backend.available_devices()
    assert devices[0] == "cpu" and "strict" in devices


def _stand_in(module, **attributes):
    """An object whose class lives in ``module`` (as CuPy's and torch's arrays do)."""
    cls = type("ndarray", (), {"__module__": module, "shape": (2,)})
    obj = cls()
    for name, value in attributes.items():
        setattr(obj, name, value)
    return obj


def test_every_spelling_of_a_device_reaches_one_backend(monkeypatch):
    """'cuda' and 'cuda:0' (and an array on GPU 0) are one device object; so are 'torch',
    'torch:cpu' and a torch CPU tensor: ops compare backends by identity."""
    import functools
    import types

    @functools.lru_cache(maxsize=None)
    def fake_resolve(name):          # no CuPy or GPU needed: a Backend per canonical name
        return backend.Backend(name, "cupy" if name.startswith("cuda") else "torch", None,
                               types.SimpleNamespace(type="cuda", id=0))
    monkeypatch.setattr(backend, "_resolve", fake_resolve)
    gpu_array = _stand_in("cupy", device=types.SimpleNamespace(id=0))
    assert backend.backend_of(gpu_array) is backend.resolve("cuda") is backend.resolve("cuda:0")
    assert backend.backend_of(_stand_in("cupy", device=types.SimpleNamespace(id=1))) \
        is backend.resolve("cuda:1") is not backend.resolve("cuda")
    torch_gpu = _stand_in("torch", device=types.SimpleNamespace(type="cuda", index=None))
    assert backend.backend_of(torch_gpu) is backend.resolve("torch:cuda") \
        is backend.resolve("torch:cuda:0")
    torch_cpu = _stand_in("torch", device=types.SimpleNamespace(type="cpu", index=None))
    assert backend.backend_of(torch_cpu) is backend.resolve("torch") is backend.resolve("torch:cpu")


@pytest.mark.parametrize("flag, name", [("cuda", "cuda:0"), ("CUDA:1", "cuda:1"), (" cpu ", "cpu"),
                                        ("torch:cpu", "torch"), ("torch:cuda", "torch:cuda:0"),
                                        ("Strict:Device1", "strict:device1"),
                                        ("strict:cpu", "strict")])
def test_device_flags_have_one_canonical_name(flag, name):
    assert backend.canonical(flag) == name


def test_the_device_object_compares_equal_to_its_flag_strings(device):
    d = xpnet.device(device)
    t = xpnet.zeros(2, device=device)
    assert t.device is d and t.device == device and t.device == d.name and str(t.device) == d.name
    assert t.device != "no-such-device" and hash(d) == hash(d.name)
    assert {d: 1}[d] == 1 and repr(d) == f"device('{d.name}')"
    assert d.type == d.name.split(":")[0]


def test_a_cuda_device_object_knows_its_type_and_index():
    gpu = backend.Backend("cuda:1", "cupy", None, None)
    assert (gpu.type, gpu.index) == ("cuda", 1) and gpu == "cuda:1" and gpu != "cuda"
    assert (backend.resolve("cpu").type, backend.resolve("cpu").index) == ("cpu", None)
    assert (backend.resolve("strict:device1").type, backend.resolve("strict:device1").index) \
        == ("strict", None)
    assert backend.Backend("torch:cuda:2", "torch", None, None).index == 2


def test_device_blocks_nest_and_each_exit_restores_the_outer_default():
    before = backend.default_device()
    with xpnet.device("strict"):
        with xpnet.device("cpu"):
            with xpnet.device("strict"):
                assert backend.default_device() == "strict"
            assert backend.default_device() == "cpu"
            assert xpnet.zeros(1).device == "cpu"
        assert backend.default_device() == "strict"
        with xpnet.device("strict"):      # the same device twice: still a proper stack
            pass
        assert backend.default_device() == "strict"
    assert backend.default_device() == before


def test_new_arrays_of_a_cuda_device_are_made_under_that_gpu(monkeypatch):
    """array-api-compat's creation functions ignore device= on CuPy, so xpnet makes arrays
    inside ``cupy.cuda.Device(index)``: a stand-in CuPy (NumPy arrays, a recording Device)
    shows creation, ops and backward all running under GPU 1 (random draws on CuPy are one
    kernel of ``xpnet.cuda.philox``, which a stand-in cannot run)."""
    import types

    entered = []

    class Device:
        def __init__(self, index):
            self.id = index

        def __enter__(self):
            entered.append(self.id)

        def __exit__(self, *exc):
            return False

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(Device=Device, runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 2))
    fake.asarray = np.asarray
    monkeypatch.setitem(sys.modules, "cupy", fake)
    class Gpu1(str):       # NumPy takes it as its device "cpu"; the scope reads its index
        id = 1

    gpu1 = backend.Backend("cuda:1", "cupy", backend.resolve("cpu").xp, Gpu1("cpu"))
    steps = {
        "zeros": lambda: xpnet.zeros(2, 3, device=gpu1),
        "full": lambda: xpnet.full((2,), 1.5, device=gpu1),
        "tensor": lambda: xpnet.tensor([1.0, 2.0], device=gpu1),
    }
    for name, make in steps.items():
        entered.clear()
        t = make()
        assert entered and set(entered) == {1}, f"{name} ran outside GPU 1: {entered}"
        assert t.backend is gpu1
    x = xpnet.tensor([1.0, -2.0], device=gpu1, requires_grad=True)
    entered.clear()
    (x * x).sum().backward()
    assert entered and set(entered) == {1}
    np.testing.assert_allclose(xpnet.to_numpy(x.grad), [2.0, -4.0])


def _fake_cupy(monkeypatch, gpus):
    """A stand-in CuPy that sees ``gpus`` GPUs and counts the Device objects made."""
    import types

    made = []

    class Device:
        def __init__(self, index):
            self.id = index
            made.append(index)

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(Device=Device, runtime=types.SimpleNamespace(
        getDeviceCount=lambda: gpus))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return made


def test_a_cuda_scope_is_built_once_per_device(monkeypatch):
    """Ops enter the scope on every call: one Device object per backend, shared (CuPy keeps the
    previous devices per thread), and none at all when one GPU is visible."""
    import types

    made = _fake_cupy(monkeypatch, gpus=2)
    gpu1 = backend.Backend("cuda:1", "cupy", None, types.SimpleNamespace(id=1))
    first = gpu1.scope()
    assert gpu1.scope() is first and first.id == 1 and made == [1]
    made = _fake_cupy(monkeypatch, gpus=1)
    only = backend.Backend("cuda:0", "cupy", None, types.SimpleNamespace(id=0))
    with only.scope():
        pass
    assert only.scope() is only.scope() and made == []
    assert backend.resolve("cpu").scope() is backend.resolve("strict").scope()
