"""Tests of krylovid.io: CSV / NPZ / whitespace tables, column selection, bad input."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    np.testing.assert_array_equal(d.u, u1)  # repr() round-trips doubles exactly
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
    d2 = load_data(path, "0", "1")  # index into the archive's keys
    np.testing.assert_array_equal(d2.y, y)


def test_whitespace_with_comments_and_header(tmp_path, arrays):
    u1, _, y = arrays
    body = "\n".join(f"{float(a)!r}   {float(b)!r}  % trailing" for a, b in zip(u1, y, strict=True))
    path = _write(tmp_path / "d.dat", f"% measured data\n# second comment\nu y\n{body}\n")
    d = load_data(path, "u", "y")
    np.testing.assert_array_equal(d.u, u1)
    np.testing.assert_array_equal(d.y, y)


def test_whitespace_without_header_uses_indices(tmp_path, arrays):
    u1, _, y = arrays
    path = _write(tmp_path / "d.txt", "\n".join(f"{float(a)!r} {float(b)!r}" for a, b in zip(u1, y, strict=True)))
    assert read_table(path).names == ("0", "1")
    np.testing.assert_array_equal(load_data(path, 0, 1).y, y)


@pytest.mark.parametrize(
    "text, inputs, output, match",
    [
        ("u,y\n1,2\n", "w", "y", r"unknown column 'w'.*available: 'u', 'y'"),
        ("u,y\n1,2\n", "5", "y", r"column index 5 is out of range"),
        ("u,y\n1,2\n3,abc\n", "u", "y", r"line 3: column 'y' holds 'abc', which is not a number"),
        ("u,y\n1,2\n3,\n", "u", "y", r"line 3: column 'y' holds '<empty>'"),
        ("u,y\n1,2\nnan,4\n", "u", "y", r"line 3: column 'u' holds 'nan'.*NaN/inf rows"),
        ("u,y\n1,2\n3\n", "u", "y", r"line 3: expected 2 fields, got 1"),
        ("1,2\n3,4\n", "u", "1", r"unknown column 'u'.*no header line: select columns by 0-based index"),
        ("u,y\n1,5,2,5\n", "u", "y", r"line 2: expected 2 fields, got 4 \(numbers with decimal commas need ';'"),
        ("u,y\n1,2\n", "y", "y", r"both an input and the output"),
        ("", "u", "y", r"the file is empty"),
    ],
)
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


# ----------------------------------------------------------------- issue 11 item 7: files as they come


def test_headerless_csv_by_index(tmp_path, arrays):
    """Regression: a CSV without a header line was refused; its columns are now selected by index."""
    u1, u2, y = arrays
    lines = [f"{float(a)!r},{float(b)!r},{float(c)!r}" for a, b, c in zip(u1, u2, y, strict=True)]
    path = _write(tmp_path / "d.csv", "\n".join(lines) + "\n")
    table = read_table(path)
    assert table.names == ("0", "1", "2") and not table.header and table.lines[0] == 1
    d = load_data(path, [0, "1"], 2)
    np.testing.assert_array_equal(d.u, np.column_stack([u1, u2]))  # the first line is data, not lost
    np.testing.assert_array_equal(d.y, y)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_encodings(tmp_path, encoding):
    """Regression: a cp1252 CSV was called "not a text file"."""
    text = "Zeit [s];Spannung µV;Temperatur °C;Bemerkung\n0;1,5;20,25;Überlauf\n0,5;-2,75;20,5;ça va\n"
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode(encoding))
    table = read_table(path)
    assert table.names == ("Zeit [s]", "Spannung µV", "Temperatur °C", "Bemerkung")
    expected = {
        "utf-8": "utf-8-sig",
        "utf-8-sig": "utf-8-sig",
        "cp1252": "cp1252",
        "latin-1": "cp1252",
        "utf-16": "utf-16",
    }[encoding]  # latin-1 text without 0x80-0x9f bytes is valid cp1252
    assert table.encoding == expected
    d = load_data(path, "Spannung µV", "Temperatur °C")
    assert d.u.tolist() == [1.5, -2.75] and d.y.tolist() == [20.25, 20.5]
    assert d.sample_time == 0.5 and d.time_name == "Zeit [s]"
    assert table.columns[3] == ("Überlauf", "ça va")


def test_bytes_undefined_in_cp1252_fall_back_to_latin1(tmp_path):
    path = tmp_path / "d.dat"
    path.write_bytes(b"u y \x81note\n1 2 0\n3 4 0\n")  # 0x81 is undefined in cp1252
    table = read_table(path)
    assert table.encoding == "latin-1" and table.names == ("u", "y", "\x81note")


@pytest.mark.parametrize("sep", [";", "\t"])
def test_decimal_commas(tmp_path, sep):
    path = _write(tmp_path / "d.csv", f"u{sep}y\n1,5{sep}-0,25\n-3{sep}1,0e-3\n,5{sep}2\n")
    d = load_data(path, "u", "y")
    assert d.u.tolist() == [1.5, -3.0, 0.5] and d.y.tolist() == [-0.25, 1e-3, 2.0]
    ws = _write(tmp_path / "d.dat", "1,5 2,5\n3,25 4\n")
    assert load_data(ws, 0, 1).u.tolist() == [1.5, 3.25]


def test_time_column_gives_sample_time(tmp_path, arrays):
    u1, _, y = arrays
    t = 0.02 * np.arange(12)
    path = _csv(tmp_path / "d.csv", ["Time", "u", "y"], [t, u1, y])
    d = load_data(path, "u", "y")
    assert d.sample_time == pytest.approx(0.02, rel=1e-12) and d.time_name == "Time"
    assert load_data(path, "u", "y", time=None).sample_time is None
    assert load_data(path, "u", "y", time=0).sample_time == pytest.approx(0.02, rel=1e-12)
    t[5] += 0.01
    bad = _csv(tmp_path / "b.csv", ["t", "u", "y"], [t, u1, y])
    with pytest.warns(UserWarning, match="not uniformly increasing"):
        assert load_data(bad, "u", "y").sample_time is None
    with pytest.raises(ValueError, match="time column 't' is not uniformly increasing"):
        load_data(bad, "u", "y", time="t")
    stamps = _write(tmp_path / "s.csv", "time,u,y\n10:00,1,2\n10:01,3,4\n")
    with pytest.warns(UserWarning, match="'10:00', which is not a number"):
        assert load_data(stamps, "u", "y").y.tolist() == [2.0, 4.0]


def test_mat_files(tmp_path, arrays):
    """Regression: .mat files were refused as "not a text file"."""
    from scipy.io import savemat

    u1, u2, y = arrays
    path = tmp_path / "d.mat"
    savemat(path, {"u": u1[None, :], "y": y[:, None], "U": np.column_stack([u1, u2]), "Ts": 0.05})
    d = load_data(path, "u", "y")  # MATLAB row and column vectors alike
    np.testing.assert_array_equal(d.u, u1)
    np.testing.assert_array_equal(d.y, y)
    assert d.sample_time == 0.05
    d2 = load_data(path, "U", "y")
    assert d2.u.shape == (12, 2) and d2.input_names == ("U[0]", "U[1]")
    v4 = tmp_path / "v4.mat"
    savemat(v4, {"u": u1, "y": y}, format="4")
    np.testing.assert_array_equal(load_data(v4, "u", "y").y, y)
    savemat(tmp_path / "bad.mat", {"u": u1, "y": y, "Ts": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match="sample time Ts must be one positive number"):
        load_data(tmp_path / "bad.mat", "u", "y")
    (tmp_path / "junk.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 200)
    with pytest.raises(ValueError, match="not a readable .mat file"):
        load_data(tmp_path / "junk.mat", "u", "y")


def test_mat_v73_names_what_reads_it(tmp_path):
    """Regression: a v7.3 MAT-file is HDF5; the error says to use h5py or save with -v7."""
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Sat Nov 28 12:00:00 2026 HDF5 schema 1.00 ."
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(header.ljust(512, b" ") + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    plain = tmp_path / "plain.mat"
    plain.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 600)
    for path in (v73, plain):
        with pytest.raises(ValueError, match=r"MATLAB v7.3 MAT-file \(HDF5\).*h5py.*-v7") as info:
            load_data(path, "u", "y")
        assert "not a text file" not in str(info.value)


def test_whitespace_ragged_rows(tmp_path):
    path = _write(tmp_path / "d.dat", "1 2\n3 4 5\n")
    with pytest.raises(ValueError, match=r"line 2: expected 2 fields, got 3"):
        load_data(path, 0, 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.sampled_from(list("uy,;\t #%0123456789.-eEnaif\n ")), max_size=80),
    ext=st.sampled_from([".csv", ".dat"]),
)
def test_any_text_loads_or_raises_value_error(tmp_path, text, ext):
    """Arbitrary file contents either load as finite columns or raise a ValueError."""
    path = tmp_path / f"h{ext}"
    path.write_text(text)
    try:
        d = load_data(path, "0" if ext == ".dat" else "u", "1" if ext == ".dat" else "y")
    except ValueError:
        return
    assert np.all(np.isfinite(d.u)) and np.all(np.isfinite(d.y)) and d.u.shape == d.y.shape


def test_mat_struct_fields_and_objects(tmp_path, arrays):
    """A scalar struct's fields are columns ``s.u``, ``s.y`` (its ``Ts`` is the sample time); cells,
    struct arrays and objects get a message saying how to save plain arrays."""
    from scipy.io import savemat

    u1, u2, y = arrays
    path = tmp_path / "s.mat"
    savemat(
        path,
        {
            "exp": {"u": u1, "y": y[:, None], "Ts": 0.25},
            "cells": np.array([u1, u2], dtype=object),
            "many": np.array([(1.0, 2.0), (3.0, 4.0)], dtype=[("a", "O"), ("b", "O")]),
        },
    )
    table = read_table(path)
    assert {"exp.u", "exp.y"} <= set(table.names) and "exp.Ts" not in table.names
    d = load_data(path, "exp.u", "exp.y")
    np.testing.assert_array_equal(d.u, u1)
    np.testing.assert_array_equal(d.y, y)
    assert d.sample_time == 0.25
    for name in ("cells", "many"):
        with pytest.raises(ValueError, match=rf"'{name}' is not a numeric array but a MATLAB object.*save"):
            load_data(path, name, "exp.y")
