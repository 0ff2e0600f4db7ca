"""The ``descend`` commands: a thin layer over the public API.

Only click is imported here at module level; JAX, numpy, rich and the pictures are
imported inside each command, so ``descend --help`` answers at once.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import click

from .inputs import (
    FORMULA_START,
    InputError,
    Problem,
    check_folder,
    check_output,
    expand_domain,
    learning_rate,
    load_problem,
    optimizer_factory,
    parse_domain,
    parse_lr_list,
    parse_lr_range,
    parse_optimizer_list,
    positive,
    problem_and_start,
)

# Exit status of a command whose run the user stopped with Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130
# Steps allowed by `run` and `compare`: gradient descent with 1/L from the start needs
# about 48,000 on Rosenbrock from (-1.2, 1); 100,000 compiled steps take milliseconds.
DEFAULT_MAX_STEPS = 100_000
# History kept by `run` is capped here; longer runs keep every k-th step.
HISTORY_BYTES = 2**26

START_HELP = (
    "Start point, comma separated, e.g. 1,2 (its length sets the size of n-D functions). "
    "Default: the built-in function's start point (see 'descend functions NAME'); "
    f"{FORMULA_START:g} in every variable for formulas (0 is often a stationary point of "
    "a formula)."
)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    invoke_without_command=True,
)
@click.version_option(package_name="descend", prog_name="descend")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Gradient descent you can see: run, compare and sweep optimizers on test functions
    or your own formulas, map landscapes, train models on data sets (fit), explore in
    the browser (explore), start several processes of a script (launch), and replay the
    seed's worked example.

    Exit status: 0 after a finished run (whatever it converged to; read its status),
    2 for bad input, 130 when interrupted with Ctrl-C (the partial result is printed).
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


# --------------------------------------------------------------------------- shared options
def stopping_options(max_steps: int, gtol: float) -> Callable[[Callable], Callable]:
    """--max-steps, --gtol, --xtol, --ftol (the stopping rules of descend.minimize)."""

    def decorate(f: Callable) -> Callable:
        for option in reversed(
            [
                click.option(
                    "--max-steps",
                    type=click.IntRange(min=1),
                    default=max_steps,
                    show_default=True,
                    help="Most steps per run.",
                ),
                click.option(
                    "--gtol",
                    type=click.FloatRange(min=0),
                    default=gtol,
                    show_default=True,
                    help="Stop when the gradient norm is <= GTOL (0 turns the rule off).",
                ),
                click.option(
                    "--xtol",
                    type=click.FloatRange(min=0),
                    default=0.0,
                    help="Stop when a step moves x by <= XTOL (default 0: off).",
                ),
                click.option(
                    "--ftol",
                    type=click.FloatRange(min=0),
                    default=0.0,
                    help="Stop when f changes by <= FTOL in a step (default 0: off).",
                ),
            ]
        ):
            f = option(f)
        return f

    return decorate


start_option = click.option("--start", metavar="X1,X2,...", help=START_HELP)
progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: on a terminal, for runs of 1000 steps or more).",
)


def want_progress(flag: bool | None, max_steps: int) -> bool:
    if flag is not None:
        return flag
    return sys.stdout.isatty() and sys.stderr.isatty() and max_steps >= 1000


def out() -> Any:
    from .report import console

    return console()


def load_plot() -> Any:
    """descend.plot, imported only by commands that draw (matplotlib is slow to load)."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window
    from descend import plot

    return plot


def settings_text(name: str, lr: float, rule: str = "") -> str:
    return f"{name}, learning rate {lr:.4g}" + (f" = {rule}" if rule else "")


# --------------------------------------------------------------------------- functions
@cli.command()
@click.argument("name", required=False)
def functions(name: str | None) -> None:
    """List the built-in test functions: dimension, formula and global minima.

    With NAME, show that function in full: domain, every known minimum and what it
    teaches.
    """
    from descend.functions import get, names

    from .report import num, table, vector

    con = out()
    if name is not None:
        try:
            tf = get(name)
        except ValueError as e:
            raise InputError(str(e)) from None
        _describe(con, tf)
        return
    t = table("name", "dim", "formula", "global minimum x", "f")
    for key in names():
        tf = get(key)
        n = tf.dim or tf.default_dim
        dim = str(tf.dim) if tf.dim else f"n>={tf.min_dim} ({n})"
        best = tf.global_minima(n)
        xs = "\n".join(vector(m.x, 4) for m in best) or "none (unbounded below)"
        fs = "\n".join(num(m.f, 4) for m in best) or "-"
        extra = len(tf.local_minima(n))
        if extra:
            xs += f"\n+ {extra} local minim{'um' if extra == 1 else 'a'}"
        t.add_row(key, dim, tf.formula, xs, fs)
    con.print(t)
    con.print(
        "n-D functions: minima listed for the default n in brackets; "
        "--start with more numbers picks n.",
        soft_wrap=True,
    )


