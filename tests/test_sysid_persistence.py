"""Persistence (issue 11 item 6): fitted models pickle (the measured failure: "cannot pickle 'module'
object"); save/load in the documented .npz + JSON format, read back without pickle; hand-made files."""

import json
import pickle

import numpy as np
import pytest

from krylovid import KernelFIR
from krylovid.sysid.persistence import FORMAT, VERSION


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    u = rng.standard_normal((300, 2))
    y = (
        np.convolve(u[:, 0], np.r_[0, 0.7 ** np.arange(15)])[:300]
        + np.convolve(u[:, 1], np.r_[0, -0.5 * 0.8 ** np.arange(15)])[:300]
        + 2.0
    )
    y = y + 0.05 * rng.standard_normal(300)
    model = KernelFIR(order="auto", method="qr", detrend="constant", sample_time=0.01).fit(u, y)
    return model, u, y


def _same_behaviour(a, b, u, y):
    assert np.allclose(a.predict(u), b.predict(u))
    assert np.allclose(a.impulse_response_std_, b.impulse_response_std_)
    fa, fb = a.frequency_response(np.array([1.0, 50.0])), b.frequency_response(np.array([1.0, 50.0]))
    assert np.allclose(fa.response, fb.response) and np.allclose(fa.std, fb.std)
    assert np.allclose(a.step_response().std, b.step_response().std)
    assert a.compare(u, y).fit == pytest.approx(b.compare(u, y).fit)
    assert (a.order_, a.delay_, a.sample_time_) == (b.order_, b.delay_, b.sample_time_)
    assert a.input_hyperparameters_ == b.input_hyperparameters_


def test_fitted_model_pickles(fitted):
    model, u, y = fitted
    clone = pickle.loads(pickle.dumps(model))
    _same_behaviour(model, clone, u, y)
    with pytest.raises(RuntimeError, match="refit"):
        clone.lam_curve()
    assert model.lam_curve(num=5).lam.shape == (5,)  # the original keeps its state


def test_save_load_round_trip(fitted, tmp_path):
    model, u, y = fitted
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = KernelFIR.load(path)
    _same_behaviour(model, loaded, u, y)
    assert loaded.structure_ == model.structure_
    assert loaded.get_params()["detrend"] == "constant"
    loaded.save(tmp_path / "again.npz")  # a loaded model saves again
    _same_behaviour(model, KernelFIR.load(tmp_path / "again.npz"), u, y)


def test_file_is_plain_npz_with_json_metadata(fitted, tmp_path):
    model, *_ = fitted
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        meta = json.loads(str(z["metadata"]))
        assert meta["format"] == FORMAT and meta["version"] == VERSION
        assert np.array_equal(z["impulse_response"], model.impulse_response_)
        assert z["posterior_covariance"].shape == (2 * model.order_, 2 * model.order_)
    assert meta["order_"] == model.order_ and meta["params"]["sample_time"] == 0.01


def _hand_made(path, meta, g=(0.5, 0.25)):
    g = np.asarray(g)
    np.savez(
        path,
        metadata=np.array(json.dumps(meta)),
        impulse_response=g,
        impulse_response_std=0.1 * np.abs(g),
        input_offset=np.zeros(1),
    )


def test_hand_made_file_loads(tmp_path):
    meta = {
        "format": FORMAT,
        "version": 1,
        "params": {"order": 2, "kernel": "TC", "delay": 0},
        "order_": 2,
        "delay_": 0,
        "hyperparameters_": {"c": 1.0, "beta": 0.5},
        "input_hyperparameters_": [{"c": 1.0, "beta": 0.5}],
        "noise_variance_": 0.1,
        "objective_": 0.0,
        "n_inputs_": 1,
        "output_offset_": 1.0,
        "sample_time_": None,
        "info_": {},
        "_shape_params": {"beta": 0.5},
        "_posterior_exact": True,
        "_problem_meta": [10, 0.1],
    }
    _hand_made(tmp_path / "h.npz", meta)
    model = KernelFIR.load(tmp_path / "h.npz")
    assert model.predict(np.array([1.0, 0.0, 0.0])).tolist() == [1.5, 1.25, 1.0]
    assert model.frequency_response(np.array([0.0])).std is None  # no covariance stored: no band
    assert model.step_response().response.tolist() == [0.5, 0.75]


@pytest.mark.parametrize(
    "meta, match",
    [({"format": "other"}, "not 'krylovid.KernelFIR'"), ({"format": FORMAT, "version": 99}, "version 99")],
)
def test_foreign_or_newer_files_are_refused(tmp_path, meta, match):
    _hand_made(tmp_path / "x.npz", meta)
    with pytest.raises(ValueError, match=match):
        KernelFIR.load(tmp_path / "x.npz")


def test_not_a_model_file(tmp_path):
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a saved krylovid model"):
        KernelFIR.load(tmp_path / "t.npz")
    np.savez(tmp_path / "a.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="no 'metadata'"):
        KernelFIR.load(tmp_path / "a.npz")
