"""``KernelFIR``: kernel-regularized FIR identification, scikit-learn style."""
from __future__ import annotations

import inspect
import logging
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int
from . import diagnostics, persistence, response
from .covariance import MAX_COVARIANCE_N, posterior_covariance
from .data import DETREND_MODES, DataWarning, check_noise_dof, detrend, significant_offsets
from .experiments import JointProblem
from .kernels import BlockDiagonalKernel, get_kernel
from .metrics import fit as fit_percent
from .objective import METHODS, F_bounds, make_evaluator, resolve_noise_variance
from .priors import PerInputKernel, tune_per_input
from .problem import FIRProblem
from .regressors import fir_regressor
from .structure import DEFAULT_MAX_DELAY, candidate_orders, decay_check, select_structure
from .tuning import tune

__all__ = ["KernelFIR", "LamCurve"]

logger = logging.getLogger("krylovid")


@dataclass(frozen=True)
class LamCurve:
    """The objective along ``lam = sigma2 / c`` at the fitted shape parameters.

    Attributes
    ----------
    lam, c : ndarray of shape (k,)
    F_lower, F_upper : ndarray of shape (k,)
        Bounds from the fitted method (equal for exact methods).
    F_exact : ndarray of shape (k,) or None
        The Cholesky/QR value when requested.
    """

    lam: np.ndarray
    c: np.ndarray
    F_lower: np.ndarray
    F_upper: np.ndarray
    F_exact: np.ndarray | None


