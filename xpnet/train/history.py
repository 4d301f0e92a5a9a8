"""History: per-epoch curves as Python floats, saved as JSON and plotted to a PNG."""
from __future__ import annotations

import json
import math
import os


class History:
    """What ``fit`` measured, one entry per epoch.

    ``history["loss"]`` (also ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``,
    ``samples_per_s``...) are lists of Python floats, as in Keras.
    """

    def __init__(self, history: dict | None = None, epochs: list | None = None):
        self.history: dict[str, list] = {k: list(v) for k, v in (history or {}).items()}
        self.epochs: list[int] = list(epochs or [])
        self.stop_reason: str | None = None

    def append(self, epoch: int, logs: dict):
        """Record one epoch's logs; keys seen for the first time are back-filled with NaN."""
        for key in logs:
            if key not in self.history:
                self.history[key] = [math.nan] * len(self.epochs)
        self.epochs.append(epoch)
        for key, values in self.history.items():
            values.append(float(logs.get(key, math.nan)))

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def __len__(self):
        return len(self.epochs)

    def last(self, key, default=math.nan) -> float:
        values = self.history.get(key)
        return values[-1] if values else default

    def __repr__(self):
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"History(epochs={len(self)}{', ' + last if last else ''})"

    # -- files --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "history": self.history, "stop_reason": self.stop_reason}

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        h = cls(d.get("history"), d.get("epochs"))
        h.stop_reason = d.get("stop_reason")
        return h

    def save(self, path):
        """Write the curves as JSON (NaN written as null), atomically."""
        clean = {k: [None if math.isnan(x) else x for x in v] for k, v in self.history.items()}
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump({"epochs": self.epochs, "history": clean, "stop_reason": self.stop_reason},
                      f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> "History":
        with open(path) as f:
            d = json.load(f)
        d["history"] = {k: [math.nan if x is None else x for x in v]
                        for k, v in d["history"].items()}
        return cls.from_dict(d)

    def plot(self, path, title: str | None = None):
        """Write a PNG: loss curves on the left, other metrics (accuracy...) on the right."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError('History.plot needs matplotlib; pip install "xpnet[plot]"') from None
        metrics = sorted({k.removeprefix("val_") for k in self.history
                          if k not in ("lr", "samples_per_s", "time")} - {"loss"})
        panels = ["loss"] + metrics
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
        for ax, name in zip(axes[0], panels):
            for key, style in ((name, "-o"), (f"val_{name}", "--s")):
                if key in self.history:
                    ax.plot(self.epochs, self.history[key], style, markersize=3, label=key)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(name)
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path
