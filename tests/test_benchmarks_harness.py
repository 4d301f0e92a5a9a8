"""The benchmark harness's own arithmetic: FLOP counts against hand counts, result-file names,
the synthetic batch pool, and the PyTorch twin's MNIST against xpnet's."""
import json
import os
import sys

import numpy as np
import pytest

from benchmarks import flops
from benchmarks.environment import machine_name, pythonpath_first, result_path, slug
from benchmarks.run import _batch_bytes, batch_pool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mnist_cnn_step_flops_match_a_hand_count():
    conv1 = 2 * (26 * 26) * 32 * (1 * 3 * 3)          # 389,376
    conv2 = 2 * (24 * 24) * 64 * (32 * 3 * 3)         # 21,233,664
    fc1, fc2 = 2 * 9216 * 128, 2 * 128 * 10           # 2,359,296 and 2,560
    assert conv1 + conv2 + fc1 + fc2 == 23_984_896
    assert flops.forward_flops("cnn", 1) == 23_984_896
    assert flops.step_flops("cnn", 1) == 3 * 23_984_896
    assert flops.step_flops("cnn", 64) == 64 * 3 * 23_984_896


def test_lstm_step_flops_match_a_hand_count():
    # batch 2, T 3, input 4, hidden 5: per step x·W_ih (2×4 @ 4×20) and h·W_hh (2×5 @ 5×20)
    per_step = 2 * 2 * 20 * 4 + 2 * 2 * 20 * 5        # 320 + 400
    head = 2 * 2 * 10 * 5
    forward = 3 * per_step + head                      # 2,360
    assert flops.forward_flops("lstm", 2, seq_len=3, input_size=4, hidden=5) == 2360
    assert flops.step_flops("lstm", 2, seq_len=3, input_size=4, hidden=5) == 3 * forward


def test_gemm_and_conv_shapes():
    assert flops.gemm(2, 3, 4) == 48
    assert flops.conv_out(28, 4, 2, 1) == 14
    assert flops.conv_out(7, 7) == 1
    # a transposed convolution counts as the GEMM before its col2im: (N·H·W, C_in) @ (C_in, C_out·k²)
    assert flops.conv_transpose2d(1, 100, 128, 7, 1, 1) == 2 * 1 * (128 * 49) * 100
    with pytest.raises(ValueError, match="no FLOP count for benchmark 'nope'"):
        flops.forward_flops("nope", 1)


def test_result_file_name():
    assert result_path("2026-12-07", "cpu", "amd-epyc-haswell", "abc1234", root="/r") == \
        "/r/2026-12-07_cpu_amd-epyc-haswell_abc1234.jsonl"
    assert result_path("2026-12-07", "cuda:1", "nvidia-h100", "abc1234", dirty=True,
                       label="Before Slabs", root="/r") == \
        "/r/2026-12-07_cuda_nvidia-h100_abc1234-dirty_before-slabs.jsonl"
    assert result_path("2026-12-07", "cpu", "x", None, root="/r") == "/r/2026-12-07_cpu_x_nogit.jsonl"


