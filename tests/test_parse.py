"""Safe formula parsing: valid formulas compile to JAX functions, hostile text is refused."""

import ast
import math
import pickle
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import descend  # noqa: F401  (turns on float64)
from descend.functions.expr import Expression, parse

# --------------------------------------------------------------------------- valid formulas


def test_value_matches_numpy():
    e = parse("x**2 + 3*y**2 + sin(x*y)")
    x, y = 1.3, -0.7
    assert e.variables == ("x", "y")
    assert e.dim == 2
    np.testing.assert_allclose(e(np.array([x, y])), x**2 + 3 * y**2 + np.sin(x * y), rtol=1e-14)
    assert e(jnp.array([x, y])).dtype == jnp.float64


@pytest.mark.parametrize(
    "text, point, grad",
    [
        (
            "x**2 + 3*y**2 + sin(x*y)",
            (1.3, -0.7),
            lambda x, y: [2 * x + y * np.cos(x * y), 6 * y + x * np.cos(x * y)],
        ),
        (
            "exp(-x**2 - y**2)",
            (0.4, -1.1),
            lambda x, y: [-2 * x * np.exp(-(x**2) - y**2), -2 * y * np.exp(-(x**2) - y**2)],
        ),
        (
            "sqrt(x**2 + y**2)",
            (3.0, -4.0),
            lambda x, y: [x / 5.0, y / 5.0],
        ),
        (
            "(1 - x)**2 + 100*(y - x**2)**2",
            (-1.2, 1.0),
            lambda x, y: [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)],
        ),
        (
            "log(1 + x**2) * cos(y) / (2 + tanh(y))",
            (0.8, 0.3),
            lambda x, y: [
                2 * x / (1 + x**2) * np.cos(y) / (2 + np.tanh(y)),
                np.log(1 + x**2)
                * (
                    -np.sin(y) / (2 + np.tanh(y))
                    - np.cos(y) * (1 - np.tanh(y) ** 2) / (2 + np.tanh(y)) ** 2
                ),
            ],
        ),
    ],
)
def test_gradient_matches_closed_form(text, point, grad):
    e = parse(text)
    g = jax.grad(e)(jnp.array(point))
    np.testing.assert_allclose(g, grad(*point), rtol=1e-12, atol=1e-14)


def test_hessian_and_jit():
    e = parse("(1 - x)**2 + 100*(y - x**2)**2")
    np.testing.assert_allclose(jax.hessian(e)(jnp.array([1.0, 1.0])), [[802, -400], [-400, 200]])
    assert float(jax.jit(e)(jnp.array([1.0, 1.0]))) == 0.0
    np.testing.assert_allclose(jax.jit(jax.grad(e))(jnp.array([0.0, 0.0])), [-2.0, 0.0])
    np.testing.assert_allclose(jax.vmap(e)(jnp.array([[1.0, 1.0], [0.0, 0.0]])), [0.0, 1.0])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("sin(x) + cos(x) + tan(x)", lambda x: np.sin(x) + np.cos(x) + np.tan(x)),
        (
            "exp(x) * log(x) - log10(x) + log2(x)",
            lambda x: np.exp(x) * np.log(x) - np.log10(x) + np.log2(x),
        ),
        (
            "log1p(x) + expm1(x) + sqrt(x) + cbrt(x)",
            lambda x: np.log1p(x) + np.expm1(x) + np.sqrt(x) + np.cbrt(x),
        ),
        ("abs(-x) + sign(-x)", lambda x: abs(x) - 1.0),
        ("sinh(x) + cosh(x) + tanh(x)", lambda x: np.sinh(x) + np.cosh(x) + np.tanh(x)),
        ("arcsin(x) + arccos(x) + arctan(x)", lambda x: np.arcsin(x) + np.arccos(x) + np.arctan(x)),
        ("asin(x) * acos(x) * atan(x)", lambda x: np.arcsin(x) * np.arccos(x) * np.arctan(x)),
        (
            "arcsinh(x) + arccosh(1 + x) + arctanh(x)",
            lambda x: np.arcsinh(x) + np.arccosh(1 + x) + np.arctanh(x),
        ),
        ("arctan2(x, -1) + atan2(-x, 2)", lambda x: np.arctan2(x, -1) + np.arctan2(-x, 2)),
        ("min(x, 0.2) + max(x, 0.2)", lambda x: min(x, 0.2) + max(x, 0.2)),
        ("pow(x, 2.5) + hypot(x, 2)", lambda x: x**2.5 + np.hypot(x, 2)),
        ("x**-2 + x**0.5 + 2**x + (-x)**3", lambda x: x**-2 + x**0.5 + 2**x + (-x) ** 3),
        ("-x + +x - -x", lambda x: x),
        ("1/x/2 - 3*x*2", lambda x: 1 / x / 2 - 6 * x),
        ("pi * x + e", lambda x: math.pi * x + math.e),
        ("1_000 * x + 0x10 + 1e-3 + .5", lambda x: 1000 * x + 16 + 1e-3 + 0.5),
    ],
)
def test_every_function_matches_numpy(text, expected):
    e = parse(text)
    assert e.variables == ("x",)
    np.testing.assert_allclose(e(0.35), expected(0.35), rtol=1e-13)
    np.testing.assert_allclose(e(jnp.array([0.35])), expected(0.35), rtol=1e-13)


