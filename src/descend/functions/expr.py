"""Safe user formulas: ``parse("x**2 + 3*y**2 + sin(x*y)")`` compiles text to a JAX function.

The text is untrusted (it comes from a command line or a web page), so it is never handed
to ``eval``, ``exec``, ``compile`` or sympy. It is parsed with ``ast.parse(mode="eval")``
and the tree is walked against an explicit whitelist: number literals, variable names,
the constants ``pi`` and ``e``, ``+ - * / **``, unary ``-``/``+``, parentheses and calls of
a fixed set of functions with positional arguments. Every other construct is refused with
a :class:`ValueError` that names the offending part and its column. The accepted tree is
turned into a small tree of closures over :mod:`jax.numpy`, so the result can be
differentiated with :func:`jax.grad` and compiled with :func:`jax.jit`.

Size limits keep hostile input cheap: at most 1000 characters, 500 expression nodes and
nesting depth 50 (a chain such as ``a + b - c + d`` counts as one level).
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Expression", "parse"]

MAX_LENGTH = 1000
MAX_DEPTH = 50
MAX_NODES = 500

# name -> (jax.numpy attribute, number of arguments); resolved lazily so that parsing
# and validation do not import JAX.
_FUNCTIONS: dict[str, tuple[str, int]] = {
    "sin": ("sin", 1),
    "cos": ("cos", 1),
    "tan": ("tan", 1),
    "exp": ("exp", 1),
    "log": ("log", 1),
    "log10": ("log10", 1),
    "log2": ("log2", 1),
    "log1p": ("log1p", 1),
    "expm1": ("expm1", 1),
    "sqrt": ("sqrt", 1),
    "cbrt": ("cbrt", 1),
    "abs": ("abs", 1),
    "sign": ("sign", 1),
    "sinh": ("sinh", 1),
    "cosh": ("cosh", 1),
    "tanh": ("tanh", 1),
    "arcsin": ("arcsin", 1),
    "arccos": ("arccos", 1),
    "arctan": ("arctan", 1),
    "asin": ("arcsin", 1),
    "acos": ("arccos", 1),
    "atan": ("arctan", 1),
    "arcsinh": ("arcsinh", 1),
    "arccosh": ("arccosh", 1),
    "arctanh": ("arctanh", 1),
    "asinh": ("arcsinh", 1),
    "acosh": ("arccosh", 1),
    "atanh": ("arctanh", 1),
    "arctan2": ("arctan2", 2),
    "atan2": ("arctan2", 2),
    "hypot": ("hypot", 2),
    "pow": ("power", 2),
    "min": ("minimum", 2),
    "max": ("maximum", 2),
}

_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_ALLOWED_LIST = ", ".join(_FUNCTIONS)

# Binary operators that are refused, with the reason shown to the user.
_REFUSED_BINOPS: dict[type[ast.operator], str] = {
    ast.BitXor: "'^' is not allowed (in Python it is bitwise xor); use '**' for powers",
    ast.FloorDiv: "floor division '//' is not allowed (not differentiable)",
    ast.Mod: "modulo '%' is not allowed (not differentiable)",
    ast.MatMult: "matrix multiplication '@' is not allowed",
    ast.BitOr: "bitwise operator '|' is not allowed",
    ast.BitAnd: "bitwise operator '&' is not allowed",
    ast.LShift: "shift operator '<<' is not allowed",
    ast.RShift: "shift operator '>>' is not allowed",
}

# Expression nodes that are refused outright, with what to call them in the message.
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "boolean operators 'and'/'or' are not allowed",
    ast.IfExp: "conditional expressions ('a if b else c') are not allowed",
    ast.NamedExpr: "assignment expressions (':=') are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Set: "sets are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}

_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron "
    "rho sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma "
    "Upsilon Phi Psi Omega".split()
)

Evaluator = Callable[[Sequence[Any]], Any]


# --------------------------------------------------------------------------- errors


def _where(node_or_line: ast.AST | int, col: int | None = None, *, multiline: bool) -> str:
    """``"at column C"`` (or ``"at line L, column C"`` for multi-line text), 1-based."""
    if isinstance(node_or_line, ast.AST):
        line = getattr(node_or_line, "lineno", 1)
        col = getattr(node_or_line, "col_offset", 0) + 1
    else:
        line = node_or_line
    return f"at line {line}, column {col}" if multiline else f"at column {col}"


def _is_multiline(text: str) -> bool:
    return "\n" in text.strip()


def _snippet(text: str, node: ast.AST) -> str:
    """The source of ``node`` (shortened), for error messages."""
    src = ast.get_source_segment(text, node) or type(node).__name__
    src = " ".join(src.split())
    return src if len(src) <= 40 else src[:37] + "..."


def _refuse(text: str, node: ast.AST, what: str) -> ValueError:
    """A ValueError naming ``what`` is wrong, the offending source and its column."""
    where = _where(node, multiline=_is_multiline(text))
    return ValueError(f"{what}: {_snippet(text, node)!r} {where}")


# --------------------------------------------------------------------------- checks


def _check_text(text: Any) -> None:
    """Cheap checks on the raw text, before ``ast.parse`` sees it."""
    if not isinstance(text, str):
        raise TypeError(f"a formula must be a str, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"formula is too long: {len(text)} characters (at most {MAX_LENGTH})")
    if not text.strip():
        raise ValueError("formula is empty")
    multiline = _is_multiline(text)
    line, col, depth = 1, 0, 0
    for ch in text:
        col += 1
        # ASCII only: keeps columns simple and avoids look-alike Unicode identifiers that
        # Python would silently normalize (e.g. fullwidth 'ｓｉｎ' -> 'sin').
        if not (" " <= ch <= "~" or ch in "\t\n"):
            where = _where(line, col, multiline=multiline)
            raise ValueError(f"character {ch!r} is not allowed {where} (ASCII only)")
        if ch == "\n":
            line, col = line + 1, 0
        elif ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                where = _where(line, col, multiline=multiline)
                raise ValueError(
                    f"formula is nested too deeply: more than {MAX_DEPTH} levels of "
                    f"brackets {where}"
                )
        elif ch in ")]}":
            depth -= 1


def _syntax_error(text: str, line: int, col: int, msg: str) -> ValueError:
    """A ValueError for a SyntaxError at (line, col), 1-based; col 0 means "at the end"."""
    lines = text.split("\n")
    line = min(max(line, 1), len(lines))
    line_text = lines[line - 1]
    col = col or len(line_text.rstrip()) + 1
    near = line_text[col - 1 : col + 9].strip()
    where = _where(line, col, multiline=_is_multiline(text))
    if near.startswith(";"):
        return ValueError(f"multiple statements (';') are not allowed {where}")
    context = f" near {near!r}" if near else " (unexpected end of formula)"
    detail = "" if msg.startswith("invalid syntax") else f": {msg}"
    return ValueError(f"syntax error {where}{context}{detail}")


def _parse_tree(text: str) -> ast.expr:
    """``ast.parse`` in eval mode, with every failure turned into a ValueError.

    Leading whitespace is stripped (eval mode calls it an indent) and node positions are
    shifted back, so columns and source segments refer to the original text.
    """
    body = text.lstrip()
    prefix = text[: len(text) - len(body)]
    dline = prefix.count("\n")
    dcol = len(prefix) - (prefix.rfind("\n") + 1)
    try:
        tree = ast.parse(body, mode="eval")
    except SyntaxError as err:
        line, col = err.lineno or 1, err.offset or 0
        if line == 1 and col:
            col += dcol
        raise _syntax_error(text, line + dline, col, err.msg) from None
    except (RecursionError, MemoryError):
        raise ValueError("formula is too complex to parse") from None
    except ValueError as err:  # e.g. null bytes in older Pythons
        raise ValueError(f"formula cannot be parsed: {err}") from None
    if dcol:
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) == 1:
                node.col_offset += dcol  # type: ignore[attr-defined]
            if getattr(node, "end_lineno", None) == 1:
                node.end_col_offset += dcol  # type: ignore[attr-defined]
    if dline:
        ast.increment_lineno(tree, dline)
    return tree.body


def _chain_group(node: ast.AST) -> int | None:
    """0 for ``+``/``-``, 1 for ``*``/``/`` BinOps (left-associative chains), else None."""
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return 0
        if isinstance(node.op, (ast.Mult, ast.Div)):
            return 1
    return None


def _check_size(text: str, body: ast.expr) -> None:
    """Refuse more than MAX_NODES expression nodes or nesting deeper than MAX_DEPTH.

    Iterative, so a hostile tree cannot exhaust the Python stack here. The left operand of
    a chain ``a + b - c`` stays on its parent's level: long sums are flat, not deep.
    """
    count = 0
    stack: list[tuple[ast.AST, int]] = [(body, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, ast.expr):
            count += 1
            if count > MAX_NODES:
                raise ValueError(f"formula is too large: more than {MAX_NODES} parts")
            if depth > MAX_DEPTH:
                where = _where(node, multiline=_is_multiline(text))
                raise ValueError(f"formula is nested too deeply: depth over {MAX_DEPTH} {where}")
        group = _chain_group(node)
        for child in ast.iter_child_nodes(node):
            same_chain = group is not None and child is node.left and _chain_group(child) == group
            stack.append((child, depth if same_chain else depth + 1))


def _check_name(text: str, node: ast.Name) -> None:
    """Refuse private/dunder names."""
    if node.id.startswith("_"):
        raise _refuse(text, node, "names starting with '_' are not allowed")


def _check_number(text: str, node: ast.Constant) -> float:
    """The float value of an int or float literal; anything else is refused."""
    value = node.value
    if isinstance(value, bool):
        raise _refuse(text, node, "booleans are not allowed")
    if value is None:
        raise _refuse(text, node, "None is not allowed")
    if isinstance(value, complex):
        raise _refuse(text, node, "complex numbers are not allowed")
    if isinstance(value, str):
        raise _refuse(text, node, "strings are not allowed")
    if isinstance(value, bytes):
        raise _refuse(text, node, "bytes are not allowed")
    if not isinstance(value, (int, float)):
        raise _refuse(text, node, "this literal is not allowed")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _refuse(text, node, "number is too large for float64")
    return number


# --------------------------------------------------------------------------- compiling


def _jnp() -> Any:
    import jax.numpy as jnp

    return jnp


def _constant(value: float) -> Evaluator:
    # A Python float stays weakly typed, so float32 inputs stay float32.
    return lambda v: value


def _variable(index: int) -> Evaluator:
    return lambda v: v[index]


def _negate(operand: Evaluator) -> Evaluator:
    neg = _jnp().negative
    return lambda v: neg(operand(v))


def _chain(first: Evaluator, rest: list[tuple[Callable[[Any, Any], Any], Evaluator]]) -> Evaluator:
    """``first op1 e1 op2 e2 ...`` evaluated left to right in a loop, not by recursion."""

    def evaluate(v: Sequence[Any]) -> Any:
        acc = first(v)
        for op, operand in rest:
            acc = op(acc, operand(v))
        return acc

    return evaluate


def _power(base: Evaluator, exponent: Evaluator, literal: float | None) -> Evaluator:
    """``base ** exponent``; a small integer literal exponent uses exact repeated products."""
    if literal is not None and literal.is_integer() and abs(literal) <= 64:
        from jax import lax

        n = int(literal)
        jnp = _jnp()
        # integer_pow needs an array operand (the base may be a Python float constant).
        return lambda v: lax.integer_pow(jnp.asarray(base(v)), n)
    power = _jnp().power
    return lambda v: power(base(v), exponent(v))


def _call(fun: Callable[..., Any], args: list[Evaluator]) -> Evaluator:
    if len(args) == 1:
        (a,) = args
        return lambda v: fun(a(v))
    a, b = args
    return lambda v: fun(a(v), b(v))


def _literal_value(node: ast.expr) -> float | None:
    """The value of a literal such as ``2`` or ``-3`` (no evaluation of anything else)."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        try:
            return sign * float(node.value)
        except OverflowError:
            return None
    return None