def test_machine_names():
    assert slug("Intel(R) Xeon(R) Platinum 8480+ CPU @ 2.00GHz") == "intel-xeon-platinum-8480"
    assert slug("AMD EPYC 7B13 64-Core Processor") == "amd-epyc-7b13"
    assert machine_name("cpu", "AMD EPYC", [{"architecture": "Haswell"}]) == "amd-epyc-haswell"
    assert machine_name("cpu", "AMD EPYC", []) == "amd-epyc"
    assert machine_name("cuda", "AMD EPYC", [{"architecture": "Haswell"}],
                        gpu="NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_batch_pool_is_larger_than_asked_distinct_and_seeded():
    pool = batch_pool("cnn", 4, 2**20)
    assert sum(x.nbytes + y.nbytes for x, y in pool) >= 2**20
    assert _batch_bytes("cnn", 4) == 4 * 784 * 4 + 4 * 8
    assert len(pool) == -(-2**20 // _batch_bytes("cnn", 4))
    assert pool[0][0].shape == (4, 1, 28, 28) and pool[0][0].dtype == np.float32
    assert not np.array_equal(pool[0][0], pool[1][0])
    again = batch_pool("cnn", 4, 2**20)
    np.testing.assert_array_equal(pool[-1][0], again[-1][0])
    np.testing.assert_array_equal(pool[-1][1], again[-1][1])
    ids, labels = batch_pool("char-transformer", 2, 1, seq_len=5, vocab=7)[0]
    assert ids.shape == labels.shape == (2, 5)
    np.testing.assert_array_equal(ids[:, 1:], labels[:, :-1])   # next-character targets


def test_pythonpath_goes_ahead_of_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(sys, "path", ["", "/somewhere", str(tmp_path)])
    pythonpath_first()
    assert sys.path == [str(tmp_path), "", "/somewhere"]


def test_torch_twin_reads_the_same_mnist_as_xpnet():
    from benchmarks.torch_twin import load_mnist
    from xpnet.data import MNIST
    folder = os.path.join(REPO, "data", "mnist")
    x, y = load_mnist(folder, train=False, limit=60)
    assert x.shape == (10, 1, 28, 28) and y.dtype == np.int64
    theirs = MNIST(root=folder, train=False, normalize=True)
    np.testing.assert_allclose(x, np.asarray(theirs.images[:10]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(y, np.asarray(theirs.labels[:10]))


_MAPPED_BYTES = """
import ctypes, json, sys
import numpy as np
from benchmarks.environment import settle_malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

info = ctypes.CDLL(None).mallinfo2
info.restype = MallInfo2
settled = settle_malloc(sys.argv[1])
before = info().hblkhd
kept = np.ones(8 * 2**20, np.uint8)          # 8 MB, alive
print(json.dumps({"settled": settled, "mapped": info().hblkhd - before}))
"""


def test_settled_malloc_serves_a_training_steps_arrays_from_the_heap():
    """--malloc settled: an 8 MB array comes from glibc's heap, as in a process that has loaded
    a dataset; in a fresh process glibc maps it (and unmaps it when freed)."""
    import ctypes
    import subprocess
    if not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("needs glibc 2.33 or later (mallinfo2)")
    got = {}
    for mode in ("settled", "fresh"):
        out = subprocess.run([sys.executable, "-c", _MAPPED_BYTES, mode], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout
        got[mode] = json.loads(out)
    assert got["settled"]["settled"] == {"mmap_threshold": 32 * 2**20,
                                         "trim_threshold": 64 * 2**20}
    assert got["settled"]["mapped"] == 0
    assert got["fresh"]["settled"] is None and got["fresh"]["mapped"] >= 8 * 2**20


def test_tf32_is_off_on_both_sides_by_default_and_on_for_both_when_asked(monkeypatch):
    from benchmarks.run import parse_args, precision_flags, set_precision
    assert parse_args(["cnn"]).tf32 == "off"
    monkeypatch.delenv("CUPY_TF32", raising=False)
    assert set_precision("cpu", True) is None                  # nothing changes on the CPU
    assert "CUPY_TF32" not in os.environ
    torch = pytest.importorskip("torch")
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        flags = set_precision("cuda", False)
        assert os.environ["CUPY_TF32"] == "0" and flags["CUPY_TF32"] == "0"
        assert flags["torch.backends.cudnn.allow_tf32"] is False     # its default: True
        assert flags["torch.backends.cuda.matmul.allow_tf32"] is False
        flags = set_precision("cuda:0", True)
        assert os.environ["CUPY_TF32"] == "1"
        assert flags["torch.backends.cudnn.allow_tf32"] is True
        assert flags["torch.backends.cuda.matmul.allow_tf32"] is True
        assert precision_flags() == flags
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_gpu_memory_compares_allocated_with_allocated_and_reserved_with_reserved(tmp_path):
    from benchmarks.run import gpu_memory_lines
    path = tmp_path / "bench.jsonl"
    summary = {"bench": "cnn", "summary": True, "batch": 64, "precision": "fp32",
               "xpnet_gpu_peak_allocated_bytes": 100 * 2**20,
               "xpnet_gpu_peak_reserved_bytes": 300 * 2**20,
               "torch_gpu_peak_allocated_bytes": 90 * 2**20,
               "torch_gpu_peak_reserved_bytes": 128 * 2**20}
    path.write_text("not json\n" + json.dumps({"bench": "cnn", "framework": "xpnet"}) + "\n"
                    + json.dumps(summary) + "\n" + json.dumps({"summary": True, "batch": 1}))
    assert gpu_memory_lines(str(path)) == [
        "cnn batch 64 GPU MiB (fp32): allocated xpnet 100.0 torch 90.0; "
        "reserved xpnet 300.0 torch 128.0"]