def _describe(con: Any, tf: Any) -> None:
    from .report import num, table, vector

    n = tf.dim or tf.default_dim
    con.print(f"{tf.name}: {tf.title}", soft_wrap=True)
    con.print(f"  f = {tf.formula}", soft_wrap=True)
    dims = str(tf.dim) if tf.dim else f"any n >= {tf.min_dim} (shown for n = {n})"
    con.print(f"  variables: {dims}")
    dom = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in tf.domain(n))
    con.print(f"  plotting domain: {dom}")
    con.print(f"  start point: ({', '.join(f'{v:g}' for v in tf.start(n))})")
    if tf.notes:
        con.print(f"  {tf.notes}", soft_wrap=True)
    t = table("kind", "x", "f")
    for m in tf.minima(n):
        t.add_row(m.kind, vector(m.x), num(m.f))
    con.print(t if tf.minima(n) else "  no minimum")


# --------------------------------------------------------------------------- run
@cli.command()
@click.argument("function", metavar="FUNCTION_OR_FORMULA")
@click.option(
    "--optimizer",
    default="gd",
    show_default=True,
    help="Update rule: gd, momentum, nesterov, adagrad, rmsprop, adam or adamw.",
)
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Learning rate (> 0). Default: chosen at the start: 1/L for gd, (1 - beta)/L for "
    "momentum and nesterov (L: the largest curvature of f there), the optimizer's own for "
    "the adaptive ones (adam 0.01, ...).",
)
@start_option
@stopping_options(max_steps=DEFAULT_MAX_STEPS, gtol=1e-6)
@click.option("--steps", "show_steps", is_flag=True, help="Print the first and last steps.")
@click.option(
    "--plot",
    metavar="OUT.png",
    help="Draw the path on contours (2-D) or each "
    "coordinate against the step (other dimensions) into a PNG file.",
)
@click.option(
    "--animate",
    metavar="OUT.gif",
    help="Write a GIF of the path moving on the contours (on a 2-D slice for more "
    "variables) beside the loss curve.",
)
@click.option(
    "--frames",
    type=click.IntRange(min=2),
    default=60,
    show_default=True,
    help="Most frames in the --animate GIF (steps are subsampled evenly).",
)
@click.option(
    "--json",
    "json_path",
    metavar="OUT.json",
    help="Write the result and the whole history (non-finite numbers as null).",
)
@click.option(
    "--csv",
    "csv_path",
    metavar="OUT.csv",
    help="Write the history: step, each variable, fun, grad_norm, step_size.",
)
@progress_option
def run(
    function: str,
    optimizer: str,
    lr: float | None,
    start: str | None,
    max_steps: int,
    gtol: float,
    xtol: float,
    ftol: float,
    show_steps: bool,
    plot: str | None,
    animate: str | None,
    frames: int,
    json_path: str | None,
    csv_path: str | None,
    progress: bool | None,
) -> int:
    """Minimize FUNCTION_OR_FORMULA from one start and print where it stopped and why.

    FUNCTION_OR_FORMULA is a built-in name (see 'descend functions') or a formula in
    quotes, e.g. "x**2 + 3*y**2" (variables sorted by name). Ctrl-C stops the run and
    prints the result so far.

    \b
    Examples:
      descend run seed-quadratic --lr 0.1 --steps
      descend run rosenbrock --optimizer adam --lr 0.02 --plot path.png
      descend run "x**2 + 3*y**2 + sin(x*y)" --start 1,1 --json run.json
    """
    for path, option, suffix in (
        (plot, "--plot", ".png"),
        (animate, "--animate", ".gif"),
        (json_path, "--json", None),
        (csv_path, "--csv", None),
    ):
        check_output(path, option, suffix)
    problem, x0 = problem_and_start(function, start)
    factory = optimizer_factory(optimizer)
    lr, rule = learning_rate(factory, problem.fun, x0, lr)
    opt = factory(lr)
    import descend as ds

    from .report import print_result, result_dict, short, steps_table, write_csv, write_json

    con = out()
    con.print(f"function  {_describe_problem(problem)}", soft_wrap=True)
    con.print(f"optimizer {settings_text(factory.__name__, lr, rule)}", soft_wrap=True)
    con.print(f"start     {short(x0)}")  # the last line before the run
    # Very long runs keep every k-th step so the record stays within HISTORY_BYTES.
    row_bytes = (problem.dim + 3) * 8
    record_every = max(1, math.ceil((max_steps + 1) * row_bytes / HISTORY_BYTES))
    res = ds.minimize(
        problem.fun,
        x0,
        opt,
        gtol=gtol,
        xtol=xtol,
        ftol=ftol,
        max_steps=max_steps,
        record_every=record_every,
        progress=want_progress(progress, max_steps),
    )
    if show_steps:
        con.print(steps_table(res.history, problem.names))
    print_result(con, res)
    meta = {
        "function": problem.label,
        "formula": problem.formula,
        "variables": list(problem.names),
        "optimizer": factory.__name__,
        "learning_rate": lr,
        "learning_rate_rule": rule or "given",
        "start": list(x0),
        "options": {"max_steps": max_steps, "gtol": gtol, "xtol": xtol, "ftol": ftol},
    }
    if json_path:
        write_json(json_path, result_dict(res, meta))
        con.print(f"wrote {json_path}")
    if csv_path:
        write_csv(csv_path, res.history, problem.names)
        con.print(f"wrote {csv_path}")
    if plot or animate:
        label = f"{factory.__name__} lr={lr:.4g}"
        _draw_run(con, problem, res, label, plot, animate, frames)
    return EXIT_INTERRUPTED if res.status.value == "interrupted" else 0