class _Compiler:
    """Walks a validated-size tree against the whitelist and builds the evaluator."""

    def __init__(self, text: str, index: dict[str, int] | None) -> None:
        self.text = text
        self.index = index  # None: collect names only (first pass)
        self.names: list[str] = []

    def refuse(self, node: ast.AST, what: str) -> ValueError:
        return _refuse(self.text, node, what)

    def build(self, node: ast.expr) -> Evaluator:
        if isinstance(node, ast.Constant):
            return _constant(_check_number(self.text, node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        what = _REFUSED_NODES.get(type(node), f"{type(node).__name__} is not allowed")
        raise self.refuse(node, what)

    def name(self, node: ast.Name) -> Evaluator:
        _check_name(self.text, node)
        if node.id in _CONSTANTS:
            return _constant(_CONSTANTS[node.id])
        if node.id in _FUNCTIONS:
            raise self.refuse(node, f"function '{node.id}' must be called, as in {node.id}(x)")
        if node.id not in self.names:
            self.names.append(node.id)
        if self.index is None:
            return _constant(0.0)
        if node.id not in self.index:
            where = _where(node, multiline=_is_multiline(self.text))
            raise ValueError(
                f"unknown variable '{node.id}' {where}; variables are {tuple(self.index)}"
            )
        return _variable(self.index[node.id])

    def unary(self, node: ast.UnaryOp) -> Evaluator:
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return _negate(self.build(node.operand))
        if isinstance(node.op, ast.Not):
            raise self.refuse(node, "'not' is not allowed")
        raise self.refuse(node, "bitwise '~' is not allowed")

    def binary(self, node: ast.BinOp) -> Evaluator:
        jnp = _jnp()
        ops: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
            ast.Add: jnp.add,
            ast.Sub: jnp.subtract,
            ast.Mult: jnp.multiply,
            ast.Div: jnp.true_divide,  # jnp, not '/': 1/0 gives inf, not ZeroDivisionError
        }
        if type(node.op) in _REFUSED_BINOPS:
            raise self.refuse(node, _REFUSED_BINOPS[type(node.op)])
        if isinstance(node.op, ast.Pow):
            base, exponent = self.build(node.left), self.build(node.right)
            return _power(base, exponent, _literal_value(node.right))
        # Unroll the left spine of a chain like a + b - c so long sums do not recurse.
        group = _chain_group(node)
        spine: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and _chain_group(current) == group:
            spine.append(current)
            current = current.left
        first = self.build(current)
        rest = [(ops[type(b.op)], self.build(b.right)) for b in reversed(spine)]
        return _chain(first, rest)

    def call(self, node: ast.Call) -> Evaluator:
        if not isinstance(node.func, ast.Name):
            # Name the real culprit first: in 'a.b()' it is the attribute access.
            self.build(node.func)
            raise self.refuse(node, "only named functions can be called")
        name = node.func.id
        _check_name(self.text, node.func)
        if name in _CONSTANTS:
            raise self.refuse(node, f"'{name}' is a constant and cannot be called")
        if name not in _FUNCTIONS:
            where = _where(node, multiline=_is_multiline(self.text))
            raise ValueError(f"unknown function '{name}' {where}; allowed: {_ALLOWED_LIST}")
        for kw in node.keywords:
            what = (
                "**kwargs are not allowed"
                if kw.arg is None
                else "keyword arguments are not allowed"
            )
            raise self.refuse(kw, what)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg, "*args are not allowed")
        attr, arity = _FUNCTIONS[name]
        if len(node.args) != arity:
            plural = "argument" if arity == 1 else "arguments"
            where = _where(node, multiline=_is_multiline(self.text))
            raise ValueError(
                f"function '{name}' takes {arity} {plural}, got {len(node.args)} {where}"
            )
        args = [self.build(a) for a in node.args]
        return _call(getattr(_jnp(), attr), args)


