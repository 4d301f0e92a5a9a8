"""The MNIST classifiers behind ``xpnet train mnist-*``: the standard CNN, the course's
one-filter CNN, an MLP, and an LSTM over the rows of an image."""
from __future__ import annotations

from .. import nn


def mnist_cnn(device=None) -> nn.Module:
    """Conv 1→32 3×3, ReLU, Conv 32→64 3×3, ReLU, MaxPool 2, Flatten, Linear 9216→128, ReLU,
    Linear 128→10 (the PyTorch MNIST example without dropout)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, device=device), nn.ReLU(),
        nn.Conv2d(32, 64, 3, device=device), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(9216, 128, device=device), nn.ReLU(),
        nn.Linear(128, 10, device=device))


def mnist_seed_cnn(device=None) -> nn.Module:
    """The student's network: one 3×3 filter with padding 1, ReLU, 2×2 max pool, Linear 196→10."""
    return nn.Sequential(
        nn.Conv2d(1, 1, 3, padding=1, device=device), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(196, 10, device=device))


def mnist_mlp(device=None) -> nn.Module:
    """784-256-256-10 with ReLU."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256, device=device), nn.ReLU(),
        nn.Linear(256, 256, device=device), nn.ReLU(), nn.Linear(256, 10, device=device))


class SequenceClassifier(nn.Module):
    """A recurrent layer over (N, T, features), then Linear on the last time step's output.

    Shape: (N, T, input_size) -> (N, num_classes)
    """

    def __init__(self, input_size, hidden_size, num_classes, cell="lstm", num_layers=1,
                 device=None):
        layer = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = layer(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         device=device)
        self.head = nn.Linear(hidden_size, num_classes, device=device)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1, :])


def mnist_lstm(device=None) -> nn.Module:
    """Rows of an image as 28 steps: LSTM(28 → 128), Linear 128→10."""
    return SequenceClassifier(28, 128, 10, "lstm", device=device)
