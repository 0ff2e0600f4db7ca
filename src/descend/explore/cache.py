"""What the explorer keeps between requests: resolved functions and the compile gate.

descend caches its compiled loops itself, keyed on the function object (a built-in
:class:`~descend.functions.TestFunction` by identity, a parsed
:class:`~descend.functions.Expression` by its text and variables) and on the optimizer's
family, never on its numbers. So the explorer only has to hand descend the *same*
function object for the same formula: :func:`entry_for_formula` keeps a bounded LRU of
:class:`Entry` objects keyed on the formula's text (the built-ins have one entry each,
for the life of the process). An entry also holds the explorer's own small jit-compiled
helpers for that function (f and its gradient on a grid, the Hessian at a point), which
go with it when the LRU drops it, and a record of what has been compiled for it, so a
request knows whether it will compile.

Compiling is the one slow thing (about 0.1 s a program) and it uses the CPU fully, so
at most one request compiles at a time: :data:`GATE`. A request that would compile
waits for it briefly (:data:`COMPILE_WAIT` seconds) and is otherwise refused with
:class:`Busy`; requests that compile nothing never touch it. The background warm-up of
the built-ins takes the gate one program at a time and gives way to any waiting request.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

__all__ = [
    "Busy",
    "COMPILE_WAIT",
    "CompileGate",
    "Entry",
    "FORMULA_CACHE_SIZE",
    "GATE",
    "builtin_entry",
    "entry_for_formula",
]

# Seconds a request that needs to compile waits for another one to finish.
COMPILE_WAIT = 2.0
# Formulas whose functions (and the explorer's helpers) are kept.
FORMULA_CACHE_SIZE = 64


class Busy(Exception):
    """Another request is compiling and did not finish within the wait."""


class CompileGate:
    """At most one compilation at a time; requests go before the background warm-up.

    ``with gate.hold(needed):`` takes the gate only when ``needed`` (the request will
    compile something); ``background=True`` (the warm-up) waits while any request waits.
    A thread that holds the gate passes through its own nested holds.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._owner: int | None = None
        self._waiting = 0  # requests (not the warm-up) waiting for the gate

    @property
    def busy(self) -> bool:
        return self._busy

    @contextlib.contextmanager
    def hold(
        self, needed: bool = True, *, timeout: float | None = None, background: bool = False
    ) -> Iterator[None]:
        if not needed or self._owner == threading.get_ident():
            yield
            return
        wait = COMPILE_WAIT if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._cond:
            if not background:
                self._waiting += 1
            try:
                while self._busy or (background and self._waiting):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy()
                    self._cond.wait(left)
                self._busy = True
                self._owner = threading.get_ident()
            finally:
                if not background:
                    self._waiting -= 1
        try:
            _forget_if_due()  # only here: no other request is compiling
            yield
        finally:
            with self._cond:
                self._busy = False
                self._owner = None
                self._cond.notify_all()


GATE = CompileGate()