def _describe_problem(problem: Problem) -> str:
    if problem.builtin:
        return f"{problem.label}: f = {problem.formula}"
    return f"f({', '.join(problem.names)}) = {problem.formula}"


def _draw_run(
    con: Any,
    problem: Problem,
    res: Any,
    label: str,
    plot: str | None,
    animate: str | None,
    frames: int,
) -> None:
    pl = load_plot()
    if plot:
        if problem.dim == 2:
            fig = pl.contour(problem.fun, [res], labels=[label], title=problem.label)
        else:
            fig = pl.trajectories(res, names=list(problem.names))
        pl.save(fig, plot)
        con.print(f"wrote {plot}")
    if animate:
        path = pl.animate(problem.fun, [res], animate, labels=[label], max_frames=frames)
        con.print(f"wrote {path}")


# --------------------------------------------------------------------------- compare
@cli.command()
@click.argument("function", metavar="FUNCTION_OR_FORMULA")
@click.option(
    "--optimizers",
    default="gd,momentum,adam",
    show_default=True,
    help="Comma-separated update rules to compare (gd, momentum, nesterov, adagrad, "
    "rmsprop, adam, adamw).",
)
@click.option(
    "--lr",
    metavar="LR[,LR...]",
    help="One learning rate for all, or one per optimizer. Default: each chosen at the "
    "start as in 'descend run' (1/L for gd, (1 - beta)/L for momentum and nesterov, the "
    "adaptive optimizers' own).",
)
@start_option
@stopping_options(max_steps=DEFAULT_MAX_STEPS, gtol=1e-6)
@click.option(
    "--plot",
    metavar="OUT.png",
    help="One PNG: the paths on contours (2-D functions only) beside the loss and "
    "gradient-norm curves of every run.",
)
@progress_option
def compare(
    function: str,
    optimizers: str,
    lr: str | None,
    start: str | None,
    max_steps: int,
    gtol: float,
    xtol: float,
    ftol: float,
    plot: str | None,
    progress: bool | None,
) -> int:
    """Run several optimizers from the same start and rank them.

    Rows are sorted by success first, then by the final f, then by steps.

    \b
    Example:
      descend compare himmelblau --optimizers gd,momentum,adam --lr 0.01 --plot cmp.png
    """
    check_output(plot, "--plot", ".png")
    problem, x0 = problem_and_start(function, start)
    names = parse_optimizer_list(optimizers)
    factories = [optimizer_factory(n, "--optimizers") for n in names]
    given = parse_lr_list(lr, len(names)) if lr is not None else [None] * len(names)
    chosen = [learning_rate(f, problem.fun, x0, r) for f, r in zip(factories, given)]
    lrs = [rate for rate, _ in chosen]
    import descend as ds

    from .report import flat_x, lr_text, sci, short, table

    con = out()
    con.print(f"function  {_describe_problem(problem)}", soft_wrap=True)
    for name, (rate, rule) in zip(names, chosen):
        if rule:
            con.print(f"optimizer {settings_text(name, rate, rule)}", soft_wrap=True)
    con.print(f"start     {short(x0)}")
    runs: list[tuple[str, float, Any]] = []
    for name, factory, rate in zip(names, factories, lrs):
        res = ds.minimize(
            problem.fun,
            x0,
            factory(rate),
            gtol=gtol,
            xtol=xtol,
            ftol=ftol,
            max_steps=max_steps,
            progress=want_progress(progress, max_steps),
        )
        runs.append((name, rate, res))
        if res.status.value == "interrupted":
            break  # Ctrl-C: rank what ran so far
    ranked = sorted(runs, key=lambda r: (not r[2].success, _finite_or_inf(r[2].fun), r[2].nit))
    t = table("rank", "optimizer", "lr", "status", "steps", "f", "|grad|", "x")
    for i, (name, rate, res) in enumerate(ranked, 1):
        t.add_row(
            str(i),
            name,
            lr_text(rate),
            res.status.value,
            str(res.nit),
            sci(res.fun, 6),
            f"{res.grad_norm:.3e}",
            "(" + ", ".join(f"{v:.4g}" for v in flat_x(res.x)) + ")",
        )
    con.print(t)
    if plot:
        labels = [f"{n} lr={lr_text(r)}" for n, r, _ in runs]
        _draw_compare(problem, [r for _, _, r in runs], labels, plot)
        con.print(f"wrote {plot}")
    interrupted = any(r.status.value == "interrupted" for _, _, r in runs)
    return EXIT_INTERRUPTED if interrupted else 0


