"""What the training loops share: a batch's images, and sums kept on the device."""
from __future__ import annotations

from ..autograd import no_grad


def _images(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _accumulate(total, value):
    with no_grad():
        return value.detach() if total is None else total + value.detach()