class Entry:
    """One function the explorer serves: the callable descend runs, and its helpers.

    Attributes:
        key: ``"function:NAME"`` or ``"formula:TEXT"``.
        fun: the function of a 2-vector (a TestFunction or an Expression of x, y).
        run_fun: what runs are handed to ``ds.minimize``: ``fun``, or a built-in's bare
            ``fun`` (a TestFunction also makes descend classify, by an uncompiled
            Hessian, every run that ends above the global minimum: about 20 ms a run on
            Rastrigin or Ackley; the explorer adds that note itself from its compiled
            Hessian).
        builtin: the TestFunction for a built-in, else None.
    """

    def __init__(self, key: str, fun: Callable[..., Any], builtin: Any = None) -> None:
        self.key = key
        self.fun = fun
        self.run_fun = builtin.fun if builtin is not None else fun
        self.builtin = builtin
        self._warm: set[Hashable] = set()
        self._lock = threading.Lock()
        self._helpers: dict[str, Callable[..., Any]] = {}

    # ---------------------------------------------------------------- what is compiled
    def cold(self, keys: Iterable[Hashable]) -> bool:
        """Whether any of these programs has not been compiled for this function yet."""
        with self._lock:
            return any(k not in self._warm for k in keys)

    def mark(self, keys: Iterable[Hashable]) -> None:
        """Record these programs as compiled."""
        with self._lock:
            self._warm.update(keys)

    # ---------------------------------------------------------------- jitted helpers
    def _helper(self, name: str, build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
        with self._lock:
            fn = self._helpers.get(name)
            if fn is None:
                fn = self._helpers[name] = build()
            return fn

    def values(self, points: Any) -> Any:
        """f at each row of ``points`` (shape (k, 2)), compiled once per shape."""
        import jax

        return self._helper("values", lambda: jax.jit(jax.vmap(self.fun)))(points)

    def gradients(self, points: Any) -> Any:
        """The gradient of f at each row of ``points``, shape (k, 2)."""
        import jax

        return self._helper("gradients", lambda: jax.jit(jax.vmap(jax.grad(self.fun))))(points)

    def hessian(self, x: Any) -> Any:
        """The 2 x 2 Hessian of f at ``x`` (exact, by autodiff; 0.3 ms once compiled)."""
        import jax

        return self._helper("hessian", lambda: jax.jit(jax.hessian(self.fun)))(x)


_BUILTINS: dict[str, Entry] = {}
_FORMULAS: collections.OrderedDict[str, Entry] = collections.OrderedDict()
_TABLE_LOCK = threading.Lock()


def builtin_entry(tf: Any) -> Entry:
    """The entry of a built-in test function (one per process)."""
    with _TABLE_LOCK:
        entry = _BUILTINS.get(tf.name)
        if entry is None:
            entry = _BUILTINS[tf.name] = Entry(f"function:{tf.name}", tf, builtin=tf)
        return entry


def entry_for_formula(text: str, make: Callable[[str], Any]) -> Entry:
    """The entry of formula ``text``, made with ``make(text)`` (which may raise) on a miss.

    The same text gives the same function object while it stays among the
    :data:`FORMULA_CACHE_SIZE` most recently used.
    """
    with _TABLE_LOCK:
        entry = _FORMULAS.get(text)
        if entry is not None:
            _FORMULAS.move_to_end(text)
            return entry
    fun = make(text)  # parsing is quick and needs no lock
    with _TABLE_LOCK:
        entry = _FORMULAS.get(text)
        if entry is None:
            entry = _FORMULAS[text] = Entry(f"formula:{text}", fun)
            while len(_FORMULAS) > FORMULA_CACHE_SIZE:
                _FORMULAS.popitem(last=False)
                global _EVICTED
                _EVICTED += 1
        else:
            _FORMULAS.move_to_end(text)
        return entry


# Formulas dropped from the LRU since the compiled programs were last cleared. JAX and
# descend keep every program compiled for a dropped formula (JAX's caches hold
# thousands); once as many formulas as the LRU holds have gone, the next request that
# compiles first clears them all (built-ins and kept formulas compile again on use),
# so memory stays bounded however many formulas are typed.
_EVICTED = 0
RESET_HOOKS: list[Callable[[], None]] = []  # more to reset with the programs (api.py)


def _forget_if_due() -> None:
    global _EVICTED
    with _TABLE_LOCK:
        if _EVICTED < FORMULA_CACHE_SIZE:
            return
        _EVICTED = 0
        entries = [*_BUILTINS.values(), *_FORMULAS.values()]
    import jax

    jax.clear_caches()
    for entry in entries:
        with entry._lock:
            entry._warm.clear()
            entry._helpers.clear()
    for hook in RESET_HOOKS:
        hook()


def formula_cache_size() -> int:
    """How many formulas are held now (for tests)."""
    with _TABLE_LOCK:
        return len(_FORMULAS)