def _finite_or_inf(v: float) -> float:
    return v if math.isfinite(v) else math.inf


def _draw_compare(problem: Problem, results: list[Any], labels: list[str], path: str) -> None:
    pl = load_plot()
    import matplotlib.pyplot as plt

    panels = 3 if problem.dim == 2 else 2  # no contour beyond 2-D: the curves only
    fig = plt.figure(figsize=(5.6 * panels, 4.8), layout="constrained")
    axs = fig.subplots(1, panels)
    if panels == 3:
        pl.contour(problem.fun, results, ax=axs[0], labels=labels, title=problem.label)
    pl.loss_curves(results, labels=labels, axes=axs[-2:])
    pl.save(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- sweep
@cli.command()
@click.argument("function", metavar="FUNCTION_OR_FORMULA")
@click.option(
    "--lr",
    "lr_range",
    default="1e-4:1:50",
    show_default=True,
    metavar="FROM:TO:COUNT",
    help="Learning rates: COUNT values log-spaced from FROM to TO.",
)
@click.option("--optimizer", default="gd", show_default=True, help="Update rule to sweep.")
@start_option
@stopping_options(max_steps=1000, gtol=1e-6)
@click.option(
    "--plot",
    metavar="OUT.png",
    help="Draw the final f against the learning rate, diverged runs marked.",
)
@progress_option
def sweep(
    function: str,
    lr_range: str,
    optimizer: str,
    start: str | None,
    max_steps: int,
    gtol: float,
    xtol: float,
    ftol: float,
    plot: str | None,
    progress: bool | None,
) -> int:
    """Sweep the learning rate: one run per rate, all in one compiled batch.

    Prints one row per learning rate and a summary: which rates converged, the fastest,
    and the first that diverged. For gd it also prints the curvature bound 2/L at the
    start, above which gradient descent diverges near there.

    \b
    Example:
      descend sweep seed-quadratic --lr 1e-3:1:12 --plot sweep.png
    """
    check_output(plot, "--plot", ".png")
    lo, hi, count = parse_lr_range(lr_range)
    problem, x0 = problem_and_start(function, start)
    factory = optimizer_factory(optimizer)
    import numpy as np

    import descend as ds

    from .report import lr_text, sci, short, table

    lrs = np.geomspace(lo, hi, count)
    con = out()
    con.print(f"function  {_describe_problem(problem)}", soft_wrap=True)
    con.print(f"optimizer {factory.__name__}, {count} learning rates from {lo:g} to {hi:g}")
    con.print(f"start     {short(x0)}")
    batch = ds.minimize_batch(
        problem.fun,
        np.asarray([x0], np.float64),
        factory,
        learning_rates=lrs,
        gtol=gtol,
        xtol=xtol,
        ftol=ftol,
        max_steps=max_steps,
        progress=want_progress(progress, max_steps),
    )
    status = [s.value for s in batch.status[0]]
    t = table("lr", "status", "steps", "f", "|grad|")
    for j, rate in enumerate(lrs):
        t.add_row(
            lr_text(rate),
            status[j],
            str(int(batch.nit[0, j])),
            sci(batch.fun[0, j], 6),
            f"{float(batch.grad_norm[0, j]):.3e}",
        )
    con.print(t)
    for line in _sweep_summary(lrs, status, batch.nit[0], batch.fun[0]):
        con.print(line, soft_wrap=True)
    if factory.__name__ == "gd":
        con.print(_curvature_hint(ds, problem, x0), soft_wrap=True)
    if plot:
        pl = load_plot()
        pl.save(pl.sweep(batch), plot)
        con.print(f"wrote {plot}")
    return EXIT_INTERRUPTED if "interrupted" in status else 0


def _sweep_summary(lrs: Any, status: list[str], nit: Any, fun: Any) -> list[str]:
    from .report import lr_text, sci

    ok = [j for j, s in enumerate(status) if s in ("gtol", "xtol", "ftol")]
    bad = [j for j, s in enumerate(status) if s in ("diverged", "nonfinite")]
    unbounded = [j for j, s in enumerate(status) if s == "unbounded"]
    lines = []
    if ok:
        fastest = min(ok, key=lambda j: (int(nit[j]), float(fun[j])))
        lines.append(
            f"converged: {len(ok)} of {len(lrs)}, for lr from {lr_text(lrs[ok[0]])} "
            f"to {lr_text(lrs[ok[-1]])}"
        )
        lines.append(
            f"fastest:   lr {lr_text(lrs[fastest])} in {int(nit[fastest])} steps "
            f"(f = {sci(fun[fastest], 6)})"
        )
    else:
        finite = [j for j in range(len(lrs)) if math.isfinite(float(fun[j])) and j not in unbounded]
        lines.append("converged: none (raise --max-steps or change the range)")
        if finite:
            best = min(finite, key=lambda j: float(fun[j]))
            lines.append(f"lowest f:  lr {lr_text(lrs[best])}, f = {sci(fun[best], 6)}")
    if bad:
        lines.append(
            f"diverged:  first at lr {lr_text(lrs[bad[0]])} "
            f"({len(bad)} of {len(lrs)} runs diverged or hit inf/nan)"
        )
    else:
        lines.append("diverged:  none")
    if unbounded:
        lines.append(
            f"unbounded: {len(unbounded)} of {len(lrs)} runs: f fell without end "
            "(no minimum that way)"
        )
    return lines


def _curvature_hint(ds: Any, problem: Problem, x0: list[float]) -> str:
    try:
        s = ds.suggest_learning_rate(problem.fun, x0)
    except ValueError as e:
        return f"curvature: {e}"
    return (
        f"curvature at the start: L = {s.curvature:.4g}, so gradient descent needs "
        f"lr < 2/L = {s.max_stable:.4g} there (1/L = {s.learning_rate:.4g} is a safe choice)"
    )


# --------------------------------------------------------------------------- landscape
@cli.command()
@click.argument("function", metavar="FUNCTION_OR_FORMULA")
@click.option(
    "--starts",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Number of random starts.",
)
@click.option(
    "--domain",
    metavar="LO:HI[,LO:HI...]",
    help="Box the starts are drawn from, one LO:HI per variable (or one for all). "
    "Default: a built-in's plotting domain; -5:5 per variable for formulas.",
)
@click.option(
    "--dim",
    type=click.IntRange(min=1),
    default=None,
    help="Number of variables for n-D built-ins (default: the function's own).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random starts.")
@click.option("--optimizer", default="adam", show_default=True, help="Update rule of every run.")
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Learning rate (> 0). Default: the optimizer's own (adam 0.01); for gd, momentum "
    "and nesterov, chosen at each start from the curvature there.",
)
@stopping_options(max_steps=20_000, gtol=1e-8)
@click.option(
    "--plot",
    metavar="OUT.png",
    help="Draw the basins of attraction (2-D functions): which minimum each start "
    "of a grid reaches.",
)
@click.option(
    "--resolution",
    type=click.IntRange(min=2),
    default=60,
    show_default=True,
    help="Grid points per side of the basins picture.",
)
@progress_option
def landscape(
    function: str,
    starts: int,
    domain: str | None,
    dim: int | None,
    seed: int,
    optimizer: str,
    lr: float | None,
    max_steps: int,
    gtol: float,
    xtol: float,
    ftol: float,
    plot: str | None,
    resolution: int,
    progress: bool | None,
) -> int:
    """Run from many random starts and list the distinct minima they reach.

    End points closer than 1e-3 of the domain's diagonal are one minimum; its kind
    (minimum, saddle, ...) comes from the Hessian. Every end point with the lowest f is
    marked as a global candidate: the best guess, not a proof.

    \b
    Example:
      descend landscape six-hump-camel --starts 300 --plot basins.png
    """
    check_output(plot, "--plot", ".png")
    pairs = parse_domain(domain) if domain is not None else None
    if dim is None and pairs is not None and len(pairs) > 1:
        problem = load_problem(function, len(pairs), f"--domain has {len(pairs)} pairs")
    else:
        problem = load_problem(function, dim, f"--dim is {dim}")
    if pairs is not None:
        box = expand_domain(pairs, problem.dim)
    elif problem.builtin:
        box = list(problem.fun.domain(problem.dim))
    else:
        box = [(-5.0, 5.0)] * problem.dim
    if plot and problem.dim != 2:
        raise InputError(
            f"--plot draws basins for functions of 2 variables; {problem.label} has {problem.dim}"
        )
    factory = optimizer_factory(optimizer)
    # Without --lr each start gets the rate learning_rate="auto" picks there.
    opt = factory(positive(lr, "--lr") if lr is not None else "auto")
    import descend as ds

    con = out()
    con.print(f"function  {_describe_problem(problem)}", soft_wrap=True)
    where = " x ".join(f"[{lo:g}, {hi:g}]" for lo, hi in box)
    con.print(f"starts    {starts} uniform in {where} (seed {seed})")
    rate = f"learning rate {lr:.4g}" if lr is not None else "learning rate chosen at each start"
    con.print(f"optimizer {factory.__name__}, {rate}")
    options = dict(gtol=gtol, xtol=xtol, ftol=ftol, max_steps=max_steps)
    ms = ds.multistart(
        problem.fun,
        starts,
        box,
        opt,
        seed=seed,
        progress=want_progress(progress, max_steps),
        **options,
    )
    _print_minima(con, problem, ms)
    if plot:
        b = ds.basins(problem.fun, box, resolution, opt, **options)
        pl = load_plot()
        pl.save(pl.basins(b), plot)
        con.print(f"wrote {plot} ({resolution}x{resolution} starts)")
    status = {s.value for s in ms.batch.status.ravel()}
    return EXIT_INTERRUPTED if "interrupted" in status else 0


