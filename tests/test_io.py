"""Tests of krylovid.io: CSV / NPZ / whitespace tables, column selection, bad input."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from krylovid.io import load_data, read_table


@pytest.fixture
def arrays():
    rng = np.random.default_rng(1)
    return rng.standard_normal(12), rng.standard_normal(12), rng.standard_normal(12)


def _write(path, text):
    path.write_text(text)
    return str(path)


def _csv(path, names, cols, delim=","):
    lines = [delim.join(names)] + [delim.join(repr(float(c[i])) for c in cols) for i in range(len(cols[0]))]
    return _write(path, "\n".join(lines) + "\n")


def test_csv_by_name_and_index_round_trip(tmp_path, arrays):
    u1, u2, y = arrays
    path = _csv(tmp_path / "d.csv", ["u1", "u2", "y"], [u1, u2, y])
    d = load_data(path, "u1", "y")
    np.testing.assert_array_equal(d.u, u1)     # repr() round-trips doubles exactly
    np.testing.assert_array_equal(d.y, y)
    assert d.input_names == ("u1",) and d.output_name == "y" and d.num_inputs == 1
    d2 = load_data(path, ["0", 1], "2")
    np.testing.assert_array_equal(d2.u, np.column_stack([u1, u2]))
    assert d2.u.shape == (12, 2) and d2.input_names == ("u1", "u2")


@pytest.mark.parametrize("delim", [";", "\t"])
def test_csv_delimiters(tmp_path, arrays, delim):
    u1, _, y = arrays
    path = _csv(tmp_path / "d.csv", ["u", "y"], [u1, y], delim=delim)
    np.testing.assert_array_equal(load_data(path, "u", "y").y, y)


def test_csv_unselected_text_column_is_ignored(tmp_path):
    path = _write(tmp_path / "d.csv", "when,u,y\nmon,1,2\ntue,3,4\n")
    d = load_data(path, "u", "y")
    np.testing.assert_array_equal(d.u, [1.0, 3.0])


def test_npz_keys_and_2d_input(tmp_path, arrays):
    u1, u2, y = arrays
    path = str(tmp_path / "d.npz")
    np.savez(path, U=np.column_stack([u1, u2]), y=y)
    d = load_data(path, "U", "y")
    assert d.u.shape == (12, 2) and d.input_names == ("U[0]", "U[1]")
    np.testing.assert_array_equal(d.u[:, 1], u2)
    d2 = load_data(path, "0", "1")   # index into the archive's keys
    np.testing.assert_array_equal(d2.y, y)


def test_whitespace_with_comments_and_header(tmp_path, arrays):
    u1, _, y = arrays
    body = "\n".join(f"{float(a)!r}   {float(b)!r}  % trailing" for a, b in zip(u1, y))
    path = _write(tmp_path / "d.dat", f"% measured data\n# second comment\nu y\n{body}\n")
    d = load_data(path, "u", "y")
    np.testing.assert_array_equal(d.u, u1)
    np.testing.assert_array_equal(d.y, y)


def test_whitespace_without_header_uses_indices(tmp_path, arrays):
    u1, _, y = arrays
    path = _write(tmp_path / "d.txt", "\n".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(u1, y)))
    assert read_table(path).names == ("0", "1")
    np.testing.assert_array_equal(load_data(path, 0, 1).y, y)


@pytest.mark.parametrize("text, inputs, output, match", [
    ("u,y\n1,2\n", "w", "y", r"unknown column 'w'.*available: 'u', 'y'"),
    ("u,y\n1,2\n", "5", "y", r"column index 5 is out of range"),
    ("u,y\n1,2\n3,abc\n", "u", "y", r"line 3: column 'y' holds 'abc', which is not a number"),
    ("u,y\n1,2\n3,\n", "u", "y", r"line 3: column 'y' holds '<empty>'"),
    ("u,y\n1,2\nnan,4\n", "u", "y", r"line 3: column 'u' holds 'nan'.*NaN/inf rows"),
    ("u,y\n1,2\n3\n", "u", "y", r"line 3: expected 2 fields, got 1"),
    ("1,2\n3,4\n", "0", "1", r"needs a header line"),
    ("u,y\n1,2\n", "y", "y", r"both an input and the output"),
    ("", "u", "y", r"the file is empty"),
])
def test_csv_bad_input_names_the_problem(tmp_path, text, inputs, output, match):
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(ValueError, match=match):
        load_data(path, inputs, output)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_data(tmp_path / "nope.csv", "u", "y")
    with pytest.raises(ValueError, match="is a directory"):
        load_data(tmp_path, "u", "y")


def test_npz_bad_arrays(tmp_path):
    path = str(tmp_path / "d.npz")
    np.savez(path, u=np.ones(5), y=np.array([1.0, np.inf, 0, 0, 0]), s=np.array(["a"] * 5), short=np.ones(3))
    with pytest.raises(ValueError, match=r"'y' holds NaN or inf \(first at row 1\)"):
        load_data(path, "u", "y")
    with pytest.raises(ValueError, match="'s' is not numeric"):
        load_data(path, "s", "u")
    with pytest.raises(ValueError, match="'short' has 3 samples but output 'u' has 5"):
        load_data(path, "short", "u")
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_data(bad, "u", "y")


def test_binary_file_with_text_extension(tmp_path):
    path = tmp_path / "d.dat"
    path.write_bytes(b"\xff\xfe\x00\x81\x82")
    with pytest.raises(ValueError, match="not a text file"):
        load_data(path, 0, 1)


def test_whitespace_ragged_rows(tmp_path):
    path = _write(tmp_path / "d.dat", "1 2\n3 4 5\n")
    with pytest.raises(ValueError, match=r"line 2: expected 2 fields, got 3"):
        load_data(path, 0, 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("uy,;\t #%0123456789.-eEnaif\n ")), max_size=80),
       ext=st.sampled_from([".csv", ".dat"]))
def test_any_text_loads_or_raises_value_error(tmp_path, text, ext):
    """Arbitrary file contents either load as finite columns or raise a ValueError."""
    path = tmp_path / f"h{ext}"
    path.write_text(text)
    try:
        d = load_data(path, "0" if ext == ".dat" else "u", "1" if ext == ".dat" else "y")
    except ValueError:
        return
    assert np.all(np.isfinite(d.u)) and np.all(np.isfinite(d.y)) and d.u.shape == d.y.shape