class KernelFIR:
    """Kernel-regularized FIR model with hyperparameters tuned by marginal likelihood.

    Parameters
    ----------
    order : int, "auto" or sequence of int
        Number of FIR coefficients per input; ``"auto"`` (or a list of
        candidates) chooses it by marginal likelihood (see
        :mod:`~krylovid.sysid.structure`; the choice is ``order_``).
    kernel : {"TC", "DC", "SS", "SE", "HF", "DI", "CS"} or Kernel
        Prior covariance family of every input.
    method : {"auto", "spectral", "krylov", "qr", "cholesky", "lanczos"}
        Evaluator of the objective: ``"auto"`` (default) picks the fastest
        certified one for the problem (``info_["method"]`` says which): the
        exact spectral path (one SVD per shape) for ``n <= 1000``, the
        augmented Krylov estimator above; or Chen–Ljung QR, dense Cholesky,
        separate Lanczos + SLQ by name.
    noise_variance : "ls", "ml" or float
        ``"ls"``: fixed to the residual variance of the least-squares FIR of
        the same order (as MATLAB and Chen–Ljung); ``"ml"``: estimated jointly;
        a number: fixed.
    delay : int, "auto" or sequence of int
        Input delay (``0``: feedthrough); ``"auto"`` compares ``0..10`` by
        marginal likelihood (the choice is ``delay_``).
    initial : {"zero", "drop"}
        Zero past input, or drop the first outputs.
    detrend : {"none", "constant", "linear"}
        Preprocessing of each record: nothing (default, as MATLAB's
        ``impulseest``: the FIR has no constant term, so data recorded around
        an operating point must be detrended), the means, or the
        least-squares lines.  With ``"none"`` a :class:`DataWarning` names
        the signals whose means are significant and says what to do.
    sample_time : float, optional
        Sampling interval ``T`` (seconds): time axes, frequencies in rad/s and
        exports use it; without it everything is per sample (``T = 1``).
    prior : {"per_input", "shared"}
        Several inputs: each its own scale and shape (default) or one
        ``(c, shape)`` for all (MATLAB's single kernel).
    random_state : None, int or Generator
        Seeds the random block of the Krylov methods (results are
        reproducible for a fixed value).
    tol : float
        Relative tolerance of the Krylov bounds on the objective.
    progress : None, bool or callable
        ``True`` shows a progress bar on a terminal; a callable is called as
        ``progress(k, params, F)`` after each shape-parameter evaluation.
    verbose : bool
        Log subspace dimensions and bounds to the ``"krylovid"`` logger.
    method_options : dict, optional
        Extra evaluator options (e.g. ``{"formulation": "dual", "block_size": 8}``).

    Attributes
    ----------
    order_, delay_ : int
        Order and delay used (chosen from the data when ``"auto"``).
    structure_ : StructureSelection or None
        Candidates and their objectives when the order or delay was chosen.
    impulse_response_ : ndarray of shape (order_,) or (m, order_)
        Posterior mean; coefficient ``k`` multiplies ``u(t - delay_ - k)``.
    impulse_response_std_ : ndarray, same shape
        Posterior standard deviation.
    posterior_covariance_ : ndarray of shape (m order_, m order_)
        Full posterior covariance of the stacked coefficients (computed on first use).
    hyperparameters_ : dict
        ``{"c": ..., **shape}`` of the prior over all coefficients (per-input
        priors: ``beta_0, beta_1, ..., scale_1, ...``).
    input_hyperparameters_ : list of dict
        ``{"c": ..., **shape}`` of each input's prior.
    input_offset_ : ndarray of shape (m,)
    output_offset_ : float
        Means removed by ``detrend`` (zeros for ``"none"``); :meth:`predict`
        adds them back.
    sample_time_ : float or None
    noise_variance_ : float
    objective_ : float
        ``F`` at the optimum.
    info_ : dict
        ``method``, ``subspace_dim``, ``matvecs``, ``F_lower``, ``F_upper``,
        ``wall_time_s``, ``status``, ``n_evaluations``, ``n_shift_evaluations``,
        ``history``.
    convergence_ : list of (int, float, float)
        ``(dim, F_lower, F_upper)`` at the optimum as the Krylov space grew.

    Examples
    --------
    >>> import numpy as np
    >>> from krylovid import KernelFIR
    >>> rng = np.random.default_rng(0)
    >>> g0 = 0.8 ** np.arange(1, 41) * np.cos(0.3 * np.arange(40))
    >>> u = rng.standard_normal(500)
    >>> y = np.convolve(u, np.r_[0.0, g0])[:500] + 0.05 * rng.standard_normal(500)
    >>> model = KernelFIR(order=40, kernel="TC", random_state=0).fit(u, y)
    >>> bool(100 * (1 - np.linalg.norm(model.impulse_response_ - g0) / np.linalg.norm(g0 - g0.mean())) > 90)
    True
    """

    def __init__(self, order, kernel="TC", method="auto", noise_variance="ls", delay=1, initial="zero",
                 random_state=None, tol=1e-8, progress=None, verbose=False, method_options=None,
                 detrend="none", sample_time=None, prior="per_input"):
        self.order = order
        self.detrend = detrend
        self.sample_time = sample_time
        self.prior = prior
        self.kernel = kernel
        self.method = method
        self.noise_variance = noise_variance
        self.delay = delay
        self.initial = initial
        self.random_state = random_state
        self.tol = tol
        self.progress = progress
        self.verbose = verbose
        self.method_options = method_options

    # ------------------------------------------------------------------ sklearn API
    @classmethod
    def _get_param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments as a dict (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._get_param_names()}

    def set_params(self, **params) -> KernelFIR:
        """Set constructor arguments (scikit-learn convention)."""
        valid = set(self._get_param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"invalid parameter {k!r} for KernelFIR; valid: {sorted(valid)}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        return f"KernelFIR(order={self.order!r}, kernel={self.kernel!r}, method={self.method!r})"

    # ------------------------------------------------------------------ fitting
    def _progress_callback(self):
        if callable(self.progress):
            return self.progress, None
        if self.progress:
            from .._progress import progress_bar

            bar = progress_bar(None, desc=f"tuning ({self.method})", enabled=True)

            def cb(k, params, F):
                bar.update(1)
                bar.set_postfix_str(f"F={F:.6g}")
            return cb, bar
        return None, None

    def fit(self, u, y) -> KernelFIR:
        """Tune the hyperparameters on ``(u, y)`` and compute the posterior.

        Parameters
        ----------
        u : array of shape (N,) or (N, m), or list of such arrays
        y : array of shape (N,), or list of such arrays
            One record, or several experiments (lists of NumPy arrays of equal
            length per experiment): one model with the joint likelihood, each
            record with its own initial conditions and detrended on its own.

        Returns
        -------
        self
        """
        self._check_options()
        t0 = time.perf_counter()
        records = self._prepare_records(u, y)
        self.order_, self.delay_, self.structure_ = self._choose_structure(records)
        problem = self._problem(records, self.order_, self.delay_)
        sigma2 = self._noise(problem)
        callback, bar = self._progress_callback()
        try:
            result, state, evaluator = self._tune(problem, sigma2, callback)
        finally:
            if bar is not None:
                bar.close()
        self._set_posterior(problem, result, state)
        stats = state.stats()
        opt = result.optimum
        self.info_ = {
            "method": evaluator.method, "subspace_dim": int(stats.get("subspace_dim", 0)),
            "matvecs": int(stats.get("matvecs", 0)), "F_lower": float(opt.F_lower), "F_upper": float(opt.F_upper),
            "wall_time_s": time.perf_counter() - t0,
            "status": "exact" if state.exact else ("converged" if opt.certified else "budget"),
            "n_evaluations": result.n_evaluations, "n_shift_evaluations": result.n_shift_evaluations,
            "formulation": stats.get("formulation"), "posterior_exact": bool(self._posterior_exact),
            "n_experiments": len(records),
            "history": [(dict(p), float(F)) for p, F in result.history],
        }
        for i, r in decay_check(self.impulse_response_, self.impulse_response_std_):
            warnings.warn(f"the impulse response of input {i} has not decayed at order {self.order_}: "
                          f"|g| over its last coefficients reaches {r:.2f} of its peak; increase order "
                          "(or use order='auto')", DataWarning, stacklevel=2)
        if self.verbose:
            logger.info("KernelFIR(%s): F=%.10g in [%.10g, %.10g], dim=%d, matvecs=%d, %.3fs",
                        self.method, opt.F, opt.F_lower, opt.F_upper, self.info_["subspace_dim"],
                        self.info_["matvecs"], self.info_["wall_time_s"])
        return self

    def _check_options(self):
        if not isinstance(self.method, str) or self.method.lower() not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        tol = float(self.tol)
        if not 0 < tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {self.tol!r}")
        if self.detrend not in DETREND_MODES:
            raise ValueError(f"detrend must be one of {list(DETREND_MODES)}, got {self.detrend!r}")
        if self.prior not in ("per_input", "shared"):
            raise ValueError(f"prior must be 'per_input' or 'shared', got {self.prior!r}")
        T = self.sample_time
        if T is not None and (isinstance(T, bool) or not isinstance(T, numbers.Real) or not 0 < T < np.inf):
            raise ValueError(f"sample_time must be a positive number or None, got {T!r}")

    def _prepare_records(self, u, y) -> list:
        """Validate, detrend and offset-check the record(s); sets the offsets."""
        several = isinstance(y, (list, tuple)) and len(y) > 0 and all(
            hasattr(v, "shape") and np.ndim(v) >= 1 for v in y)
        pairs = list(zip(u, y, strict=True)) if several else [(u, y)]
        if several and (not isinstance(u, (list, tuple)) or len(u) != len(y)):
            raise ValueError(f"u: with several experiments give u and y as lists of the same length, "
                             f"got {len(y)} outputs")
        records, weights = [], []
        for k, (uk, yk) in enumerate(pairs):
            name = f" (experiment {k})" if several else ""
            uk = check_array(uk, f"u{name}", ndim=(1, 2))
            yk = check_array(yk, f"y{name}", ndim=(1, 2))
            uk = np.asarray(uk, dtype=np.float64).reshape(uk.shape[0], -1)
            yk = np.asarray(yk, dtype=np.float64)
            if yk.ndim == 2 and yk.shape[1] == 1:
                yk = yk[:, 0]
            if yk.ndim != 1 or yk.shape[0] != uk.shape[0]:
                raise ValueError(f"y{name} must have shape ({uk.shape[0]},) like u, got {yk.shape}")
            d = detrend(uk, yk, self.detrend)
            if self.detrend == "none":
                flagged = significant_offsets(uk, yk)
                if flagged:
                    warnings.warn(f"significant offsets in {', '.join(flagged)}{name}: the FIR model has no "
                                  "constant term and would read them as dynamics; pass detrend='constant' "
                                  "(or 'linear' for drifts) unless the record starts from rest at zero "
                                  "(e.g. a step test)", DataWarning, stacklevel=3)
            records.append((d.u, d.y))
            weights.append((uk.shape[0], d.input_offset, d.output_offset))
        total = sum(w[0] for w in weights)
        self.input_offset_ = sum(w[0] * w[1] for w in weights) / total
        self.output_offset_ = float(sum(w[0] * w[2] for w in weights) / total)
        self.n_inputs_ = records[0][0].shape[1]
        self.sample_time_ = None if self.sample_time is None else float(self.sample_time)
        return records

    def _candidates(self, spec, name, default):
        if isinstance(spec, str):
            if spec != "auto":
                raise ValueError(f"{name} must be an int, 'auto' or a list of ints, got {spec!r}")
            return default(), True
        if isinstance(spec, (list, tuple, np.ndarray)):
            vals = [check_int(v, name, minimum=0 if name == "delay" else 1) for v in spec]
            if not vals:
                raise ValueError(f"{name}: the list of candidates is empty")
            return vals, len(vals) > 1
        return [check_int(spec, name, minimum=0 if name == "delay" else 1)], False

    def _choose_structure(self, records):
        """``(order, delay, StructureSelection or None)`` (see :mod:`~krylovid.sysid.structure`)."""
        N_min, m = min(r[0].shape[0] for r in records), records[0][0].shape[1]
        delays, auto_d = self._candidates(self.delay, "delay", lambda: list(range(DEFAULT_MAX_DELAY + 1)))
        orders, auto_n = self._candidates(self.order, "order",
                                          lambda: candidate_orders(N_min, m, max(delays), self.initial))
        if not (auto_d or auto_n):
            return orders[0], delays[0], None

        def objective(recs, n, d, sigma2):
            problem = self._problem(recs, n, d)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result, state, _ = self._tune(problem, sigma2, None)
            post = state.posterior(result.optimum.lam)
            g = np.reshape(post.mean, (m, n))
            return result.optimum.F, g, np.reshape(np.sqrt(result.optimum.c * post.variance_over_c), (m, n))

        def noise(recs, n, d):
            return self._noise(self._problem(recs, n, d))

        sel = select_structure(objective, noise, records, orders, delays, initial=self.initial,
                               screen_delays=auto_d and isinstance(self.delay, str))
        return sel.order, sel.delay, sel

    def _problem(self, records, order, delay):
        m = records[0][0].shape[1]
        per_input = m > 1 and self.prior == "per_input"
        if len(records) == 1 and not per_input:
            return FIRProblem(records[0][0], records[0][1], order, kernel=self.kernel, delay=delay,
                              initial=self.initial)
        base = get_kernel(self.kernel)
        kernel = PerInputKernel(base, m) if per_input else (base if m == 1 else BlockDiagonalKernel(base, m))
        return JointProblem(records, order, kernel, delay=delay, initial=self.initial)

    def _noise(self, problem):
        """The noise variance as configured (``None`` when estimated); ``"ls"`` checks the record length."""
        mode = self.noise_variance.lower() if isinstance(self.noise_variance, str) else None
        if mode == "ls":
            check_noise_dof(problem.N, problem.n, N=problem.N, order=problem.order, num_inputs=problem.num_inputs,
                            delay=problem.delay, initial=problem.initial)
        return resolve_noise_variance(self.noise_variance, problem)

    def _tune(self, problem, sigma2, callback):
        evaluator = make_evaluator(self.method, problem, random_state=self.random_state,
                                   **(self.method_options or {}))
        if isinstance(problem.kernel, PerInputKernel):
            result, state = tune_per_input(evaluator, problem, sigma2, rtol=float(self.tol), progress=callback)
        else:
            result, state = tune(evaluator, problem, sigma2, rtol=float(self.tol), progress=callback)
        return result, state, evaluator

    def _set_posterior(self, problem, result, state):
        opt = result.optimum
        post = state.posterior(opt.lam)
        m, n = problem.num_inputs, problem.order
        shape = (n,) if m == 1 else (m, n)
        self.impulse_response_ = np.reshape(post.mean, shape)
        self.impulse_response_std_ = np.reshape(np.sqrt(opt.c * post.variance_over_c), shape)
        self.hyperparameters_ = {"c": float(opt.c), **result.params}
        if isinstance(problem.kernel, PerInputKernel):
            self.input_hyperparameters_ = [{"c": float(opt.c) * s, **th}
                                           for s, th in problem.kernel.input_params(result.params)]
        else:
            self.input_hyperparameters_ = [dict(self.hyperparameters_) for _ in range(m)]
        self.noise_variance_ = float(result.noise_variance)
        self.objective_ = float(opt.F)
        self._posterior_exact = bool(post.exact)
        self._shape_params = dict(result.params)
        self._problem_meta = (problem.N, self._sigma2_mode(result))
        self._state, self._problem, self._convergence, self._covariance = state, problem, None, None

    def _sigma2_mode(self, result):
        """The ``sigma2`` argument of the objective: ``None`` when the noise variance was estimated."""
        mode = self.noise_variance.lower() if isinstance(self.noise_variance, str) else None
        return None if mode == "ml" else float(result.noise_variance)

    @property
    def convergence_(self) -> list:
        """``(dim, F_lower, F_upper)`` at the optimum as the Krylov space grows ([] for exact methods).

        Computed on first access by rebuilding the optimal subspace block by
        block with the same random block (common random numbers).
        """
        self._check_fitted()
        self._check_state("convergence_")
        if self._convergence is None:
            hist = getattr(self._state, "bound_history", None)
            N, sigma2 = self._problem_meta
            lam = np.array([self.noise_variance_ / self.hyperparameters_["c"]])
            self._convergence = [] if hist is None else [
                (d, float(F_bounds(b, N, sigma2)[0][0]), float(F_bounds(b, N, sigma2)[1][0])) for d, b in hist(lam)]
        return self._convergence

    def _check_fitted(self):
        if not hasattr(self, "impulse_response_"):
            raise RuntimeError("this KernelFIR is not fitted yet; call fit(u, y) first")

    def _check_state(self, what: str):
        if getattr(self, "_state", None) is None:
            raise RuntimeError(f"{what} needs the evaluator state of the fit, which a model restored by pickle "
                               "or KernelFIR.load does not keep; refit to use it")

    # ------------------------------------------------------------------ prediction
    def predict(self, u) -> np.ndarray:
        """Output of the identified FIR for input ``u``, shape ``(N,)``.

        Zero initial conditions around the operating point of the estimation
        data: ``y = output_offset_ + G (u - input_offset_)`` (the offsets are
        zero unless ``detrend`` removed means).
        """
        self._check_fitted()
        u2 = self._check_input(u)
        return self._simulate(u2 - self.input_offset_) + self.output_offset_

    def _check_input(self, u):
        u = np.asarray(check_array(u, "u", ndim=(1, 2)), dtype=np.float64)
        u2 = u[:, None] if u.ndim == 1 else u
        if u2.shape[1] != self.n_inputs_:
            raise ValueError(f"u has {u2.shape[1]} input column(s), the model was fitted with {self.n_inputs_}")
        return u2

    def _simulate(self, u2) -> np.ndarray:
        Phi = fir_regressor(u2, self.order_, delay=self.delay_, initial="zero")
        return np.asarray(Phi.matvec(np.reshape(self.impulse_response_, -1)))

    def score(self, u, y) -> float:
        """Fit percentage ``100 (1 - ||y - y_hat|| / ||y - mean(y)||)`` of the predicted output."""
        y = check_array(y, "y", ndim=1)
        yhat = self.predict(u)
        if yhat.shape != y.shape:
            raise ValueError(f"u and y have different lengths ({yhat.shape[0]} vs {y.shape[0]})")
        return float(fit_percent(y, yhat))

    def lam_curve(self, num: int = 100, exact: bool = False, span: float = 3.0) -> LamCurve:
        """The objective along ``lam`` around the optimum (``10^-span .. 10^span`` times ``lam*``).

        With ``exact=True`` the Cholesky (small ``N``) or QR value is added.
        """
        self._check_fitted()
        self._check_state("lam_curve")
        N, sigma2 = self._problem_meta
        lam_opt = self.noise_variance_ / self.hyperparameters_["c"]
        lam = lam_opt * np.logspace(-span, span, int(num))
        lo, hi, c = F_bounds(self._state.bounds(lam), N, sigma2)
        F_exact = None
        if exact:
            ref = make_evaluator("cholesky" if N <= 3000 else "qr", self._problem)
            ex = ref.prepare(self._shape_params).bounds(lam)
            F_exact = F_bounds(ex, N, sigma2)[0]
        return LamCurve(lam, c, lo, hi, F_exact)

    def plot(self, truth=None, ax=None, **kwargs):
        """Impulse response with its confidence band (see :func:`krylovid.plotting.plot_impulse_response`)."""
        self._check_fitted()
        from ..plotting import plot_impulse_response

        kwargs.setdefault("sample_time", self.sample_time_)
        return plot_impulse_response(self.impulse_response_, std=self.impulse_response_std_, truth=truth,
                                     ax=ax, delay=self.delay_, **kwargs)

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
        return response.step_response(self.impulse_response_, self._covariance_or_none(), delay=self.delay_,
                                      sample_time=self._T, num=num)

    def frequency_response(self, omega=None) -> response.FrequencyResponse:
        """``G(e^{i omega T})`` with the posterior standard deviation (rad/s when ``sample_time`` is set).

        See :func:`~krylovid.sysid.response.frequency_response`.
        """
        self._check_fitted()
        return response.frequency_response(self.impulse_response_, self._covariance_or_none(), omega,
                                           delay=self.delay_, sample_time=self._T)

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
        u2 = self._check_input(u)
        y = np.asarray(check_array(y, "y", ndim=1), dtype=np.float64)
        if y.shape[0] != u2.shape[0]:
            raise ValueError(f"u and y have different lengths ({u2.shape[0]} vs {y.shape[0]})")
        d = detrend(u2, y, self.detrend)
        first = self.order_ + self.delay_ - 1 if self.initial == "drop" else 0
        if first >= y.shape[0] - 1:
            raise ValueError(f"y: a validation record of {y.shape[0]} samples is too short for "
                             f"initial='drop' with order {self.order_}")
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
        return diagnostics.residual_analysis(y - yhat, u2, max_lag=max_lag, confidence=confidence,
                                             sample_time=self._T)

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
    def load(cls, path) -> KernelFIR:
        """Read a model written by :meth:`save` (no pickle involved)."""
        return persistence.load_model(cls, path)

