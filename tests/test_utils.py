"""kanlab.utils: pykan's import path for create_dataset, SYMBOLIC_LIB, add_symbolic and ex_round."""
import pytest
import sympy as sp

from kanlab import utils


def test_utils_exports_pykans_names() -> None:
    assert set(utils.__all__) == {"SYMBOLIC_LIB", "add_symbolic", "create_dataset", "ex_round"}
    assert all(hasattr(utils, name) for name in utils.__all__)


def test_ex_round_rounds_to_decimals_as_pykan() -> None:
    a, b = sp.symbols("a b")
    expression = 3.14534242 * sp.exp(sp.sin(sp.pi * a) + b ** 2) - 2.32345402 + 2.0000001 * a
    rounded = utils.ex_round(expression, 2)
    assert rounded == 3.15 * sp.exp(sp.sin(sp.pi * a) + b ** 2) - 2.32 + 2.0 * a
    assert str(rounded) == "2.0*a + 3.15*exp(b**2 + sin(pi*a)) - 2.32"  # floats stay floats
    assert utils.ex_round(0.00012345 * a, 4) == 0.0001 * a  # decimals, not significant digits
    assert utils.ex_round(sp.sin(a), 3) == sp.sin(a)  # nothing to round
    try:
        from kan.utils import ex_round as pykan_ex_round  # the reference, where installed
    except ImportError:
        return
    assert str(rounded) == str(pykan_ex_round(expression, 2))


def test_ex_round_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="n_digit must be an int"):
        utils.ex_round(sp.Float(1.5) * sp.Symbol("a"), 1.5)
    with pytest.raises(TypeError, match="sympy expression"):
        utils.ex_round("1.2345*x", 2)
