"""Tests of krylovid._validation (DESIGN §6): bad input raises a ValueError /
TypeError that names the argument; good input passes through with its values
intact.  Hypothesis drives the property tests with small example counts.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from krylovid._validation import check_array, check_finite, check_in_range, check_int, check_positive
from krylovid.backend import array_namespace, asarray, is_strict, to_numpy

SETTINGS = settings(max_examples=40, deadline=None)

names = st.from_regex(r"arg_[a-z]{1,6}", fullmatch=True)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
bad_values = st.sampled_from([np.nan, np.inf, -np.inf])


@st.composite
def arrays_with_one_bad_entry(draw):
    x = draw(hnp.arrays(np.float64, shapes, elements=finite))
    flat = draw(st.integers(0, x.size - 1))
    x.flat[flat] = draw(bad_values)
    return x


def _raises_naming(exc, name):
    return pytest.raises(exc, match=re.escape(name))


# ----------------------------------------------------------------------------- check_array
@SETTINGS
@given(x=arrays_with_one_bad_entry(), name=names, as_list=st.booleans(), f32=st.booleans())
def test_nan_or_inf_anywhere_raises_valueerror_naming_argument(x, name, as_list, f32):
    arg = x.astype(np.float32) if f32 else x
    arg = arg.tolist() if as_list else arg
    with _raises_naming(ValueError, name):
        check_array(arg, name)
    with _raises_naming(ValueError, name):
        check_finite(np.asarray(arg), name)


@SETTINGS
@given(x=hnp.arrays(np.float64, shapes, elements=finite), name=names)
def test_finite_arrays_pass_with_values_unchanged(x, name):
    out = check_array(x, name)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_array_equal(out, x)
    out32 = check_array(x.astype(np.float32), name)
    assert out32.dtype == np.float32  # float32 is kept
    np.testing.assert_array_equal(check_array(x.tolist(), name), x)
    assert check_array(x, name, finite=False) is not None


@SETTINGS
@given(x=hnp.arrays(np.int64, shapes, elements=st.integers(-1000, 1000)), name=names)
def test_integer_input_becomes_float64(x, name):
    out = check_array(x, name)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, x.astype(np.float64))


@SETTINGS
@given(x=hnp.arrays(np.float64, shapes, elements=finite), name=names, data=st.data())
def test_wrong_ndim_raises_valueerror_naming_argument_and_shape(x, name, data):
    allowed = data.draw(st.integers(1, 4).filter(lambda d: d != x.ndim))
    with _raises_naming(ValueError, name) as err:
        check_array(x, name, ndim=allowed)
    assert str(tuple(x.shape)) in str(err.value)
    assert check_array(x, name, ndim=(allowed, x.ndim)).shape == x.shape


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4).filter(lambda s: 0 in s), name=names)
def test_empty_arrays_raise_valueerror_naming_argument(shape, name):
    with _raises_naming(ValueError, name) as err:
        check_array(np.zeros(shape), name)
    assert "empty" in str(err.value)
    assert check_array(np.zeros(shape), name, min_size=0).shape == shape


@SETTINGS
@given(s=st.text(max_size=10), name=names)
def test_strings_raise_typeerror_naming_argument(s, name):
    with _raises_naming(TypeError, name):
        check_array(s, name)
    with _raises_naming(TypeError, name):
        check_array(np.array([s, s]), name)
    with _raises_naming(TypeError, name):
        check_array([s], name)


@SETTINGS
@given(re_=finite, im=finite.filter(lambda v: v != 0), name=names)
def test_complex_raises_typeerror_naming_argument(re_, im, name):
    z = np.array([re_ + 1j * im, 1.0])
    with _raises_naming(TypeError, name):
        check_array(z, name)
    out = check_array(z, name, allow_complex=True)  # opt-in keeps the imaginary part
    assert out.dtype == np.complex128
    np.testing.assert_array_equal(out, z)


@pytest.mark.parametrize("bad", [None, {"a": 1}, object(), np.array([None, 1.0], dtype=object)])
def test_non_arrays_raise_typeerror(bad):
    with _raises_naming(TypeError, "arg_x"):
        check_array(bad, "arg_x")


def test_ragged_list_raises_valueerror():
    with _raises_naming(ValueError, "arg_r"):
        check_array([[1.0, 2.0], [3.0]], "arg_r")


def test_strict_backend_input(strict_xp):
    x = asarray(np.array([1.0, np.nan]), strict_xp)
    with _raises_naming(ValueError, "arg_s"):
        check_array(x, "arg_s")
    with _raises_naming(TypeError, "arg_s"):
        check_array(strict_xp.asarray([1 + 1j]), "arg_s")
    out = check_array(strict_xp.asarray([1, 2]), "arg_s")
    assert is_strict(array_namespace(out)) and out.dtype == strict_xp.float64
    moved = check_array(np.array([1.0, 2.0]), "arg_s", xp=strict_xp)
    assert is_strict(array_namespace(moved))
    np.testing.assert_array_equal(to_numpy(moved), [1.0, 2.0])


# ----------------------------------------------------------------------------- scalars
@SETTINGS
@given(v=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=0.0), name=names)
def test_check_positive_refuses_non_positive(v, name):
    with _raises_naming(ValueError, name):
        check_positive(v, name)
    if v == 0.0:
        assert check_positive(v, name, strict=False) == 0.0
    else:
        with _raises_naming(ValueError, name):
            check_positive(v, name, strict=False)


@SETTINGS
@given(v=st.floats(min_value=1e-300, max_value=1e300), name=names)
def test_check_positive_accepts_positive(v, name):
    assert check_positive(v, name) == v
    assert check_positive(np.float64(v), name) == v
    assert check_positive(np.array(v), name) == v


@pytest.mark.parametrize(
    "bad,exc",
    [
        (np.nan, ValueError),
        (np.inf, ValueError),
        ("1", TypeError),
        (1 + 1j, TypeError),
        (True, TypeError),
        (np.ones(2), TypeError),
        (None, TypeError),
    ],
)
def test_check_positive_bad_scalars(bad, exc):
    with _raises_naming(exc, "arg_p"):
        check_positive(bad, "arg_p")


@SETTINGS
@given(v=finite, low=finite, width=st.floats(1e-3, 1e3), closed=st.booleans())
def test_check_in_range_agrees_with_comparison(v, low, width, closed):
    high = low + width
    inside = (low <= v <= high) if closed else (low < v < high)
    if inside:
        assert check_in_range(v, "arg_b", low, high, closed=closed) == v
    else:
        with _raises_naming(ValueError, "arg_b"):
            check_in_range(v, "arg_b", low, high, closed=closed)


@SETTINGS
@given(k=st.integers(-50, 50), lo=st.integers(-20, 0), hi=st.integers(0, 20))
def test_check_int_bounds(k, lo, hi):
    if lo <= k <= hi:
        assert check_int(k, "arg_k", minimum=lo, maximum=hi) == k
        assert check_int(np.int32(k), "arg_k", minimum=lo, maximum=hi) == k
        assert check_int(float(k), "arg_k", minimum=lo, maximum=hi) == k
    else:
        with _raises_naming(ValueError, "arg_k"):
            check_int(k, "arg_k", minimum=lo, maximum=hi)


@pytest.mark.parametrize("bad", [2.5, "3", True, None, np.nan, [1]])
def test_check_int_bad_types(bad):
    with _raises_naming(TypeError, "arg_k"):
        check_int(bad, "arg_k")


# ----------------------------------------------------------------------------- KrylovInfo
def test_krylov_info_validates_status_and_is_frozen():
    import dataclasses

    from krylovid.info import STATUSES, KrylovInfo

    with pytest.raises(ValueError, match="status"):
        KrylovInfo("done", 1, 1)
    info = KrylovInfo("max_iter", 3, 6, residual=0.5, history=(1.0, 0.5))
    assert not info.converged and info.matvecs == 6 and info.history == (1.0, 0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.status = "converged"
    assert {s for s in STATUSES if KrylovInfo(s, 0, 0).converged} == {"converged", "invariant", "exact"}
    assert np.isnan(KrylovInfo("exact", 0, 0).residual)
