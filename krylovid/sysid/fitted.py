"""What a fitted FIR model offers, whatever estimated it: :class:`FittedFIR`.

Prediction and validation (``predict``, ``score``, ``residuals``, ``compare``),
responses with their posterior bands (``step_response``,
``frequency_response``, ``posterior_covariance_``), exports (``to_dlti``,
``to_control``), figures and persistence (pickling, ``save`` / ``load``).
:class:`~krylovid.sysid.KernelFIR` inherits them and adds the estimation.

The methods read only the fitted attributes: ``impulse_response_`` (and its
std), ``order_``, ``delay_``, ``n_inputs_``, ``input_offset_``,
``output_offset_``, ``sample_time_``, ``noise_variance_``,
``hyperparameters_`` and the constructor options ``detrend`` and ``initial``;
the full posterior covariance is computed from the evaluator state on first use
(``_state`` / ``_problem``) or read back from a saved model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_array
from ..backend import array_namespace, asarray, is_numpy, to_numpy
from . import diagnostics, persistence, response
from .covariance import MAX_COVARIANCE_N, posterior_covariance
from .data import detrend
from .metrics import fit as fit_percent
from .regressors import fir_regressor

__all__ = ["FittedFIR"]


class FittedFIR:
    """Mixin: the use of a fitted FIR model (see the module notes)."""

    _state: Any = None  # evaluator state of the fit (None after pickling or loading)
    _problem: Any = None
    _covariance: Any = None

    def _check_fitted(self):
        if not hasattr(self, "impulse_response_"):
            raise RuntimeError("this KernelFIR is not fitted yet; call fit(u, y) first")

    def _check_state(self, what: str):
        if getattr(self, "_state", None) is None:
            raise RuntimeError(
                f"{what} needs the evaluator state of the fit, which a model restored by pickle "
                "or KernelFIR.load does not keep; refit to use it"
            )

    # ------------------------------------------------------------------ prediction
    def predict(self, u):
        """Output of the identified FIR for input ``u``, shape ``(N,)``, in the namespace of ``u``.

        Zero initial conditions around the operating point of the estimation
        data: ``y = output_offset_ + G (u - input_offset_)`` (the offsets are
        zero unless ``detrend`` removed means).  For a CuPy (or any array-API)
        ``u`` the FFT convolution runs there and the result stays there; only
        the ``m order_`` coefficients travel to it.
        """
        self._check_fitted()
        u2 = self._check_input(u)
        xp = array_namespace(u2)
        offset = asarray(np.asarray(self.input_offset_, dtype=np.float64), xp, dtype=xp.float64)
        return self._simulate(u2 - offset[None, :]) + float(self.output_offset_)

    def _check_input(self, u):
        u = check_array(u, "u", ndim=(1, 2), dtype=None)
        xp = array_namespace(u)
        u = (
            np.asarray(u, dtype=np.float64)
            if is_numpy(xp)
            else (u if u.dtype == xp.float64 else xp.astype(u, xp.float64))
        )
        u2 = u[:, None] if u.ndim == 1 else u
        if u2.shape[1] != self.n_inputs_:
            raise ValueError(f"u has {u2.shape[1]} input column(s), the model was fitted with {self.n_inputs_}")
        return u2

    def _simulate(self, u2):
        Phi = fir_regressor(u2, self.order_, delay=self.delay_, initial="zero")
        g = np.reshape(np.asarray(self.impulse_response_, dtype=np.float64), -1)
        out = Phi.matvec(asarray(g, Phi.xp, dtype=Phi.xp.float64))
        return np.asarray(out) if is_numpy(Phi.xp) else out

    def score(self, u, y) -> float:
        """Fit percentage ``100 (1 - ||y - y_hat|| / ||y - mean(y)||)`` of the predicted output."""
        y = check_array(y, "y", ndim=1)
        yhat = self.predict(u)
        if yhat.shape != y.shape:
            raise ValueError(f"u and y have different lengths ({yhat.shape[0]} vs {y.shape[0]})")
        return float(fit_percent(to_numpy(y), to_numpy(yhat)))

    def plot(self, truth=None, ax=None, **kwargs):
        """Impulse response with its confidence band (see :func:`krylovid.plotting.plot_impulse_response`)."""
        self._check_fitted()
        from ..plotting import plot_impulse_response

        kwargs.setdefault("sample_time", self.sample_time_)
        return plot_impulse_response(
            self.impulse_response_, std=self.impulse_response_std_, truth=truth, ax=ax, delay=self.delay_, **kwargs
        )

    def plot_step_response(self, num: int | None = None, ax=None, **kwargs):
        """Step response with its band (:func:`krylovid.plotting.plot_step_response`)."""
        from ..plotting import plot_step_response

        kwargs.setdefault("sample_time", self.sample_time_)
        return plot_step_response(self.step_response(num), ax=ax, **kwargs)

    def plot_bode(self, omega=None, ax=None, **kwargs):
        """Bode plot with bands (:func:`krylovid.plotting.plot_frequency_response`)."""
        from ..plotting import plot_frequency_response

        return plot_frequency_response(self.frequency_response(omega), ax=ax, **kwargs)

    def plot_residuals(self, u, y, ax=None, *, max_lag: int = 25, confidence: float = 0.99, **kwargs):
        """Residual analysis plot (MATLAB ``resid``; :func:`krylovid.plotting.plot_residuals`)."""
        from ..plotting import plot_residuals

        return plot_residuals(self.residuals(u, y, max_lag=max_lag, confidence=confidence), ax=ax, **kwargs)

    def plot_compare(self, u, y, ax=None, **kwargs):
        """Measured vs simulated output (MATLAB ``compare``; :func:`krylovid.plotting.plot_compare`)."""
        from ..plotting import plot_compare

        kwargs.setdefault("sample_time", self.sample_time_)
        return plot_compare(self.compare(u, y), ax=ax, **kwargs)

    # ------------------------------------------------------------------ the model as engineers use it
    @property
    def posterior_covariance_(self) -> np.ndarray:
        """Posterior covariance of the stacked coefficients, ``(m order_, m order_)`` (see :mod:`.covariance`)."""
        self._check_fitted()
        if self._covariance is None:
            self._check_state("posterior_covariance_")
            lam = self.noise_variance_ / self.hyperparameters_["c"]
            self._covariance = posterior_covariance(self._problem, self._shape_params, lam, self.noise_variance_)
        return self._covariance

    def _covariance_or_none(self):
        n_tot = self.n_inputs_ * self.order_
        if self._covariance is None and (getattr(self, "_state", None) is None or n_tot > MAX_COVARIANCE_N):
            return None
        return self.posterior_covariance_

    @property
    def _T(self) -> float:
        return 1.0 if self.sample_time_ is None else self.sample_time_

    def step_response(self, num: int | None = None) -> response.StepResponse:
        """Step response with its posterior standard deviation (see :func:`~krylovid.sysid.response.step_response`).

        Parameters
        ----------
        num : int, optional
            Number of samples (default ``delay_ + order_``).
        """
        self._check_fitted()
        return response.step_response(
            self.impulse_response_, self._covariance_or_none(), delay=self.delay_, sample_time=self._T, num=num
        )

    def frequency_response(self, omega=None) -> response.FrequencyResponse:
        """``G(e^{i omega T})`` with the posterior standard deviation (rad/s when ``sample_time`` is set).

        See :func:`~krylovid.sysid.response.frequency_response`.
        """
        self._check_fitted()
        return response.frequency_response(
            self.impulse_response_, self._covariance_or_none(), omega, delay=self.delay_, sample_time=self._T
        )

    def to_dlti(self):
        """The model as ``scipy.signal.dlti`` (a list of them, one per input, for several inputs)."""
        self._check_fitted()
        return response.to_dlti(self.impulse_response_, delay=self.delay_, sample_time=self._T)

    def to_control(self):
        """The model as a python-control ``TransferFunction`` (``1 x m``) with ``dt`` (needs ``control``)."""
        self._check_fitted()
        return response.to_control(self.impulse_response_, delay=self.delay_, sample_time=self._T)

    def _validation_rows(self, u, y):
        """Detrended validation record and the simulated output on the rows that count."""
        u2 = to_numpy(self._check_input(u))
        y = np.asarray(to_numpy(check_array(y, "y", ndim=1)), dtype=np.float64)
        if y.shape[0] != u2.shape[0]:
            raise ValueError(f"u and y have different lengths ({u2.shape[0]} vs {y.shape[0]})")
        d = detrend(u2, y, self.detrend)
        first = self.order_ + self.delay_ - 1 if self.initial == "drop" else 0
        if first >= y.shape[0] - 1:
            raise ValueError(
                f"y: a validation record of {y.shape[0]} samples is too short for "
                f"initial='drop' with order {self.order_}"
            )
        return d.u[first:], d.y[first:], self._simulate(d.u)[first:]

    def residuals(self, u, y, *, max_lag: int = 25, confidence: float = 0.99) -> diagnostics.ResidualAnalysis:
        """Residual analysis on a record (MATLAB ``resid``): whiteness and independence from the input.

        The record is detrended as the estimation data were (``detrend``, with
        its own means), simulated with zero initial conditions; with
        ``initial="drop"`` the first ``order_ + delay_ - 1`` samples are skipped.
        See :func:`~krylovid.sysid.diagnostics.residual_analysis`.
        """
        self._check_fitted()
        u2, y, yhat = self._validation_rows(u, y)
        return diagnostics.residual_analysis(y - yhat, u2, max_lag=max_lag, confidence=confidence, sample_time=self._T)

    def compare(self, u, y) -> diagnostics.CompareResult:
        """Fit of the simulated output to a (validation) record, in percent (MATLAB ``compare``).

        Detrending and initial conditions as in :meth:`residuals`.
        """
        self._check_fitted()
        _, y, yhat = self._validation_rows(u, y)
        return diagnostics.compare_fit(y, yhat, sample_time=self._T)

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        """Pickle support: the evaluator state and the problem (which hold array modules) are dropped;
        the posterior covariance is kept (computed now when affordable)."""
        state = self.__dict__.copy()
        if "impulse_response_" in state:
            state["_covariance"] = self._covariance_or_none()
            state["_state"] = state["_problem"] = None
        return state

    def save(self, path) -> None:
        """Write the fitted model to ``path`` (``.npz``; see :mod:`~krylovid.sysid.persistence`)."""
        self._check_fitted()
        persistence.save_model(self, path)

    @classmethod
    def load(cls, path) -> FittedFIR:
        """Read a model written by :meth:`save` (no pickle involved)."""
        return persistence.load_model(cls, path)