def test_constants_pi_and_e():
    assert parse("pi").variables == ()
    assert float(parse("pi")(jnp.zeros(0))) == math.pi
    assert float(parse("e**x")(1.0)) == pytest.approx(math.e, rel=1e-15)
    with pytest.raises(ValueError, match="'pi' is a function or constant name"):
        parse("x", variables=["x", "pi"])


def test_variables_sorted_and_explicit_order():
    assert parse("b + a*c").variables == ("a", "b", "c")
    # Numbered names in numeric order: x2 before x10.
    assert parse("x10 + x2 + x1").variables == ("x1", "x2", "x10")
    e = parse("x - 2*y", variables=["y", "x"])
    assert e.variables == ("y", "x")
    assert float(e(jnp.array([1.0, 5.0]))) == 3.0
    # Extra variables are allowed and ignored by the formula.
    e = parse("x", variables=("x", "y", "z"))
    assert e.dim == 3 and float(e(jnp.array([4.0, 5.0, 6.0]))) == 4.0
    np.testing.assert_allclose(jax.grad(e)(jnp.ones(3)), [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "variables, exc, match",
    [
        (["x"], ValueError, r"unknown variable 'y' at column 5; variables are \('x',\)"),
        (["x", "x", "y"], ValueError, "duplicate variable name 'x'"),
        (["x", "y", "sin"], ValueError, "'sin' is a function or constant name"),
        (["x", "y", "_z"], ValueError, "cannot start with '_'"),
        (["x", "y", "1a"], ValueError, "invalid variable name '1a'"),
        (["x", "y", "lambda"], ValueError, "invalid variable name 'lambda'"),
        (["x", "y", "a.b"], ValueError, r"invalid variable name 'a\.b'"),
        (["x", "y", 3], TypeError, "variable names must be str"),
        ("xy", TypeError, "not a single str"),
    ],
)
def test_bad_variables(variables, exc, match):
    with pytest.raises(exc, match=match):
        parse("x + y", variables=variables)


def test_call_shapes_and_dtypes():
    e = parse("x * y")
    assert e(jnp.array([2.0, 3.0], dtype=jnp.float32)).dtype == jnp.float32
    assert float(e([2, 3])) == 6.0  # ints are promoted to float
    assert e([2, 3]).dtype == jnp.float64
    with pytest.raises(ValueError, match=r"expects x of shape \(2,\).*got shape \(3,\)"):
        e(jnp.ones(3))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        e(1.0)
    assert float(parse("x**2")(3.0)) == 9.0  # scalar for one variable


def test_extreme_values_do_not_hang_or_raise():
    assert math.isinf(float(parse("9**9**9")(jnp.zeros(0))))
    assert math.isinf(float(parse("1/0")(jnp.zeros(0))))
    assert math.isinf(float(parse("10.0**400")(jnp.zeros(0))))
    assert math.isinf(float(parse("(x-x)**-1")(1.0)))


def test_long_flat_sum_is_not_too_deep():
    text = " + ".join(f"x{i}**2" for i in range(100))
    e = parse(text)
    assert e.dim == 100
    assert float(e(jnp.ones(100))) == 100.0


def test_whitespace_and_continuations():
    assert float(parse("  x +\t1 ")(1.0)) == 2.0
    assert float(parse("(x +\n 1)")(1.0)) == 2.0
    assert float(parse("x + \\\n 1")(1.0)) == 2.0


def test_repr_equality_hash_immutability_pickle():
    e = parse("x**2 + y")
    assert repr(e) == "Expression('x**2 + y', variables=('x', 'y'))"
    assert e.text == "x**2 + y"
    assert e == parse("x**2 + y") and hash(e) == hash(parse("x**2 + y"))
    assert e != parse("x**2 + y", variables=("y", "x"))
    assert e == Expression("x**2 + y")
    assert len({e, parse("x**2 + y"), parse("x**2 + y ")}) == 2
    with pytest.raises(AttributeError):
        e.text = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        e._fn = None  # type: ignore[misc]
    back = pickle.loads(pickle.dumps(e))
    assert back == e and float(back(jnp.array([2.0, 1.0]))) == 5.0


@pytest.mark.parametrize(
    "text, latex",
    [
        ("x**2 + 3*y**2", r"x^{2} + 3 \cdot y^{2}"),
        ("sin(x*y) / sqrt(x)", r"\frac{\sin\left(x \cdot y\right)}{\sqrt{x}}"),
        ("-(a + b)**2 - (a - b)", r"-\left(a + b\right)^{2} - \left(a - b\right)"),
        ("abs(alpha) * pi + x_1 + x2", r"\left|\alpha\right| \cdot \pi + x_{1} + x_{2}"),
        ("(x**y)**z + log10(x)", r"\left(x^{y}\right)^{z} + \log_{10}\left(x\right)"),
    ],
)
def test_latex(text, latex):
    assert parse(text).latex == latex


def test_module_never_evaluates_text():
    """Static guard: the parser module calls no eval/exec/compile/__import__/sympify."""
    source = Path(__file__).parents[1] / "src" / "descend" / "functions" / "expr.py"
    tree = ast.parse(source.read_text())
    banned = {"eval", "exec", "compile", "__import__", "sympify"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", "")
            assert name not in banned, ast.unparse(node)


# --------------------------------------------------------------------------- hostile input

HOSTILE = [
    (
        "__import__('os').system('ls')",
        r"attribute access is not allowed: \"__import__\('os'\)\.system\" at column 1",
    ),
    (
        "().__class__.__bases__[0].__subclasses__()",
        r"attribute access is not allowed: .*__subclasses__",
    ),
    ("x.real", r"attribute access is not allowed: 'x\.real' at column 1"),
    ("x + y.imag", r"attribute access is not allowed: 'y\.imag' at column 5"),
    ("sin.__call__(x)", r"attribute access is not allowed: 'sin\.__call__'"),
    ("open('f')", r"unknown function 'open' at column 1; allowed: sin, cos"),
    ("exec('1')", r"unknown function 'exec' at column 1"),
    ("eval('1')", r"unknown function 'eval' at column 1"),
    ("globals()", r"unknown function 'globals' at column 1"),
    ("getattr(x, 'a')", r"unknown function 'getattr'"),
    ("x + foo(y)", r"unknown function 'foo' at column 5"),
    ("x(y)", r"unknown function 'x' at column 1"),
    ("(1)(2)", r"only named functions can be called: '\(1\)\(2\)' at column 1"),
    ("(lambda: 0)()", r"lambda is not allowed: 'lambda: 0' at column 2"),
    ("lambda: 1", r"lambda is not allowed: 'lambda: 1' at column 1"),
    ("[x for x in y]", r"comprehensions are not allowed: '\[x for x in y\]' at column 1"),
    ("{x: 1 for x in y}", r"comprehensions are not allowed"),
    ("sum(x for x in y)", r"unknown function 'sum'"),
    ("(x for x in y)", r"generator expressions are not allowed"),
    ("'abc'", r"strings are not allowed: \"'abc'\" at column 1"),
    ("x + 'abc'", r"strings are not allowed: \"'abc'\" at column 5"),
    ("sin('abc')", r"strings are not allowed"),
    ("f'{x}'", r"f-strings are not allowed"),
    ("b'x'", r"bytes are not allowed: \"b'x'\" at column 1"),
    (
        "x if y else z",
        r"conditional expressions \('a if b else c'\) are not allowed: 'x if y else z'",
    ),
    ("x[0]", r"subscripts are not allowed: 'x\[0\]' at column 1"),
    ("sin(x=1)", r"keyword arguments are not allowed: 'x=1' at column 5"),
    ("sin(*x)", r"\*args are not allowed: '\*x' at column 5"),
    ("sin(**x)", r"\*\*kwargs are not allowed: '\*\*x' at column 5"),
    ("{1: 2}", r"dicts are not allowed: '\{1: 2\}'"),
    ("{x}", r"sets are not allowed"),
    ("[x]", r"lists are not allowed"),
    ("(x, y)", r"tuples are not allowed: '\(x, y\)' at column 1"),
    ("x, y", r"tuples are not allowed"),
    ("x < y", r"comparisons are not allowed: 'x < y' at column 1"),
    ("x == y", r"comparisons are not allowed"),
    ("x and y", r"boolean operators 'and'/'or' are not allowed: 'x and y'"),
    ("x or y", r"boolean operators"),
    ("not x", r"'not' is not allowed: 'not x' at column 1"),
    ("x @ y", r"matrix multiplication '@' is not allowed: 'x @ y'"),
    ("x // y", r"floor division '//' is not allowed \(not differentiable\)"),
    ("x % y", r"modulo '%' is not allowed \(not differentiable\)"),
    ("x ^ y", r"'\^' is not allowed .*use '\*\*' for powers: 'x \^ y' at column 1"),
    ("1 + x ^ 2", r"'\^' is not allowed"),
    ("x | y", r"bitwise operator '\|' is not allowed"),
    ("x & y", r"bitwise operator '&' is not allowed"),
    ("x << 1", r"shift operator '<<' is not allowed"),
    ("~x", r"bitwise '~' is not allowed: '~x'"),
    ("(y := 2)", r"assignment expressions \(':='\) are not allowed: 'y := 2' at column 2"),
    ("await x", r"'await' is not allowed"),
    ("(yield x)", r"'yield' is not allowed"),
    ("x; y", r"multiple statements \(';'\) are not allowed at column 2"),
    ("import os", r"syntax error at column 1 near 'import os'"),
    ("x = 1", r"syntax error at column 3 near '= 1'"),
    ("x\ny", r"syntax error at line 2, column 1 near 'y'"),
    ("x +", r"syntax error at column 4 \(unexpected end of formula\)"),
    ("2 ** ** 3", r"syntax error at column 6 near '\*\* 3'"),
    ("sin(x", r"syntax error at column 4 near '\(x'.*never closed"),
    ("__builtins__", r"names starting with '_' are not allowed: '__builtins__' at column 1"),
    ("_x + 1", r"names starting with '_' are not allowed: '_x' at column 1"),
    ("__import__('os')", r"names starting with '_' are not allowed: '__import__'"),
    ("1j * x", r"complex numbers are not allowed: '1j' at column 1"),
    ("True + x", r"booleans are not allowed: 'True' at column 1"),
    ("None", r"None is not allowed: 'None' at column 1"),
    ("...", r"literal is not allowed: '\.\.\.'"),
    ("1e400 * x", r"number is too large for float64: '1e400' at column 1"),
    ("9" * 400, r"number is too large for float64"),
    ("sin", r"function 'sin' must be called, as in sin\(x\): 'sin' at column 1"),
    ("sin(x, y)", r"function 'sin' takes 1 argument, got 2 at column 1"),
    ("arctan2(x)", r"function 'arctan2' takes 2 arguments, got 1"),
    ("max(x, y, 1)", r"function 'max' takes 2 arguments, got 3"),
    ("cos()", r"function 'cos' takes 1 argument, got 0"),
    ("pi(x)", r"'pi' is a constant and cannot be called: 'pi\(x\)' at column 1"),
    ("e(2)", r"'e' is a constant and cannot be called"),
    ("", r"formula is empty"),
    ("   ", r"formula is empty"),
    ("\n\t", r"formula is empty"),
    ("x" * 2000, r"formula is too long: 2000 characters \(at most 1000\)"),
    (
        "(" * 200 + "x" + ")" * 200,
        r"nested too deeply: more than 50 levels of brackets at column 51",
    ),
    ("-" * 300 + "x", r"nested too deeply: depth over 50 at column 51"),
    ("x**" * 300 + "x", r"nested too deeply: depth over 50"),
    ("sin(" * 60 + "x" + ")" * 60, r"nested too deeply"),
    ("+".join(["x"] * 400), r"formula is too large: more than 500 parts"),
    ("\uff53\uff49\uff4e(x)", r"character '\uff53' is not allowed at column 1 \(ASCII only\)"),
    ("x + \u03c0", r"character '\u03c0' is not allowed at column 5"),
    ("x\x00", r"character '\\x00' is not allowed at column 2"),
    ("x\r\n+1", r"character '\\r' is not allowed"),
]


@pytest.mark.parametrize("text, match", HOSTILE, ids=[repr(t[:30]) for t, _ in HOSTILE])
def test_hostile_input_is_refused(text, match):
    with pytest.raises(ValueError, match=match):
        parse(text)


@pytest.mark.parametrize("value", [42, 1.5, None, b"x", ["x"], ast.parse("x", mode="eval")])
def test_non_str_is_type_error(value):
    with pytest.raises(TypeError, match="a formula must be a str, got"):
        parse(value)


def test_columns_count_leading_whitespace():
    with pytest.raises(ValueError, match=r"'x\.real' at column 3"):
        parse("  x.real")
    with pytest.raises(ValueError, match=r"'y\.z' at line 2, column 2"):
        parse("(x +\n y.z)")
    with pytest.raises(ValueError, match=r"syntax error at column 6"):
        parse("  x +")


# --------------------------------------------------------------------------- property tests

_POINT = st.floats(-1.5, 1.5, allow_nan=False)
_CONST = st.floats(-2.0, 2.0, allow_nan=False).map(lambda c: round(c, 3))

# (text, evaluator(x, y) in plain numpy)
Gen = tuple[str, object]


def _leaf() -> st.SearchStrategy:
    return st.one_of(
        st.just(("x", lambda x, y: x)),
        st.just(("y", lambda x, y: y)),
        _CONST.map(lambda c: (f"({c!r})", lambda x, y: c)),
        st.integers(1, 5).map(lambda k: (str(k), lambda x, y: float(k))),
    )


_UNARY = {
    "neg": (lambda t: f"-({t})", lambda v: -v),
    "sin": (lambda t: f"sin({t})", np.sin),
    "cos": (lambda t: f"cos({t})", np.cos),
    "tanh": (lambda t: f"tanh({t})", np.tanh),
    # Bounded arguments / positive operands keep exp, log, sqrt and '/' well-behaved.
    "expsin": (lambda t: f"exp(sin({t}))", lambda v: np.exp(np.sin(v))),
    "log": (lambda t: f"log(2 + sin({t}))", lambda v: np.log(2 + np.sin(v))),
    "sqrt": (lambda t: f"sqrt(1 + ({t})**2)", lambda v: np.sqrt(1 + v**2)),
    "square": (lambda t: f"({t})**2", lambda v: v**2),
}
_BINARY = {
    "+": (lambda a, b: f"({a}) + ({b})", lambda u, v: u + v),
    "-": (lambda a, b: f"({a}) - ({b})", lambda u, v: u - v),
    "*": (lambda a, b: f"({a}) * ({b})", lambda u, v: u * v),
    "/": (lambda a, b: f"({a}) / (2 + cos({b}))", lambda u, v: u / (2 + np.cos(v))),
}


@st.composite
def formulas(draw, depth: int = 3) -> Gen:
    """A random valid formula over x and y with its numpy evaluator."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(_leaf())
    if draw(st.booleans()):
        text_of, f = _UNARY[draw(st.sampled_from(sorted(_UNARY)))]
        t, g = draw(formulas(depth - 1))
        return text_of(t), lambda x, y: f(g(x, y))
    text_of, f = _BINARY[draw(st.sampled_from(sorted(_BINARY)))]
    (ta, ga), (tb, gb) = draw(formulas(depth - 1)), draw(formulas(depth - 1))
    return text_of(ta, tb), lambda x, y: f(ga(x, y), gb(x, y))


@settings(max_examples=100, deadline=None)
@given(formula=formulas(), x=_POINT, y=_POINT)
def test_random_formulas_match_numpy_and_finite_differences(formula, x, y):
    text, reference = formula
    e = parse(text, variables=("x", "y"))
    point = jnp.array([x, y])
    expected = reference(np.float64(x), np.float64(y))
    np.testing.assert_allclose(e(point), expected, rtol=1e-9, atol=1e-12)

    h = 1e-6
    fd = [
        (reference(x + h, y) - reference(x - h, y)) / (2 * h),
        (reference(x, y + h) - reference(x, y - h)) / (2 * h),
    ]
    np.testing.assert_allclose(jax.grad(e)(point), fd, rtol=1e-5, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("xy+-*/()^%.,;:'_ e1209sincoplambd[]{}<>=!")), max_size=40
    )
)
def test_random_text_parses_or_raises_value_error(text):
    """Arbitrary junk never escapes as anything but ValueError (and never hangs)."""
    try:
        e = parse(text)
    except ValueError as err:
        assert re.search(r"column \d+|empty|too long|too large|nested", str(err)), str(err)
    else:
        assert isinstance(e, Expression)
