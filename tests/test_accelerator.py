"""xpnet.cuda, xpnet.accelerator and xpnet.backends: PyTorch's device questions and knobs."""
import pytest

import xpnet
import xpnet.accelerator
import xpnet.backends


def test_the_device_idiom_of_pytorch_scripts_works():
    device = xpnet.device("cuda" if xpnet.cuda.is_available() else "cpu")
    assert device.type == ("cuda" if xpnet.cuda.device_count() > 0 else "cpu")
    acc = xpnet.accelerator.current_accelerator()
    assert (acc is None) == (not xpnet.accelerator.is_available())


def test_without_a_gpu_the_questions_answer_without_raising():
    if xpnet.cuda.is_available():
        pytest.skip("a GPU is present")
    assert xpnet.cuda.device_count() == 0 and xpnet.cuda.memory_allocated() == 0
    xpnet.cuda.synchronize()
    xpnet.cuda.empty_cache()
    assert xpnet.accelerator.current_device_index() == -1
    with pytest.raises(RuntimeError, match="current_device: no GPU is available"):
        xpnet.cuda.current_device()


def test_cuda_manual_seed_all_seeds_xpnet():
    xpnet.cuda.manual_seed_all(7)
    first = xpnet.randn(3).tolist()
    xpnet.manual_seed(7)
    assert xpnet.randn(3).tolist() == first


def test_knobs_are_accepted_bools_and_others_refused():
    cudnn = xpnet.backends.cudnn
    cudnn.benchmark = True
    assert cudnn.benchmark is True
    cudnn.benchmark = False
    with pytest.raises(TypeError, match="xpnet.backends.cuda.matmul.allow_tf32 must be True or "
                                        "False, got int 1"):
        xpnet.backends.cuda.matmul.allow_tf32 = 1
    assert xpnet.backends.mps.is_available() is False and cudnn.is_available() is False
