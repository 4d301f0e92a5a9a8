"""A small quadratic ``½·pᵀAp − bᵀp`` (minimum at A⁻¹b), run on xpnet or PyTorch alike."""
import numpy as np

A = np.array([[3.0, 0.5], [0.5, 1.0]])
B = np.array([[1.0], [-2.0]])
START = np.array([[1.5], [-0.5]])
MINIMUM = np.linalg.solve(A, B).ravel()


def run(lib, make_optimizer, steps, device=None, closure_steps=False):
    """Final parameters (a flat NumPy array) after ``steps`` steps, on xpnet (``lib`` is the
    xpnet module) or PyTorch (``lib`` is torch)."""
    is_torch = lib.__name__ == "torch"
    kw = {} if is_torch else {"device": device}
    p = lib.tensor(START.copy(), requires_grad=True, **kw)
    if not is_torch:
        p = lib.nn.Parameter(p)
    a, b = lib.tensor(A, **kw), lib.tensor(B, **kw)
    opt = make_optimizer([p])

    def closure():
        opt.zero_grad()
        loss = 0.5 * (p * (a @ p)).sum() - (b * p).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        if closure_steps:
            opt.step(closure)
        else:
            closure()
            opt.step()
    return (p.detach() if is_torch else p).numpy().ravel()
