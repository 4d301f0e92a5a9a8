"""Scoring generated digits with a fixed MNIST classifier: the Inception Score, the share of
each class and the mean top-class confidence."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..autograd import Tensor, no_grad
from ..autograd.creation import tensor
from ..data.mnist import MEAN, STD


def mnist_classifier(path, root=None, device=None, epochs: int = 1, verbose=0):
    """The fixed classifier that scores generated digits: :func:`mnist_cnn` loaded from
    ``path`` (an :func:`xpnet.save` file of its state_dict), or, if there is none, trained
    there once (Adam 1e-3, batch 64, ``epochs`` epochs on normalised MNIST from ``root``,
    seed 0) and saved. Returns (model in eval mode, test accuracy or None when loaded)."""
    import os

    from .. import io, optim
    from ..data import MNIST, DataLoader
    from ..random import manual_seed
    from ..train import evaluate, fit
    from .mnist import mnist_cnn

    model = mnist_cnn(device=device)
    if os.path.exists(path):
        model.load_state_dict(io.load(path))
        return model.eval(), None
    manual_seed(0)
    train = DataLoader(MNIST(root, train=True, normalize=True), batch_size=64, shuffle=True,
                       seed=0, device=device)
    test = DataLoader(MNIST(root, train=False, normalize=True), batch_size=1000, device=device)
    fit(model, train, loss="cross_entropy", optimizer=optim.Adam(model.parameters(), lr=1e-3),
        epochs=epochs, verbose=verbose)
    accuracy = evaluate(model, test, loss="cross_entropy")["accuracy"]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    io.save(model.state_dict(), path)
    return model.eval(), accuracy


def inception_score(classifier, images, batch_size: int = 1000, device=None,
                    normalize: bool = True) -> dict:
    """Score generated digits with a fixed classifier (e.g. a trained :func:`mnist_cnn`).

    Args:
        classifier: maps (N, 1, 28, 28) to logits (N, C).
        images: (N, 1, 28, 28) in [0, 1], NumPy or a Tensor.
        normalize: apply MNIST's (x - 0.1307) / 0.3081 first, as the classifier was trained.

    Returns ``{"score", "class_shares", "mean_confidence"}``: the Inception Score
    exp(E_x KL(p(y|x) ‖ p(y))) (1 for one class or pure noise, C for sharp and balanced
    samples), the share of samples given to each class (mode collapse shows as shares near
    0), and the mean top-class probability (sharpness).
    """
    device = device or classifier.device
    host = images.numpy() if isinstance(images, Tensor) else np.asarray(images, np.float32)
    if host.ndim != 4:
        raise ValueError(f"inception_score: images must be (N, C, H, W), got shape "
                         f"{host.shape}")
    if normalize:
        host = (host - MEAN) / STD
    was_training = classifier.training
    classifier.eval()
    with no_grad():
        probs = F.concat([F.softmax(classifier(tensor(host[i:i + batch_size], device=device,
                                                      dtype="float32")), axis=1)
                          for i in range(0, len(host), batch_size)], axis=0)
        marginal = probs.mean(axis=0, keepdims=True)
        # E_x KL(p(y|x) ‖ p(y)): 'batchmean' would divide by the batch of log p(y), which is 1
        score = F.exp(F.kl_div(F.log(marginal), probs, reduction="sum") / len(host))
        p = probs.numpy()
    classifier.train(was_training)
    counts = np.bincount(p.argmax(axis=1), minlength=p.shape[1])
    return {"score": float(score.item()), "class_shares": (counts / len(p)).tolist(),
            "mean_confidence": float(p.max(axis=1).mean())}
