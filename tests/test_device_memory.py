"""'strict:device1', the test device that is not host memory: array-api-strict's second device,
on which xpnet takes a GPU's code paths (no implicit NumPy conversion, no host read inside an
op), and the checks a GPU defers to the next host read, as PyTorch's device-side asserts."""
import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import backend, checks
from xpnet.testing import count_calls

DEVICE = "strict:device1"
LABEL_4_OF_3 = (r"cross_entropy: labels must be in \[0, 3\) \(or ignore_index=-100\), got values "
                r"from 0 to 4 \(checked on device strict:device1, raised at the first host read "
                r"after the op\)")


def _bad_loss(**kwargs):
    """Cross-entropy of 2 rows over 3 classes, one label 4."""
    logits = xpnet.randn(2, 3, device=DEVICE, requires_grad=True)
    return logits, F.cross_entropy(logits, xpnet.tensor([0, 4], device=DEVICE), **kwargs)


def test_the_device_is_array_api_strict_memory_that_the_host_does_not_read():
    device = xpnet.device(DEVICE)
    x = xpnet.tensor([[1.5, -2.0]], device=DEVICE)
    assert device.library == "array_api_strict" and not device.on_host
    assert xpnet.device("strict").on_host and (device.type, device.index) == ("strict", None)
    assert x.device is device and backend.backend_of(x.array) is device
    assert backend.backend_of(xpnet.tensor([1.0], device="strict").array) is not device
    with pytest.raises(RuntimeError, match="Can't convert array on the .*device1.* to a NumPy"):
        np.asarray(x.array)               # what a GPU refuses too


def test_explicit_transfers_read_the_device():
    x = xpnet.tensor([[1.5, -2.0], [3.0, 4.25]], device=DEVICE, dtype="float64")
    np.testing.assert_array_equal(x.numpy(), [[1.5, -2.0], [3.0, 4.25]])
    assert x.tolist() == [[1.5, -2.0], [3.0, 4.25]] and x[1, 1].item() == 4.25
    assert float(x[0, 0]) == 1.5 and x.cpu().device == "cpu"
    moved = x.to("strict")
    assert moved.device == "strict" and moved.to(DEVICE).device == DEVICE
    np.testing.assert_array_equal(moved.numpy(), x.numpy())


def test_a_label_out_of_range_raises_at_the_next_host_read_not_in_the_step():
    logits, loss = _bad_loss()               # no error yet: the device has not been read
    loss.backward()
    with pytest.raises(IndexError, match=LABEL_4_OF_3):
        loss.item()
    assert np.isfinite(loss.item())          # reported once, as PyTorch's assert is


@pytest.mark.parametrize("read", [lambda loss, logits: logits.grad.numpy(),
                                  lambda loss, logits: loss.tolist(),
                                  lambda loss, logits: print(loss),
                                  lambda loss, logits: loss.backend.synchronize()],
                         ids=["numpy-of-another-tensor", "tolist", "print", "synchronize"])
def test_every_host_read_on_the_device_reports_the_bad_label(read):
    logits, loss = _bad_loss(reduction="sum")
    loss.backward()
    with pytest.raises(IndexError, match=LABEL_4_OF_3):
        read(loss, logits)


def test_a_host_read_on_another_device_leaves_the_check_pending():
    _, loss = _bad_loss()
    assert xpnet.tensor([2.0]).item() == 2.0          # NumPy memory: nothing of device1 read
    with pytest.raises(IndexError, match=LABEL_4_OF_3):
        loss.item()


def test_the_deferred_label_check_costs_the_step_no_launch_and_no_host_read():
    logits = xpnet.randn(4, 3, device=DEVICE, requires_grad=True)
    counts = {}
    for name, values in (("good", [0, 1, 2, 1]), ("bad", [0, 1, 7, 1])):
        labels = xpnet.tensor(values, device=DEVICE)
        logits.grad = None                   # the same step each time, no accumulation
        with count_calls(gpu_like=False) as calls:
            F.cross_entropy(logits, labels).backward()
        counts[name] = calls.total
        assert dict(calls.syncs) == {}
    assert counts["good"] == counts["bad"]
    with pytest.raises(IndexError, match=r"got values from 0 to 7"):
        logits.grad.numpy()


def test_a_loop_that_never_reads_back_reads_its_checks_once_every_64():
    """The pending checks stay bounded: the 64th unread one reads them all."""
    logits = xpnet.randn(2, 3, device=DEVICE)
    bad, good = (xpnet.tensor(v, device=DEVICE) for v in ([0, 4], [0, 1]))
    F.cross_entropy(logits, bad)
    for _ in range(62):
        F.cross_entropy(logits, good)
    with pytest.raises(IndexError, match=LABEL_4_OF_3):
        F.cross_entropy(logits, good)
    for _ in range(100):                     # good labels only: read every 64, nothing raised
        F.cross_entropy(logits, good)
    xpnet.device(DEVICE).synchronize()


def test_nll_loss_and_ignore_index_are_checked_on_the_device():
    log_probs = F.log_softmax(xpnet.randn(3, 4, device=DEVICE), dim=1)
    loss = F.nll_loss(log_probs, xpnet.tensor([0, -100, 1], device=DEVICE))
    assert np.isfinite(loss.item())          # ignored labels are no error
    loss = F.nll_loss(log_probs, xpnet.tensor([-100, -100, -100], device=DEVICE), "sum")
    assert loss.item() == 0.0                # every label ignored: no error either
    loss = F.nll_loss(log_probs, xpnet.tensor([-100, 9, -1], device=DEVICE), ignore_index=-100)
    with pytest.raises(IndexError, match=r"nll_loss: labels must be in \[0, 4\) \(or "
                                         r"ignore_index=-100\), got values from -1 to 9 "
                                         r"\(checked on device strict:device1"):
        loss.item()


def test_check_index_range_defers_on_the_device_and_raises_at_once_in_host_memory():
    ids = xpnet.tensor([3, 0, 12], device=DEVICE)
    checks.check_index_range("embedding", "indices", ids.backend, ids.array, 10)
    with pytest.raises(IndexError, match=r"embedding: indices must be in \[0, 10\), got values "
                                         r"from 0 to 12 \(checked on device strict:device1"):
        ids.backend.synchronize()
    on_host = ids.to("strict")
    with pytest.raises(IndexError, match=r"got values from 0 to 12$"):
        checks.check_index_range("embedding", "indices", on_host.backend, on_host.array, 10)


def test_binary_cross_entropy_defers_its_range_check_on_the_device():
    p = xpnet.tensor([0.5, -0.25], device=DEVICE)
    loss = F.binary_cross_entropy(p, xpnet.tensor([1.0, 0.0], device=DEVICE))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in "
                                         r"\[0, 1\], got values from -0.25 to 0.5; .*checked on "
                                         r"device strict:device1"):
        loss.item()


def test_fit_on_the_device_reports_a_bad_label_when_it_reads_the_loss():
    """fit reads the loss every ``log_every`` steps: that host read raises the deferred check."""
    import xpnet.train as train
    from xpnet import nn, optim

    model = nn.Linear(2, 3, device=DEVICE)
    x = np.zeros((4, 2), np.float32)
    y = np.array([0, 1, 2, 3])                 # 3 is not one of the 3 classes
    with pytest.raises(IndexError, match=r"cross_entropy: labels must be in \[0, 3\).* got "
                                         r"values from 0 to 3 \(checked on device"):
        train.fit(model, (x, y), loss="cross_entropy", epochs=1, batch_size=4, verbose=0,
                  optimizer=optim.SGD(model.parameters(), lr=0.1))