def _print_minima(con: Any, problem: Problem, ms: Any) -> None:
    import numpy as np

    from .report import sci, table, vector

    failed = int(np.sum(ms.labels < 0))
    con.print(
        f"found     {len(ms.minima)} distinct end points; {failed} of {len(ms.starts)} "
        "runs did not converge"
    )
    if not ms.minima:
        return
    lowest = ms.minima[0].fun
    known = problem.fun.minima(problem.dim) if problem.builtin else ()
    columns = ["#", "x", "f", "kind", "reached by", "global"]
    t = table(*columns, *(["known"] if problem.builtin else []))
    for i, m in enumerate(ms.minima):
        candidate = abs(m.fun - lowest) <= 1e-8 * max(1.0, abs(lowest))
        row = [
            str(i),
            vector(m.x),
            sci(m.fun, 8),
            m.kind,
            str(m.count),
            "candidate" if candidate else "",
        ]
        if problem.builtin:
            row.append(_known_kind(m.x, known))
        t.add_row(*row)
    con.print(t)


def _known_kind(x: Any, known: Any) -> str:
    """'global' or 'local' when x is a listed minimum of the built-in, else ''."""
    import numpy as np

    for k in known:
        if np.linalg.norm(np.asarray(x) - np.asarray(k.x)) <= 1e-4 * max(1.0, np.linalg.norm(k.x)):
            return k.kind
    return ""


# --------------------------------------------------------------------------- demo
@cli.command()
@click.option(
    "--out",
    "out_dir",
    default="descend-demo",
    show_default=True,
    metavar="FOLDER",
    help="Folder for the pictures (created if missing; its parent must exist).",
)
def demo(out_dir: str) -> int:
    """The seed's example end to end: a quadratic in three variables, its gradient, the
    update rule, the first steps of gradient descent, why it stopped, and pictures."""
    folder = check_folder(out_dir, "--out")
    from .demo import run_demo

    return run_demo(out(), folder)
