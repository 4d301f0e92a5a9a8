"""Newton's method with the second derivative from autograd, against gradient descent.

f(x) = x⁴ − 2x² has minima at x = ±1 (f = −1) and a maximum at 0. Newton's step
x ← x − f'(x)/f''(x) takes f'' from ``xpnet.autograd.grad(..., create_graph=True)``, as DeZero's
book does; gradient descent takes x ← x − lr·f'(x). Both start at x = 2.

    python examples/newton.py --steps 10 --lr 0.01
"""
import argparse

import xpnet
from xpnet.autograd import grad

parser = argparse.ArgumentParser()
parser.add_argument("--start", type=float, default=2.0)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--lr", type=float, default=0.01, help="gradient descent's step size")
parser.add_argument("--device", default=None)
args = parser.parse_args()
device = xpnet.device(args.device).name


def f(x):
    return x ** 4 - 2.0 * x ** 2


def derivatives(x):
    """f'(x) and f''(x), both by autograd: the first with create_graph so it can be
    differentiated again."""
    (d1,) = grad(f(x), x, create_graph=True)
    (d2,) = grad(d1, x)
    return d1, d2


print(f"{'step':>4}  {'Newton x':>12}  {'f(x)':>12}  {'descent x':>12}  {'f(x)':>12}")
x_newton = xpnet.tensor(args.start, dtype="float64", device=device, requires_grad=True)
x_descent = xpnet.tensor(args.start, dtype="float64", device=device, requires_grad=True)
for step in range(args.steps + 1):
    print(f"{step:>4}  {x_newton.item():>12.8f}  {f(x_newton).item():>12.8f}  "
          f"{x_descent.item():>12.8f}  {f(x_descent).item():>12.8f}")
    d1, d2 = derivatives(x_newton)
    (g,) = grad(f(x_descent), x_descent)
    with xpnet.no_grad():   # the updates are not part of any graph
        x_newton = (x_newton - d1 / d2).detach().requires_grad_()
        x_descent = (x_descent - args.lr * g).detach().requires_grad_()

err_newton, err_descent = abs(x_newton.item() - 1.0), abs(x_descent.item() - 1.0)
print(f"after {args.steps} steps: |x - 1| = {err_newton:.2e} (Newton), {err_descent:.2e} "
      f"(gradient descent, lr {args.lr})")