# --------------------------------------------------------------------------- variables


def _natural_key(name: str) -> list[Any]:
    """Sort key that puts x2 before x10 (plain alphabetical otherwise)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _check_variables(variables: Any) -> tuple[str, ...]:
    """Validate an explicit ``variables=`` list."""
    if isinstance(variables, str):
        raise TypeError("variables must be a sequence of names, not a single str")
    names = tuple(variables)
    seen: set[str] = set()
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"variable names must be str, got {type(name).__name__}")
        if not (name.isascii() and name.isidentifier()) or keyword.iskeyword(name):
            raise ValueError(f"invalid variable name {name!r}")
        if name.startswith("_"):
            raise ValueError(f"variable names cannot start with '_': {name!r}")
        if name in _FUNCTIONS or name in _CONSTANTS:
            raise ValueError(f"{name!r} is a function or constant name, not a variable")
        if name in seen:
            raise ValueError(f"duplicate variable name {name!r}")
        seen.add(name)
    return names


# --------------------------------------------------------------------------- LaTeX


_LATEX_FUNCS = {
    "sin", "cos", "tan", "exp", "log", "sinh", "cosh", "tanh", "arcsin", "arccos", "arctan",
    "min", "max",
}  # fmt: skip
_LATEX_ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}


def _latex_name(name: str) -> str:
    base, _, sub = name.partition("_")
    if not sub and (m := re.fullmatch(r"([A-Za-z]+)(\d+)", base)):
        base, sub = m.groups()  # x2 -> x_{2}
    base_tex = f"\\{base}" if base in _GREEK else base if len(base) == 1 else rf"\mathrm{{{base}}}"
    if not sub:
        return base_tex
    sub = sub.replace("_", r"\_")
    return f"{base_tex}_{{{sub}}}"


def _latex_number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    s = repr(value)
    if "e" in s:
        mantissa, exp = s.split("e")
        return rf"{mantissa} \times 10^{{{int(exp)}}}"
    return s


def _precedence(node: ast.expr) -> int:
    if isinstance(node, ast.BinOp):
        return {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2}.get(type(node.op), 4)
    if isinstance(node, ast.UnaryOp):
        return 3
    return 5


def _paren(tex: str) -> str:
    return rf"\left({tex}\right)"


def _latex(node: ast.expr) -> str:
    """LaTeX for a validated tree (depth is bounded, so recursion is safe)."""
    if isinstance(node, ast.Constant):
        return _latex_number(node.value)
    if isinstance(node, ast.Name):
        return r"\pi" if node.id == "pi" else _latex_name(node.id)
    if isinstance(node, ast.UnaryOp):
        inner = _latex(node.operand)
        inner = _paren(inner) if _precedence(node.operand) < 3 else inner
        return ("-" if isinstance(node.op, ast.USub) else "+") + inner
    if isinstance(node, ast.BinOp):
        return _latex_binop(node.op, node.left, node.right)
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _latex_call(node.func.id, node.args)


def _latex_binop(op: ast.operator, left: ast.expr, right: ast.expr) -> str:
    lt, rt = _latex(left), _latex(right)
    if isinstance(op, ast.Div):
        return rf"\frac{{{lt}}}{{{rt}}}"
    if isinstance(op, ast.Pow):
        base = _paren(lt) if _precedence(left) <= 4 else lt
        return f"{base}^{{{rt}}}"
    prec = 1 if isinstance(op, (ast.Add, ast.Sub)) else 2
    if _precedence(left) < prec:
        lt = _paren(lt)
    # Right operand: keep grouping for '-', and bracket a leading sign (a + -b).
    if (
        _precedence(right) < prec
        or isinstance(right, ast.UnaryOp)
        or (isinstance(op, ast.Sub) and _precedence(right) == prec)
    ):
        rt = _paren(rt)
    symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: r"\cdot"}[type(op)]
    return f"{lt} {symbol} {rt}"


def _latex_call(name: str, args: list[ast.expr]) -> str:
    texs = [_latex(a) for a in args]
    name = _LATEX_ALIASES.get(name, name)
    if name == "sqrt":
        return rf"\sqrt{{{texs[0]}}}"
    if name == "cbrt":
        return rf"\sqrt[3]{{{texs[0]}}}"
    if name == "abs":
        return rf"\left|{texs[0]}\right|"
    if name == "pow":
        return _latex_binop(ast.Pow(), args[0], args[1])
    if name in ("log10", "log2"):
        return rf"\log_{{{name[3:]}}}" + _paren(texs[0])
    head = f"\\{name}" if name in _LATEX_FUNCS else rf"\operatorname{{{name}}}"
    return head + _paren(", ".join(texs))


# --------------------------------------------------------------------------- public API


class Expression:
    """A formula compiled to a JAX function of one vector argument.

    Build one with :func:`parse` (or ``Expression(text, variables)``, which is the same).
    Immutable; equal (and equally hashed) when text and variables are equal.

    Attributes:
        text: The formula as given.
        variables: Variable names in argument order: ``x[i]`` is ``variables[i]``.
    """

    __slots__ = ("_text", "_variables", "_fn", "_tree", "__weakref__")

    def __init__(self, text: str, variables: Sequence[str] | None = None) -> None:
        _check_text(text)
        body = _parse_tree(text)
        _check_size(text, body)
        # First pass: validate everything and collect the names in order of use.
        first = _Compiler(text, None)
        first.build(body)
        if variables is None:
            names = tuple(sorted(first.names, key=_natural_key))
        else:
            names = _check_variables(variables)
        compiler = _Compiler(text, {n: i for i, n in enumerate(names)})
        fn = compiler.build(body)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_variables", names)
        object.__setattr__(self, "_fn", fn)
        object.__setattr__(self, "_tree", body)

    @property
    def text(self) -> str:
        """The formula as given."""
        return self._text

    @property
    def variables(self) -> tuple[str, ...]:
        """Variable names in argument order."""
        return self._variables

    @property
    def dim(self) -> int:
        """Number of variables (the length of ``x``)."""
        return len(self._variables)

    @property
    def latex(self) -> str:
        """A simple LaTeX rendering, e.g. ``x^{2} + 3 \\cdot y^{2}``."""
        return _latex(self._tree)

    def __call__(self, x: Any) -> Any:
        """Evaluate at ``x``: a 1-D array of length ``dim`` (a scalar when ``dim == 1``).

        Returns:
            A JAX scalar with ``x``'s floating dtype. Use :func:`jax.vmap` for batches.
        """
        jnp = _jnp()
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            x = x.astype(jnp.result_type(float))
        n = self.dim
        if x.ndim == 0 and n == 1:
            args: tuple[Any, ...] = (x,)
        elif x.shape == (n,):
            args = tuple(x[i] for i in range(n))
        else:
            raise ValueError(
                f"{self!r} expects x of shape ({n},) for variables {self._variables}, "
                f"got shape {tuple(x.shape)}"
            )
        return jnp.asarray(self._fn(args), dtype=x.dtype)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expression is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Expression is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self._text, self._variables) == (other._text, other._variables)

    def __hash__(self) -> int:
        return hash((Expression, self._text, self._variables))

    def __repr__(self) -> str:
        return f"Expression({self._text!r}, variables={self._variables!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Re-parse on unpickling: closures cannot be pickled, the text can.
        return (Expression, (self._text, self._variables))


def parse(text: str, variables: Sequence[str] | None = None) -> Expression:
    """Compile a formula such as ``"x**2 + 3*y**2 + sin(x*y)"`` safely to a JAX function.

    Args:
        text: The formula (untrusted input is fine: it is never evaluated as Python).
        variables: Argument order. Defaults to the names used, sorted (x2 before x10).
            Every name used must be listed; extra names are allowed.

    Returns:
        An :class:`Expression`; ``expr(x)`` evaluates it with ``x[i]`` bound to
        ``expr.variables[i]``; it works with :func:`jax.grad` and :func:`jax.jit`.

    Raises:
        TypeError: ``text`` is not a str, or ``variables`` is malformed.
        ValueError: The formula is empty, too long, too deep, malformed, uses anything
            outside the whitelist, or uses a name missing from ``variables``; the message
            names the offending part and its column.
    """
    return Expression(text, variables)
