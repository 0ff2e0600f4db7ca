"""Training a model on data: :func:`fit`, on the engine's chunk driver.

Inputs checked once -> the training program (compiled, cached on shapes) -> the driver
(chunks of epochs, progress, callback, Ctrl-C) -> checkpoints between epochs ->
:class:`FitResult`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._driver import interruptible
from .result import FitHistory, FitResult

__all__ = ["fit", "FitResult", "FitHistory"]


@interruptible
def fit(
    model: Any,
    train: Any,
    optimizer: Any = None,
    *,
    params: Any = None,
    batch_size: int | None = 32,
    epochs: int = 100,
    validation: Any = None,
    early_stopping: int | None = None,
    min_delta: float = 0.0,
    gtol: float = 1e-6,
    seed: int | None = None,
    dtype: Any = "float32",
    checkpoint: Any = None,
    resume: Any = None,
    callback: Callable[[Any], Any] | None = None,
    progress: bool = False,
    diverge_factor: float = 1e8,
    record_params: bool = False,
    devices: int | None = None,
    local_rows: bool = False,
) -> FitResult:
    """Train ``model`` on ``train`` by gradient descent on its loss.

    Args:
      model: a :mod:`descend.models` model (``linear()``, ``logistic()``,
        ``softmax()``, ``mlp([64])``), or your own ``loss(params, X, y)`` with
        ``params=``.
      train: a :class:`~descend.data.Dataset` or ``(X, y)``.
      optimizer: an optax transformation such as ``ds.adam(1e-3)`` (the default) or a
        name.
      params: initial parameters (default: the model's initialization from ``seed``).
      batch_size: rows per step. ``None`` is full-batch gradient descent (one step an
        epoch), ``1`` is stochastic gradient descent, anything else mini-batch. Each
        epoch visits the rows in a new order drawn from ``(seed, epoch)``; a last,
        smaller batch takes the rows left over.
      epochs: the epoch limit (for a resumed fit, counting the earlier epochs).
      validation: a Dataset or ``(X, y)`` scored at the end of every epoch.
      early_stopping: stop when the validation loss has not improved by more than
        ``min_delta`` for this many epochs; the best epoch's parameters are returned.
      gtol: full-batch only: stop when the gradient norm is at most ``gtol`` (0: off).
      seed: the initialization and the shuffling (default 0; a resumed fit keeps its
        own).
      dtype: ``"float32"`` (the default for data) or ``"float64"``.
      checkpoint: a directory; the state is saved there after every epoch (atomically).
      resume: a directory to continue a checkpointed fit from, exactly; it is also
        where the fit goes on saving unless ``checkpoint`` says otherwise.
      callback: called after every epoch but the last with a :class:`FitResult` so
        far (the last one is what ``fit`` returns);
        ``StopIteration`` stops the fit (status ``stopped``), ``KeyboardInterrupt``
        interrupts it.
      progress: show a progress bar of epochs.
      diverge_factor: ``diverged`` when the training loss exceeds its start by this
        factor times ``max(|loss at the start|, 1)``.
      record_params: keep the parameters after every step in ``history.params`` (for
        pictures of the path of a small model; memory grows with steps x parameters).
      devices: how many local devices (``jax.local_devices()``, the first ones) share
        the work, data parallel: each mini-batch's rows are split over them, the data,
        parameters and optimizer state are whole on each, and the gradient is summed
        across them (the same mean as on one device, up to the order of the sum).
        Default: all local devices; a resumed fit: the count it was written with (a
        fit continues exactly only on its own count; another is refused). With more
        than one, ``batch_size`` must be a multiple of the count (no padding: an error
        names the nearest sizes that fit); a leftover last batch, or a full batch, that
        does not divide is computed whole on every device. ``devices=1`` adds no
        sharding at all. With several processes (:mod:`descend.distributed`) the fit
        runs on every process's devices (``devices`` may only name all of them).
      local_rows: with several processes, whether ``train`` and ``validation`` are
        this process's own rows (the data is their concatenation in process order;
        e.g. ``data.part()``, or rows read from this process's files) rather than the
        same whole data in every process (the default: each process then keeps only
        its block of rows on its devices). Either way each process holds a block of
        the rows, each mini-batch is the one a single process would draw (each device
        takes the loss of the batch rows it holds; only the gradient is summed across
        devices), and every process gets the whole :class:`FitResult`;
        checkpoints are written by process 0 (on storage every process can read, to
        resume). Ignored with one process.
    """
    import jax

    from .. import _driver
    from .setup import Setup, prepare

    setup: Setup = prepare(
        model,
        train,
        optimizer,
        params=params,
        batch_size=batch_size,
        epochs=epochs,
        validation=validation,
        early_stopping=early_stopping,
        min_delta=min_delta,
        gtol=gtol,
        seed=seed,
        dtype=dtype,
        checkpoint=checkpoint,
        resume=resume,
        diverge_factor=diverge_factor,
        record_params=record_params,
        devices=devices,
        local_rows=local_rows,
    )
    program = _driver.Program(
        init=None, chunk=setup.chunk, start=None, key=setup.key, size=setup.cost
    )
    first = setup.start_epoch
    run, wall, compile_time = _driver.drive(
        program,
        setup.first_run(),
        max_steps=max(epochs, first),
        callback=callback,
        progress=progress,
        # A checkpoint or a callback after every epoch; else chunks of about 0.5 s.
        chunk_size=1 if (setup.checkpoint is not None or callback is not None) else None,
        snapshot=setup.snapshot,
        describe=setup.describe,
        first_step=first,
        unit="epoch",
        first_chunk=1,  # the bar moves after the first epoch, then in growing chunks
    )
    t = time.perf_counter()
    jax.block_until_ready(run.train)  # the last chunk's epochs count as training time
    return setup.result(run, wall + time.perf_counter() - t, compile_time)
