import numpy as np
import pytest

import xpnet
import xpnet.functional as F
from xpnet import models, nn


class _Oracle(nn.Module):
    """A 'classifier' whose logits are the first ten pixels, times ten."""

    def forward(self, x):
        return F.reshape(x, (x.shape[0], -1))[:, :10] * 10.0


def _coded(labels, sharp=True):
    images = np.zeros((len(labels), 1, 28, 28), np.float32)
    for k, label in enumerate(labels):
        images[k, 0, 0, label if sharp else slice(0, 10)] = 1.0
    return images


def test_inception_score_is_the_formula_over_the_classifiers_probabilities(device):
    oracle = _Oracle()
    balanced = models.inception_score(oracle, _coded(np.arange(100) % 10), device=device,
                                          normalize=False)
    p = np.full(10, 1.0)
    p[0] = np.exp(10.0)
    p /= p.sum()                                       # what the oracle gives for each image
    assert balanced["score"] == pytest.approx(np.exp(np.sum(p * np.log(p / 0.1))), rel=1e-5)
    assert balanced["class_shares"] == [0.1] * 10
    assert balanced["mean_confidence"] == pytest.approx(p[0], rel=1e-6)
    collapsed = models.inception_score(oracle, _coded([3] * 20), device=device,
                                           normalize=False)
    assert collapsed["score"] == pytest.approx(1.0, abs=1e-5)
    assert collapsed["class_shares"][3] == 1.0
    blurry = models.inception_score(oracle, _coded(range(10), sharp=False), device=device,
                                        normalize=False)
    assert blurry["score"] == pytest.approx(1.0, abs=1e-5)
    assert blurry["mean_confidence"] == pytest.approx(0.1, rel=1e-5)


def test_inception_score_rejects_images_that_are_not_nchw():
    with pytest.raises(ValueError, match=r"^inception_score: images must be \(N, C, H, W\), got "
                                         r"shape \(3, 28, 28\)$"):
        models.inception_score(_Oracle(), np.zeros((3, 28, 28)))


def test_mnist_classifier_loads_a_saved_one(tmp_path):
    model = models.mnist_cnn()
    xpnet.save(model.state_dict(), tmp_path / "classifier.npz")
    loaded, accuracy = models.mnist_classifier(tmp_path / "classifier.npz")
    assert accuracy is None and not loaded.training
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
