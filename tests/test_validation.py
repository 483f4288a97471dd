"""kanlab.validation: the shared argument checks."""
import ast
import math
from fractions import Fraction

import numpy as np
import pytest

from kanlab import validation as v
from kanlab.validation import (check_index, check_int, check_optional_int, check_optional_real, check_positive_int,
                               check_real, is_int, is_real)

INTS = [0, 3, -2, np.int64(5), np.int32(-1), np.uint8(7), 10**30]
NOT_INTS = [True, False, np.bool_(True), 1.0, 2.5, np.float64(3.0), "3", None, [1], Fraction(3, 1)]


def test_module_imports_only_the_standard_library() -> None:
    with open(v.__file__) as fh:
        tree = ast.parse(fh.read())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {"." * node.level + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= {"__future__", "math", "numbers", "os", "sys", "typing"}, modules


@pytest.mark.parametrize("value", INTS)
def test_is_int_accepts_python_and_numpy_integers(value) -> None:
    assert is_int(value)
    out = check_int("n", value)
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("value", NOT_INTS)
def test_is_int_refuses_bools_floats_and_others(value) -> None:
    assert not is_int(value)
    with pytest.raises(ValueError, match=r"^n must be an int, got "):
        check_int("n", value)


def test_is_real() -> None:
    for good in (0, 1.5, -3, np.float32(0.25), np.int64(2), Fraction(1, 3), math.inf, math.nan):
        assert is_real(good)
    for bad in (True, np.bool_(False), 1j, "1.0", None, np.array([1.0])):
        assert not is_real(bad)


@pytest.mark.parametrize(
    "kwargs, allowed",
    [({}, "an int"), ({"low": 0}, "a non-negative int"), ({"low": 1}, "a positive int"),
     ({"low": 2}, "an int >= 2"), ({"high": 4}, "an int <= 4"), ({"low": -1, "high": 4}, "an int in [-1, 4]")],
)
def test_check_int_message_names_parameter_range_and_value(kwargs, allowed) -> None:
    with pytest.raises(ValueError) as info:
        check_int("steps", 9.5, **kwargs)
    assert str(info.value) == f"steps must be {allowed}, got 9.5"


def test_check_int_bounds_are_inclusive() -> None:
    assert check_int("k", 2, low=2, high=4) == 2 and check_int("k", 4, low=2, high=4) == 4
    for bad in (1, 5):
        with pytest.raises(ValueError, match=r"k must be an int in \[2, 4\], got " + str(bad)):
            check_int("k", bad, low=2, high=4)


def test_check_int_note_and_error_type() -> None:
    with pytest.raises(ValueError, match=r"^test_num must be a non-negative int \(0: no test split\), got -1$"):
        check_int("test_num", -1, low=0, note="0: no test split")
    with pytest.raises(TypeError, match="l must be an int, got 'a'"):
        check_int("l", "a", error=TypeError)


def test_check_optional_int() -> None:
    assert check_optional_int("batch_size", None, low=1) is None
    assert check_optional_int("batch_size", np.int16(8), low=1) == 8
    with pytest.raises(ValueError, match=r"^batch_size must be a positive int or None \(full batch\), got 0$"):
        check_optional_int("batch_size", 0, low=1, note="full batch")
    with pytest.raises(ValueError, match="or None"):
        check_optional_int("batch_size", True, low=1)


def test_check_positive_int_keeps_the_layer_message() -> None:
    assert check_positive_int("grid", np.int64(3)) == 3
    for bad in (0, -1, True, 2.0, None):
        with pytest.raises(ValueError, match=r"^grid_size \(grid\) must be a positive integer, got "):
            check_positive_int("grid_size (grid)", bad)


def test_check_real() -> None:
    assert check_real("lr", np.float32(0.5), low=0, low_inclusive=False) == 0.5
    assert type(check_real("x", 3)) is float
    cases = [
        (dict(low=0, low_inclusive=False), 0.0, "lr must be a positive number, got 0.0"),
        (dict(low=0), -1, "lr must be a non-negative number, got -1"),
        (dict(low=0, low_inclusive=False, high=1, high_inclusive=False), 1.0, "lr must be a number in (0, 1), got 1.0"),
        (dict(low=0, high=1), 1.5, "lr must be a number in [0, 1], got 1.5"),
        (dict(low=2, low_inclusive=False), 2, "lr must be a number > 2, got 2"),
        (dict(high=2, high_inclusive=False), 2, "lr must be a number < 2, got 2"),
        ({}, math.inf, "lr must be a finite number, got inf"),
        ({}, True, "lr must be a finite number, got True"),
        ({}, "1", "lr must be a finite number, got '1'"),
    ]
    for kwargs, value, message in cases:
        with pytest.raises(ValueError) as info:
            check_real("lr", value, **kwargs)
        assert str(info.value) == message


def test_check_real_nan_inf_and_huge_ints() -> None:
    for finite in (True, False):
        with pytest.raises(ValueError, match="nan"):
            check_real("tol", math.nan, finite=finite)
    assert check_real("tol", math.inf, low=0, finite=False) == math.inf
    with pytest.raises(ValueError, match="tol must be a non-negative number, got inf"):
        check_real("tol", math.inf, low=0)
    assert check_real("tol", 10**400, finite=False) == math.inf  # too large for a float: +inf, no OverflowError
    with pytest.raises(ValueError):
        check_real("tol", 10**400)  # finite by default: too large for a float
    with pytest.raises(ValueError):
        check_real("tol", -(10**400), low=0, finite=False)


def test_check_optional_real() -> None:
    assert check_optional_real("lr", None, low=0) is None
    with pytest.raises(ValueError, match=r"^lr must be a positive number or None \(1.0 for LBFGS\), got -1.0$"):
        check_optional_real("lr", -1.0, low=0, low_inclusive=False, note="1.0 for LBFGS")


def test_check_index() -> None:
    assert check_index("layer l", np.int64(1), 3) == 1
    for bad, n in ((3, 3), (-1, 3), (True, 3), (1.0, 3), (0, 0)):
        with pytest.raises(IndexError, match=rf"^layer l={bad!r} out of range \(0..{n - 1}\)$"):
            check_index("layer l", bad, n)
    with pytest.raises(IndexError, match=r"^node i=7 out of range for node layer 1 \(0..2\)$"):
        check_index("node i", 7, 3, where=" for node layer 1")
    with pytest.raises(IndexError, match=r"^layer 5 out of range \(0..1\)$"):
        check_index("layer", 5, 2, sep=" ")
    with pytest.raises(KeyError):
        check_index("key", 9, 2, error=KeyError)


def test_user_stacklevel_skips_every_kanlab_frame() -> None:
    """Called from a test file (outside kanlab) it is 1: the caller's own frame."""
    assert v.user_stacklevel() == 1
