"""Build docs/tutorial.ipynb from the cells listed below.

The notebook is generated so that its source can be reviewed as plain Python: edit the
CELLS list here, then run

    python docs/make_tutorial.py          # writes docs/tutorial.ipynb (no outputs)

The notebook is stored without outputs; ``tests/test_tutorial.py`` executes it top to
bottom and checks its printed numbers and pictures. Cells carry stable ids and, where a
test looks at their output, a tag (``tags`` in the cell metadata).
"""

# Markdown tables in the notebook text cannot be wrapped:
# ruff: noqa: E501

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
TARGET = HERE / "tutorial.ipynb"


def md(text: str) -> tuple[str, str, tuple[str, ...]]:
    return ("markdown", text.strip("\n"), ())


def code(text: str, *tags: str) -> tuple[str, str, tuple[str, ...]]:
    return ("code", text.strip("\n"), tags)


CELLS = [
    # ------------------------------------------------------------------ introduction
    md(r"""
# Gradient descent, step by step, with `descend`

This notebook is the seed notes' walkthrough made runnable. Each section explains one
idea in a few sentences and then lets you *see* it:

1. a function of several variables and its partial derivatives, the gradient;
2. the update rule $\mathbf{w} \leftarrow \mathbf{w} - \eta\,\nabla L(\mathbf{w})$ by hand,
   then with `ds.minimize`;
3. the learning rate $\eta$: too small, good, too large, and the $2/L$ rule;
4. convergence: when to stop, and how to read why a run stopped (or diverged);
5. local versus global minima, basins of attraction, convexity and saddle points;
6. variants: momentum, Nesterov, RMSprop, Adam on the Rosenbrock valley;
7. your own formula;
8. learning from data: backpropagation, full-batch, stochastic and mini-batch
   gradient descent, learning curves and early stopping.

Everything runs on a laptop CPU in about a minute.
"""),
    code(r"""
%matplotlib inline
import sys

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

import descend as ds
import descend.plot  # the pictures: every function returns a matplotlib Figure

np.set_printoptions(precision=4, suppress=True)


def show(fig):
    # Display a figure returned by descend.plot once, then release it.
    display(fig)
    plt.close(fig)


print("python:", sys.executable)
print("descend", ds.__version__)
""", "setup"),
    # ------------------------------------------------------------------ 1. partials
    md(r"""
## 1. A function of several variables and its partial derivatives

The seed's example is a loss that depends on three weights $\mathbf{w} = (w_1, w_2, w_3)$:

$$L(\mathbf{w}) = (w_1 - 1)^2 + 2\,(w_2 + 2)^2 + 3\,(w_3 - 0.5)^2 .$$

It is smallest, $L = 0$, at $\mathbf{w}^* = (1, -2, 0.5)$. A **partial derivative**
measures how $L$ changes when *one* weight moves and the others stay fixed. Holding
$w_2, w_3$ constant, only the first term depends on $w_1$, so

$$\frac{\partial L}{\partial w_1} = 2(w_1 - 1), \qquad
\frac{\partial L}{\partial w_2} = 4(w_2 + 2), \qquad
\frac{\partial L}{\partial w_3} = 6(w_3 - 0.5).$$

At the start $\mathbf{w}_0 = (0, 0, 0)$ these are $-2$, $8$ and $-3$. `ds.partials`
computes them by automatic differentiation; the function can be a Python function, a
built-in name like `"seed-quadratic"`, or a formula.
"""),
    code(r"""
L = ds.functions.get("seed-quadratic")
print(L)
print("minimum:", L.minima())

w0 = np.zeros(3)
by_hand = [2 * (w0[0] - 1), 4 * (w0[1] + 2), 6 * (w0[2] - 0.5)]
auto = ds.partials("seed-quadratic", w0, names=["w1", "w2", "w3"])
for (name, value), hand in zip(auto.items(), by_hand):
    print(f"dL/d{name} at w0 = {value:5.1f}    (by hand: {hand:5.1f})")
""", "partials"),
    md(r"""
The **gradient** stacks the partial derivatives into one vector,
$\nabla L = \left(\frac{\partial L}{\partial w_1}, \frac{\partial L}{\partial w_2},
\frac{\partial L}{\partial w_3}\right)$. `ds.grad(f)` returns it as a function of
$\mathbf{w}$.

The gradient points in the direction of **steepest increase**. Check it: a small step
$\varepsilon$ along $+\nabla L$ raises $L$, the same step along $-\nabla L$ lowers it, and
no random direction of the same length raises $L$ faster (the rate of change along a unit
direction $\mathbf{u}$ is $\nabla L \cdot \mathbf{u}$, largest when $\mathbf{u}$ points
along $\nabla L$).
"""),
    code(r"""
grad_L = ds.grad("seed-quadratic")
g = np.asarray(grad_L(w0))
print("gradient at w0:", g, "  norm:", round(float(np.linalg.norm(g)), 4))

eps = 1e-3
u = g / np.linalg.norm(g)  # unit vector along the gradient
print(f"L(w0)             = {float(L(w0)):.6f}")
print(f"L(w0 + eps * u)   = {float(L(w0 + eps * u)):.6f}   (uphill)")
print(f"L(w0 - eps * u)   = {float(L(w0 - eps * u)):.6f}   (downhill)")

rng = np.random.default_rng(0)
directions = rng.normal(size=(1000, 3))
directions /= np.linalg.norm(directions, axis=1, keepdims=True)
rates = directions @ g  # rate of change of L along each random unit direction
print(f"fastest rate among 1000 random directions: {rates.max():.4f}"
      f" <= rate along the gradient: {g @ u:.4f}")
""", "uphill"),
    # ------------------------------------------------------------------ 2. update rule
    md(r"""
## 2. The update rule, by hand and with `ds.minimize`

Gradient descent repeats one step: compute the gradient at the current weights and move
a little in the opposite direction,

$$\mathbf{w}_{t+1} = \mathbf{w}_t - \eta\, \nabla L(\mathbf{w}_t),$$

where the **learning rate** $\eta$ sets the step size. Here are three steps with
$\eta = 0.1$ in plain numpy, using the partial derivatives computed by hand above.
"""),
    code(r"""
lr = 0.1
w = np.zeros(3)
path_by_hand = [w.copy()]
for t in range(3):
    grad = np.array([2 * (w[0] - 1), 4 * (w[1] + 2), 6 * (w[2] - 0.5)])
    w = w - lr * grad
    path_by_hand.append(w.copy())
    print(f"step {t + 1}: w = {w}   L(w) = {float(L(w)):.4f}")
"""),
    md(r"""
`ds.minimize` runs the same loop, compiled with JAX, and records every iterate in
`res.history` (row 0 is the start). With `max_steps=3` and the gradient rule switched off
(`gtol=0`) it takes exactly the three steps above.
"""),
    code(r"""
res3 = ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.1), max_steps=3, gtol=0)
print(res3.history.x)
print("same as by hand:", np.allclose(res3.history.x, np.array(path_by_hand)))
""", "agree"),
    md(r"""
Left to run until the gradient is tiny, it reaches the minimum $(1, -2, 0.5)$. The result
reads like `scipy.optimize`'s: `x`, `fun`, `nit` (steps), `status` and `message` (which
stopping rule fired), and `kind`, the type of point it stopped at, from the Hessian.
The picture shows each weight moving toward its target; $w_3$, with the largest
curvature (3 in front of its square), gets there first.
"""),
    code(r"""
res = ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.1), gtol=1e-8)
print(res)
show(descend.plot.trajectories(res, names=["w1", "w2", "w3"]))
"""),
    # ------------------------------------------------------------------ 3. learning rate
    md(r"""
## 3. The learning rate

The learning rate is the most important setting:

* **too small**: every step is safe but tiny, and convergence is slow;
* **good**: the loss falls quickly to the minimum;
* **too large**: the steps overshoot the valley floor, oscillate from side to side, and
  can grow without bound (**divergence**).

`descend.plot.learning_rates` runs the same start with three learning rates and draws
the loss of each.
"""),
    code(r"""
show(descend.plot.learning_rates("seed-quadratic", np.zeros(3)))
"""),
    md(r"""
**Where is the edge?** Near a minimum a function looks like a quadratic. Along a direction
where the curvature (a Hessian eigenvalue) is $\lambda$, one step multiplies the distance
to the minimum by $(1 - \eta\lambda)$. The distance shrinks only when
$|1 - \eta\lambda| < 1$, that is $0 < \eta < 2/\lambda$. The steepest direction, with the
largest eigenvalue $L$, sets the limit:

$$\eta < \frac{2}{L} \quad\text{(converges)}, \qquad
\eta = \frac{1}{L} \quad\text{(a safe default)}.$$

Our Hessian is $\operatorname{diag}(2, 4, 6)$, so $L = 6$ and $2/L = 1/3$.
`ds.suggest_learning_rate` estimates $L$ at a point without forming the Hessian.
"""),
    code(r"""
print("Hessian at w0:\n", np.asarray(ds.hessian("seed-quadratic")(np.zeros(3))))
suggestion = ds.suggest_learning_rate("seed-quadratic", np.zeros(3))
print(suggestion)

for eta in [0.05, suggestion.learning_rate, 0.3, 0.4]:
    factors = np.abs(1 - eta * np.array([2.0, 4.0, 6.0]))
    verdict = "converges" if factors.max() < 1 else "diverges"
    print(f"eta = {eta:.3f}: |1 - eta * lambda| = {factors} -> {verdict}")
""", "suggest"),
    md(r"""
A **sweep** tries many learning rates at once: `ds.minimize_batch` runs 30 learning rates
from $10^{-3}$ to $1$ as one compiled, vectorized call. Each run stops on its own rule.
"""),
    code(r"""
lrs = np.logspace(-3, 0, 30)
sweep = ds.minimize_batch("seed-quadratic", np.zeros((1, 3)), ds.gd, learning_rates=lrs,
                          gtol=1e-8, max_steps=1000)
print(sweep)
show(descend.plot.sweep(sweep))
"""),
    code(r"""
status = np.array([s.value for s in sweep.status[0]])
converged = status == "gtol"
fastest = int(np.argmin(np.where(converged, sweep.nit[0], np.inf)))
print(f"fastest:                   eta = {lrs[fastest]:.3f} in {sweep.nit[0, fastest]} steps")
print(f"largest eta that converged: {lrs[converged].max():.3f}"
      f"   (2/L = {suggestion.max_stable:.3f})")
print(f"smallest eta that diverged: {lrs[status == 'diverged'].min():.3f}")
print(f"too small to finish in 1000 steps: eta <= {lrs[status == 'max_steps'].max():.4f}")
""", "sweep"),
    md(r"""
The fastest rate is not the largest safe one: for a quadratic it is
$2/(\lambda_{\min} + \lambda_{\max}) = 2/8 = 0.25$, which balances the slow direction
against the fast one.
"""),
    # ------------------------------------------------------------------ 4. convergence
    md(r"""
## 4. Convergence: when to stop

Gradient descent never lands *exactly* on the minimum, so we need a rule for "close
enough". The seed notes list the usual ones, and `ds.minimize` checks them after every
step (a tolerance of 0 switches a rule off):

| rule | stops when | argument |
| --- | --- | --- |
| small gradient | $\lVert\nabla L(\mathbf{w}_t)\rVert \le$ `gtol` | `gtol` (default $10^{-6}$) |
| small step | $\lVert\mathbf{w}_{t} - \mathbf{w}_{t-1}\rVert \le$ `xtol` | `xtol` |
| small change in the loss | $\lvert L(\mathbf{w}_t) - L(\mathbf{w}_{t-1})\rvert \le$ `ftol` | `ftol` |
| budget | $t =$ `max_steps` | `max_steps` |

`res.status` says which rule fired and `res.message` gives its numbers. `res.success` is
true for the three convergence rules; `max_steps` means "ran out of steps, not converged".
"""),
    code(r"""
rules = {
    "gtol=1e-8": dict(gtol=1e-8),
    "xtol=1e-6": dict(gtol=0, xtol=1e-6),
    "ftol=1e-12": dict(gtol=0, ftol=1e-12),
    "max_steps=20": dict(gtol=1e-8, max_steps=20),
}
for label, options in rules.items():
    r = ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.1), **options)
    print(f"{label:13} status={r.status.value:9} success={r.success!s:5} nit={r.nit:3}"
          f"  {r.message}")
""", "rules"),
    md(r"""
**Divergence.** With $\eta = 0.5 > 2/L$ the steps overshoot more each time and the loss
explodes. `ds.minimize` notices (the loss grew far beyond its start), stops with status
`diverged`, and its message suggests a learning rate from the curvature at the start.
"""),
    code(r"""
bad = ds.minimize("seed-quadratic", np.zeros(3), ds.gd(0.5))
print("status: ", bad.status.value)
print("message:", bad.message)
show(descend.plot.loss_curves([res, bad], labels=["eta = 0.1", "eta = 0.5 (diverges)"]))
""", "diverged"),
    # ------------------------------------------------------------------ 5. local/global
    md(r"""
## 5. Local versus global minima

Gradient descent only feels the slope where it stands, so it finds **a** local minimum:
which one depends on the start. Himmelblau's function

$$f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2$$

has four minima (all with $f = 0$) separated by ridges.
"""),
    code(r"""
H = ds.functions.get("himmelblau")
print(H)
for m in H.minima():
    print("  minimum at", m.x, " f =", m.f)
show(descend.plot.surface("himmelblau"))
"""),
    md(r"""
`ds.multistart` runs gradient descent (Adam by default) from many random starts in one
batch and groups the end points: all four minima turn up, each reached from a share of
the starts.
"""),
    code(r"""
ms = ds.multistart("himmelblau", 200)
print(ms)
print("distinct minima found:", len(ms.minima))
""", "multistart"),
    md(r"""
A **basin of attraction** is the set of starts that lead to the same minimum.
`ds.basins` starts a run from every point of a grid and colours each start by where it
ended. The boundaries between basins follow the ridges of $f$; starts close to a boundary
can end in very different places.
"""),
    code(r"""
b = ds.basins("himmelblau", resolution=60)
print(b)
show(descend.plot.basins(b))
"""),
    md(r"""
When are local and global the same? For a **convex** function (its Hessian is positive
semidefinite everywhere, so the surface curves upward in every direction) any local
minimum is the global one, and gradient descent finds it from every start. Here several
minima have *different* heights, so which one you reach matters:
"""),
    code(r"""
print(ds.multistart("six-hump-camel", 100))
"""),
    md(r"""
`ds.convexity` samples Hessians over a function's domain. This is evidence, not proof:
a negative eigenvalue proves the function is not convex (and says where), while passing
only means no counterexample was seen. Our quadratic passes (its Hessian is constant);
Himmelblau fails.
"""),
    code(r"""
for name in ["seed-quadratic", "himmelblau"]:
    c = ds.convexity(name, samples=500)
    print(f"{name:15} convex on samples: {c.convex_on_samples!s:5}  "
          f"smallest Hessian eigenvalue {c.min_eigenvalue:8.3f} at {np.round(c.where, 2)}")
""", "convexity"),
    md(r"""
**Flat is not always a minimum.** Where $\nabla f = 0$ the point can be a minimum, a
maximum or a **saddle**: the Hessian's eigenvalues decide (all positive, all negative,
or mixed signs). On $f(x, y) = x^2 - y^2$ the origin is flat but curves up along $x$ and
down along $y$. Gradient descent started exactly on the $x$ axis slides into the saddle
and stops there (the gradient vanishes); the tiniest nudge in $y$ lets it escape,
and since $f$ falls without bound along $y$, that run ends only at `max_steps`.
"""),
    code(r"""
p = ds.classify("saddle", [0.0, 0.0])
print(f"origin of x^2 - y^2: {p.kind}, Hessian eigenvalues {p.eigenvalues},"
      f" gradient norm {p.grad_norm}")
print("Himmelblau's minima:", [ds.classify("himmelblau", m.x).kind for m in H.minima()])

on_axis = ds.minimize("saddle", [1.0, 0.0], ds.gd(0.1))
nudged = ds.minimize("saddle", [1.0, 1e-6], ds.gd(0.1), max_steps=80)
print(f"start (1, 0):    {on_axis.status.value}, stopped at {on_axis.x}, a {on_axis.kind}")
print(f"start (1, 1e-6): {nudged.status.value} after {nudged.nit} steps,"
      f" y = {nudged.x[1]:.3g}, f = {nudged.fun:.3g}")
""", "saddle"),
    # ------------------------------------------------------------------ 6. variants
    md(r"""
## 6. Variants: momentum, Nesterov, RMSprop, Adam

The Rosenbrock function $f(x, y) = (1 - x)^2 + 100\,(y - x^2)^2$ has its minimum at
$(1, 1)$ at the bottom of a long, curved, flat-floored valley: the walls are steep (large
curvature, so $\eta$ must be small) but the floor is almost flat (so small steps crawl).
Plain gradient descent struggles; its variants change the update:

| optimizer | update |
| --- | --- |
| `ds.gd` | $\mathbf{w} \leftarrow \mathbf{w} - \eta\,\mathbf{g}$ |
| `ds.momentum` | $\mathbf{v} \leftarrow \beta\mathbf{v} + \mathbf{g};\ \mathbf{w} \leftarrow \mathbf{w} - \eta\,\mathbf{v}$ (velocity builds up along the floor) |
| `ds.nesterov` | $\mathbf{v} \leftarrow \beta\mathbf{v} + \mathbf{g};\ \mathbf{w} \leftarrow \mathbf{w} - \eta\,(\mathbf{g} + \beta\mathbf{v})$ (looks ahead) |
| `ds.rmsprop` | $\mathbf{s} \leftarrow \rho\mathbf{s} + (1-\rho)\,\mathbf{g}^2;\ \mathbf{w} \leftarrow \mathbf{w} - \eta\,\mathbf{g}/(\sqrt{\mathbf{s}} + \epsilon)$ (per-weight step size) |
| `ds.adam` | momentum and RMSprop together, with bias correction |

All start from the classic point $(-1.2, 1)$ with at most 20,000 steps.
"""),
    code(r"""
x0 = np.array([-1.2, 1.0])
optimizers = {
    "gd (eta 1e-3)": ds.gd(1e-3),
    "momentum (eta 1e-3, beta 0.9)": ds.momentum(1e-3, beta=0.9),
    "nesterov (eta 1e-3, beta 0.9)": ds.nesterov(1e-3, beta=0.9),
    "rmsprop (eta 1e-3)": ds.rmsprop(1e-3),
    "adam (eta 0.02)": ds.adam(0.02),
}
results = {name: ds.minimize("rosenbrock", x0, opt, gtol=1e-6, max_steps=20_000)
           for name, opt in optimizers.items()}

print(f"{'optimizer':31} {'status':10} {'steps':>6} {'f(x)':>10}  distance to (1, 1)")
for name, r in results.items():
    dist = np.linalg.norm(r.x - np.array([1.0, 1.0]))
    print(f"{name:31} {r.status.value:10} {r.nit:6d} {r.fun:10.2e}  {dist:.2e}")
""", "variants"),
    code(r"""
show(descend.plot.contour("rosenbrock", list(results.values()), labels=list(results),
                          domain=[(-1.5, 1.5), (-0.5, 1.5)], title="Rosenbrock from (-1.2, 1)"))
"""),
    code(r"""
show(descend.plot.loss_curves(list(results.values()), labels=list(results)))
"""),
    md(r"""
Momentum and Nesterov keep the learning rate of plain GD but converge in about 3,000
steps, because velocity accumulates along the valley floor. Plain GD is still creeping
along the floor after 20,000 steps. RMSprop divides each gradient component by its recent
size, so its steps stay about $\eta$ long however flat the floor: it gets within $10^{-3}$
of the minimum, then rattles back and forth across it (the loss alternates between two
values) and never meets the gradient tolerance. Adam adds momentum to that per-weight
scaling, which damps the rattle, and converges.
"""),
    # ------------------------------------------------------------------ 7. own formula
    md(r"""
## 7. Your own formula

Any formula in the variables you choose works wherever descend takes a function.
`ds.parse` turns a string into a differentiable function, using a whitelist of
operations (it never calls `eval`), so a formula cannot run arbitrary code.
"""),
    code(r"""
h = ds.parse("x**2 + 3*y**2 + sin(x*y)")
print(h, "variables:", h.variables)
print("partials at (1, 1):", ds.partials(h, [1.0, 1.0]))

mine = ds.minimize(h, [1.5, 1.0], ds.gd(0.1), gtol=1e-8)
print(mine)
show(descend.plot.contour(h, mine, domain=[(-2, 2), (-2, 2)], title="x**2 + 3*y**2 + sin(x*y)"))
""", "formula"),
    code(r"""
try:
    ds.parse("__import__('os').system('ls')")
except ValueError as err:
    print("refused:", err)
"""),
    # ------------------------------------------------------------------ 8. learning from data
    md(r"""
## 8. Learning from data

So far each loss was a formula. In machine learning the loss is an **average over
data**: a model with weights $\mathbf{w}$ makes a prediction for every example
$(\mathbf{x}_i, y_i)$, a loss $\ell$ scores each prediction, and training minimizes

$$L(\mathbf{w}) = \frac{1}{n}\sum_{i=1}^{n} \ell\big(\text{model}(\mathbf{x}_i; \mathbf{w}), y_i\big)
\;\left(+\ \tfrac{\lambda}{2}\lVert \mathbf{w}\rVert^2 \text{, an optional L2 penalty}\right).$$

Gradient descent works exactly as before. Three new questions come with data:

1. how to get the gradient of a network with many layers: **backpropagation**;
2. how many examples to use for each step: **full batch, stochastic or mini-batch**;
3. when to stop: **learning curves and early stopping**.

`ds.fit(model, data, optimizer, ...)` trains a model from `ds.models` on a data set from
`ds.data` and returns a `FitResult`, much as `ds.minimize` returns a `Result`.
"""),
    md(r"""
### Backpropagation by hand

A multilayer perceptron (MLP) is a chain of layers. Starting from the inputs
$\mathbf{a}_0 = X$ (one row per example), layer $l$ computes a **pre-activation** and an
**activation**

$$\mathbf{z}_l = \mathbf{a}_{l-1} W_l + \mathbf{b}_l, \qquad \mathbf{a}_l = \sigma(\mathbf{z}_l),$$

where $\sigma$ is a simple function applied to every entry (here $\tanh$). The last layer
has no $\sigma$: its $\mathbf{z}$ are the outputs (for classes, the scores that the
softmax turns into probabilities). This is the **forward pass**.

The chain rule gives the gradient by walking the chain backwards. Call
$\boldsymbol\delta_l = \partial L / \partial \mathbf{z}_l$ the error signal of layer $l$.
At the output, for the softmax with the cross-entropy loss, it is simply
$(\text{probabilities} - \text{one-hot labels}) / n$. Then, layer by layer, from the last
to the first:

$$\frac{\partial L}{\partial W_l} = \mathbf{a}_{l-1}^{\top} \boldsymbol\delta_l, \qquad
\frac{\partial L}{\partial \mathbf{b}_l} = \sum_{\text{rows}} \boldsymbol\delta_l, \qquad
\boldsymbol\delta_{l-1} = \big(\boldsymbol\delta_l W_l^{\top}\big) \odot \sigma'(\mathbf{z}_{l-1}),$$

with $\tanh' = 1 - \tanh^2$, and the L2 penalty adds $\lambda W_l$ to each weight
gradient. This is the **backward pass**. `ds.models.backprop` carries out both passes in
plain array arithmetic and keeps every intermediate quantity, so you can look at them.
Here is a tiny network (2 inputs, 3 hidden units, 2 classes) on 8 examples:
"""),
    code(r"""
tiny = ds.data.load("moons", n_samples=8)
net = ds.models.mlp([3], classes=2, activation="tanh", l2=0.01)
params = net.init(2, seed=0, dtype=np.float64)

bp = ds.models.backprop(net, params, tiny.X, tiny.y)
print(bp)
hidden, output = bp.layers
print("delta at the output = (probabilities - one-hot labels) / 8:")
print(np.asarray(output.delta))
print("dL/dW of the hidden layer = a_0^T delta_1 + l2 * W_1:")
print(np.asarray(hidden.grad_w))

auto = ds.grad(net.loss)(params, tiny.X, tiny.y)  # automatic differentiation, as in section 1
print(f"{'parameter':12} {'shape':>6}  largest |by hand - autodiff|")
for layer in ("hidden1", "output"):
    for p in ("w", "b"):
        diff = np.max(np.abs(np.asarray(bp.grads[layer][p]) - np.asarray(auto[layer][p])))
        shape = "x".join(map(str, np.shape(params[layer][p])))
        print(f"{layer + '.' + p:12} {shape:>6}  {diff:.1e}")
""", "backprop"),
    md(r"""
The hand-made gradient and JAX's automatic differentiation agree to the last digits
(differences of $10^{-16}$ or less are rounding). That is no coincidence: reverse-mode
automatic differentiation *is* backpropagation, done mechanically for any formula. Its
cost is the point: one backward pass costs about as much as one forward pass, however
many weights there are, which is what makes training networks with millions of weights
possible.
"""),
    md(r"""
### Full batch, stochastic and mini-batch gradient descent

The gradient of an average is the average of the examples' gradients. How many examples
to average for each step is a choice, the **batch size**:

* **full batch** (`batch_size=None`): all $n$ examples, the exact gradient. Each step is
  reliable but costs $n$ example-gradients.
* **stochastic gradient descent**, SGD (`batch_size=1`): one example at a time, in a
  shuffled order. Each step is $n$ times cheaper, but its gradient is only a noisy
  estimate of the true one.
* **mini-batch** (`batch_size=10`, or 32, ...): the compromise in between.

An **epoch** is one pass over the data: one step for full batch, $n$ steps for SGD,
$n/b$ steps for batches of $b$.

The `line` data set is made for looking at this: 100 points around the line
$y = 3x + 2$. A linear model $\hat y = w x + b$ has two weights, the intercept $b$ and
the slope $w$, so the mean squared error is a bowl we can draw over the $(b, w)$ plane,
and numpy's least squares gives its exact bottom. With `record_params=True` a fit keeps
its weights after every step: `fit.history.params` is its path (the start first). All
three runs use the same learning rate, 0.1, and start at $(0, 0)$.
"""),
    code(r"""
line = ds.data.load("line")
x, y = line.X[:, 0], line.y
b_best, w_best = np.linalg.lstsq(np.c_[np.ones_like(x), x], y, rcond=None)[0]
print(f"least squares: intercept b = {b_best:.4f}, slope w = {w_best:.4f}")


def mse(b, w):
    # The mean squared error over all 100 points, for arrays of intercepts and slopes.
    b, w = np.asarray(b)[..., None], np.asarray(w)[..., None]
    return np.mean((w * x + b - y) ** 2, axis=-1)


runs = {
    "full batch, 30 epochs": dict(batch_size=None, epochs=30),
    "SGD (batch 1), 1 epoch": dict(batch_size=1, epochs=1),
    "mini-batch 10, 3 epochs": dict(batch_size=10, epochs=3),
}
fits = {
    name: ds.fit(ds.models.linear(), line, ds.gd(0.1), record_params=True, dtype="float64", **kw)
    for name, kw in runs.items()
}

print(f"\n{'':24} {'steps':>5} {'examples used':>13} {'intercept':>9} {'slope':>6}"
      f" {'loss':>7} {'distance to best':>16}")
for name, f in fits.items():
    used = f.steps * (runs[name]["batch_size"] or len(line))
    b, w = float(f.params["b"]), float(f.params["w"][0])
    dist = np.hypot(b - b_best, w - w_best)
    print(f"{name:24} {f.steps:5d} {used:13d} {b:9.4f} {w:6.3f} {mse(b, w):7.4f} {dist:16.4f}")
print(f"{'least squares':24} {'':5} {'':13} {b_best:9.4f} {w_best:6.3f} {mse(b_best, w_best):7.4f}")
""", "batches"),
    code(r"""
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
B, W = np.meshgrid(np.linspace(-0.5, 3.5, 161), np.linspace(-0.5, 4.5, 161))
levels = np.geomspace(0.9, 25, 25)  # spaced evenly on a log scale: more near the bottom
contours = left.contourf(B, W, mse(B, W), levels=levels, cmap="viridis", norm="log")
fig.colorbar(contours, ax=left, label="mean squared error", ticks=[1, 2, 5, 10, 20], format="%g")
colors = {"full batch, 30 epochs": "tab:red", "SGD (batch 1), 1 epoch": "tab:orange",
          "mini-batch 10, 3 epochs": "tab:cyan"}
for name, f in fits.items():
    path_b, path_w = f.history.params["b"], f.history.params["w"][:, 0]
    left.plot(path_b, path_w, ".-", color=colors[name], lw=1, ms=3, label=name)
    # the loss along the path, against the number of examples used so far
    used = np.arange(1, f.steps + 1) * (runs[name]["batch_size"] or len(line))
    right.plot(used, mse(path_b[1:], path_w[1:]), color=colors[name], label=name)
left.plot(0, 0, "wo", mec="k", ms=8, label="start")
left.plot(b_best, w_best, "w*", mec="k", ms=15, label="least squares")
left.set(xlabel="intercept b", ylabel="slope w", title="Paths over the loss of y = w x + b")
left.legend(loc="lower right", fontsize=8)
right.axhline(mse(b_best, w_best), color="k", ls=":", label="least squares")
right.set(xscale="log", yscale="log", xlabel="examples used (gradient work)",
          ylabel="mean squared error (all 100 points)", title="Loss against work")
right.legend(fontsize=8)
show(fig)
"""),
    md(r"""
What the pictures say, as the seed notes put it:

* **Full batch** follows the steepest way down, a smooth path straight to the bottom of
  the bowl. But every step reads all 100 examples: after 100 examples it has taken a
  single step.
* **SGD** zigzags: one example's gradient points only roughly downhill. Yet its steps
  are so cheap that after one pass over the data (the same work as *one* full-batch
  step) it is already close to the bottom. It never settles there, though: with a
  constant learning rate it keeps jittering around the minimum, in a cloud whose size
  grows with the learning rate. (Shrinking the learning rate over time, or growing the
  batch, calms it down.)
* **Mini-batch** is the compromise: averaging 10 examples cuts the noise (the spread of
  the gradient estimate shrinks like $1/\sqrt{b}$), the steps stay cheap, and computers
  process 10 examples at once about as fast as one. Mini-batches of 32 to a few hundred
  examples are how networks are trained in practice.

On a data set with millions of examples, reading all of them for every step is out of
the question; stochastic and mini-batch gradient descent are what make learning from
big data possible.
"""),
    md(r"""
### Learning curves and early stopping

A model is trained to do well on examples it has **not** seen. So before training we
split the data in three:

* the **training** set, the examples gradient descent learns from;
* the **validation** set, scored after every epoch to watch how training goes and to
  decide when to stop;
* the **test** set, used once at the very end, for an honest estimate of how well the
  model does on new data (it has influenced no decision).

Plotting the losses per epoch gives the **learning curves**. The training loss keeps
going down: a flexible model can fit its training examples ever more closely, down to
their noise and quirks. The validation loss goes down at first, then levels off, and
if training goes on long enough it starts creeping up: the model is **overfitting**,
learning the training set by heart rather than what carries over to new examples.
**Early stopping** watches the validation loss and stops once it has not improved for a
number of epochs (the *patience*, `early_stopping=5`), then returns the weights of the
best epoch.

`digits` has 1,797 images of handwritten digits, 8 x 8 pixels each (64 features), in 10
classes. `data.split` draws the three parts (keeping each digit's share in every part)
and standardizes the pixels with the training set's mean and spread. The model is an MLP
with one hidden layer of 64 units, trained with Adam on mini-batches of 32.
"""),
    code(r"""
data = ds.data.load("digits")
train, val, test = data.split(val=0.15, test=0.15, seed=0)
print(train, val, test, sep="\n")

fit = ds.fit(ds.models.mlp([64]), train, ds.adam(1e-3), batch_size=32, epochs=100,
             validation=val, early_stopping=5, seed=0)
print()
print(fit.message)
print(f"ran {fit.epochs} of at most 100 epochs ({fit.steps} steps); best epoch: {fit.best_epoch}")
h = fit.history
best = fit.best_epoch - 1
print(f"at the best epoch: training loss {h.train_loss[best]:.4f}, validation loss"
      f" {h.val_loss[best]:.4f}, validation accuracy {h.val_accuracy[best]:.4f}")
print(f"test accuracy: {fit.score(test):.4f}")
""", "early-stopping"),
    code(r"""
fig, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(h.epoch, h.train_loss, label="training loss")
ax.plot(h.epoch, h.val_loss, label="validation loss")
ax.axvline(fit.best_epoch, color="gray", ls="--", label=f"best epoch ({fit.best_epoch})")
ax.set(yscale="log", xlabel="epoch", ylabel="cross-entropy loss",
       title="Learning curves of mlp([64]) on digits")
ax.legend()
show(fig)
"""),
    md(r"""
The training loss falls steadily, by a factor of several hundred: the network can learn
its training images almost by heart. The validation loss falls fast for the first few
epochs, then flattens out; once five epochs in a row have brought no improvement,
training stops and the weights of the best epoch (the dashed line) come back. Training
longer would have made the training loss smaller still without helping on new images.

The test accuracy is the number to report: the test images played no part in training
or in choosing when to stop. (The validation score is a little optimistic, since the
best epoch was *chosen* on it.)
"""),
    md(r"""
## Summary

* The **gradient** collects the partial derivatives and points uphill; gradient descent
  steps the other way: $\mathbf{w} \leftarrow \mathbf{w} - \eta\,\nabla L(\mathbf{w})$.
* The **learning rate** must stay below $2/L$ (the largest curvature); $1/L$ is a safe
  start, and `ds.suggest_learning_rate` estimates it.
* A run **converges** when the gradient, the step or the change in loss is small;
  `res.status` and `res.message` tell you which, or that it diverged.
* Gradient descent finds a **local** minimum that depends on the start; on a convex
  function that is the global one. Flat points can be saddles.
* **Variants** (momentum, Nesterov, RMSprop, Adam) change the step to cope with narrow,
  curved valleys.
* **Learning from data** minimizes an average loss over examples. **Backpropagation**
  gets its gradient layer by layer by the chain rule; **mini-batches** trade a little
  noise for much cheaper steps; **early stopping** ends training when the validation
  loss stops improving, and the test set gives the honest final score.

Try it: change the starting points, the learning rates, the formula in section 7, or the
batch sizes and the network in section 8, and rerun the cells.
"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    counts: dict[str, int] = {}
    for kind, text, tags in CELLS:
        cell = new_markdown_cell(text) if kind == "markdown" else new_code_cell(text)
        counts[kind] = counts.get(kind, 0) + 1
        # Stable ids keep the file identical from one build to the next.
        cell.id = f"{kind[:2]}-{counts[kind]:02d}"
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else TARGET
    nb = build()
    nbformat.write(nb, str(target))
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    print(f"wrote {target} ({len(nb.cells)} cells, {n_code} code)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
