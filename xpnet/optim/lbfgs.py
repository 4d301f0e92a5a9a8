"""L-BFGS, PyTorch's algorithm (``torch.optim.LBFGS``) without line search.

Each ``step(closure)`` runs up to ``max_iter`` iterations: the two-loop recursion turns the
gradient into a quasi-Newton direction from the last ``history_size`` pairs
``(s, y) = (step, change of gradient)``, then takes a fixed step ``lr`` along it (the first
iteration ever: ``min(1, 1/‖g‖₁)·lr``). The stopping tests are PyTorch's. Scalars (curvature
``y·s``, the tests) are read back to the host: L-BFGS is a full-batch method, called a few
times, not inside a hot loop.
"""
from __future__ import annotations

from ..autograd import Tensor, enable_grad, no_grad
from .optimizer import Optimizer, _check


class LBFGS(Optimizer):
    """Limited-memory BFGS with PyTorch's API: ``optimizer.step(closure)``, where ``closure``
    zeroes the gradients, computes the loss, calls ``backward()`` and returns the loss.

    Args:
        lr: step length (default 1).
        max_iter: iterations per ``step`` (default 20).
        max_eval: closure calls per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: stop when ``max |g|`` is at most this (default 1e-7).
        tolerance_change: stop when the step or the loss changes by less (default 1e-9).
        history_size: curvature pairs kept (default 100).
        line_search_fn: None (a fixed step). ``'strong_wolfe'`` is refused: xpnet does not
            have PyTorch's strong-Wolfe line search.

    One parameter group only, as in PyTorch.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if line_search_fn is not None:
            raise ValueError(f"LBFGS: line_search_fn={line_search_fn!r} is not supported; xpnet "
                             f"has no strong-Wolfe line search, use line_search_fn=None (a fixed "
                             f"step lr)")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=None))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def validate(self, group):
        super().validate(group)
        for key in ("max_iter", "max_eval", "history_size"):
            value = group[key]
            _check(self.name, isinstance(value, int) and not isinstance(value, bool)
                   and value >= 1, f"{key} must be a positive int, got {value!r}")

    def add_param_group(self, group):
        if self.param_groups:
            raise ValueError("LBFGS: doesn't support per-parameter options (parameter groups)")
        super().add_param_group(group)

    # -- flat views -----------------------------------------------------------------------------
    def _flat_grad(self):
        xp = self._params[0].xp
        parts = [xp.reshape(p.grad.array, (-1,)) if p.grad is not None else
                 xp.zeros((p.numel(),), dtype=p.array.dtype, device=p.array.device)
                 for p in self._params]
        return xp.concat(parts) if len(parts) > 1 else parts[0]

    def _add(self, step, direction):
        """p ← p + step·direction, slice by slice."""
        offset = 0
        xp = self._params[0].xp
        for p in self._params:
            n = p.numel()
            p.array += step * xp.reshape(direction[offset:offset + n], p.shape)
            offset += n

    def step(self, closure):
        """Run up to ``max_iter`` iterations; returns the loss of the first closure call."""
        if closure is None:
            raise TypeError("LBFGS: step() needs a closure that re-evaluates the model and "
                            "returns the loss (optimizer.step(closure))")
        group = self.param_groups[0]
        lr, max_iter, max_eval = float(group["lr"]), group["max_iter"], group["max_eval"]
        tol_grad, tol_change = float(group["tolerance_grad"]), float(group["tolerance_change"])
        history_size = group["history_size"]
        xp = self._params[0].xp

        def evaluate():
            with enable_grad():
                value = closure()
            return value, float(value.item() if isinstance(value, Tensor) else value)

        state = self.state.setdefault(id(self._params[0]), {"func_evals": 0, "n_iter": 0})
        orig_loss, loss = evaluate()
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if float(xp.max(xp.abs(flat_grad))) <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        with no_grad():
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = float(xp.sum(y * s))
                    if ys > 1e-10:   # keep the pair only when the curvature is positive
                        if len(old_dirs) == history_size:
                            old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                        old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                        h_diag = ys / float(xp.sum(y * y))
                    # the two-loop recursion: d = -H·g
                    q, al = -flat_grad, [0.0] * len(old_dirs)
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = float(xp.sum(old_stps[i] * q)) * ro[i]
                        q = q - al[i] * old_dirs[i]
                    d = r = q * h_diag
                    for i in range(len(old_dirs)):
                        be_i = float(xp.sum(old_dirs[i] * r)) * ro[i]
                        r = r + (al[i] - be_i) * old_stps[i]
                    d = r
                prev_flat_grad = xp.asarray(flat_grad, copy=True)
                prev_loss = loss
                t = min(1.0, 1.0 / float(xp.sum(xp.abs(flat_grad)))) * lr \
                    if state["n_iter"] == 1 else lr
                gtd = float(xp.sum(flat_grad * d))
                if gtd > -tol_change:   # not a descent direction
                    break
                self._add(t, d)
                evals = 0
                if n_iter != max_iter:
                    _, loss = evaluate()
                    flat_grad = self._flat_grad()
                    evals = 1
                current_evals += evals
                state["func_evals"] += evals
                if n_iter == max_iter or current_evals >= max_eval:
                    break
                if float(xp.max(xp.abs(flat_grad))) <= tol_grad:
                    break
                if float(xp.max(xp.abs(d * t))) <= tol_change or abs(loss - prev_loss) < tol_change:
                    break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss
