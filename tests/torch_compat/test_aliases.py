"""The aliases in this process: installed, checked, uninstalled (PyTorch, if imported, is
restored)."""
import sys

import pytest

import xpnet
from xpnet import torch_compat


@pytest.fixture
def aliased():
    torch_compat.install()
    try:
        yield sys.modules["torch"]
    finally:
        torch_compat.uninstall()


def test_torch_and_its_submodules_resolve_to_xpnet(aliased):
    import torch
    import torch.nn.functional as F
    import torch.optim.lr_scheduler as schedulers
    from torch.utils.data import DataLoader, TensorDataset
    from torch.utils.data.sampler import SubsetRandomSampler
    assert torch is aliased and torch.Tensor is xpnet.Tensor and torch.nn.Linear is xpnet.nn.Linear
    assert F.relu is xpnet.nn.functional.relu and schedulers.StepLR is xpnet.optim.StepLR
    assert DataLoader is xpnet.data.DataLoader and TensorDataset is xpnet.data.TensorDataset
    assert SubsetRandomSampler is xpnet.utils.data.SubsetRandomSampler
    assert torch.nn.utils.clip_grad_norm_ is xpnet.optim.clip_grad_norm_
    assert torch.cuda.is_available() == xpnet.cuda.is_available()
    assert torch.backends.mps.is_available() is False
    assert torch.accelerator.is_available() == xpnet.cuda.is_available()
    assert torch.optim.LBFGS.__module__ == "xpnet.optim.lbfgs"
    assert torch.nn.AdaptiveAvgPool2d.__module__ == "xpnet.nn.adaptive"


def test_a_missing_name_raises_an_error_naming_it(aliased):
    import torch
    with pytest.raises(AttributeError, match=r"^xpnet.torch_compat: torch.nn.NoSuch is not "
                                             r"available in xpnet$"):
        torch.nn.NoSuch
    with pytest.raises(ModuleNotFoundError, match="torch.distributions is not available"):
        import torch.distributions  # noqa: F401


def test_setting_a_knob_reaches_xpnet_and_is_checked(aliased):
    import torch
    torch.backends.cudnn.deterministic = True
    assert xpnet.backends.cudnn.deterministic is True
    with pytest.raises(TypeError, match="cudnn.deterministic must be True or False, got str"):
        torch.backends.cudnn.deterministic = "yes"
    xpnet.backends.cudnn.deterministic = False


def test_uninstall_gives_torch_back():
    real = sys.modules.get("torch")
    torch_compat.install()
    torch_compat.uninstall()
    assert sys.modules.get("torch") is real and not torch_compat.torch_is_aliased()
    if real is not None:
        assert torch_compat.import_torch() is real
