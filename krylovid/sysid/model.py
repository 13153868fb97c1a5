"""``KernelFIR``: kernel-regularized FIR identification, scikit-learn style."""
from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int
from .metrics import fit as fit_percent
from .objective import F_bounds, METHODS, make_evaluator, resolve_noise_variance
from .problem import FIRProblem
from .regressors import fir_regressor
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
    order : int
        Number of FIR coefficients per input.
    kernel : {"TC", "DC", "SS", "SE", "HF", "DI", "CS"} or Kernel
        Prior covariance family (shape parameters shared by all inputs).
    method : {"krylov", "qr", "cholesky", "lanczos"}
        Evaluator of the objective: the augmented Krylov estimator (default),
        Chen–Ljung QR, dense Cholesky, or separate Lanczos + SLQ.
    noise_variance : "ls", "ml" or float
        ``"ls"``: fixed to the residual variance of the least-squares FIR of
        the same order (as MATLAB and Chen–Ljung); ``"ml"``: estimated jointly;
        a number: fixed.
    delay : int
        Input delay (``0``: feedthrough).
    initial : {"zero", "drop"}
        Zero past input, or drop the first outputs.
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
    impulse_response_ : ndarray of shape (order,) or (m, order)
    impulse_response_std_ : ndarray, same shape
        Posterior standard deviation.
    hyperparameters_ : dict
        ``{"c": ..., **shape}``.
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

    def __init__(self, order, kernel="TC", method="krylov", noise_variance="ls", delay=1, initial="zero",
                 random_state=None, tol=1e-8, progress=None, verbose=False, method_options=None):
        self.order = order
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

    def set_params(self, **params) -> "KernelFIR":
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

    def fit(self, u, y) -> "KernelFIR":
        """Tune the hyperparameters on ``(u, y)`` and compute the posterior.

        Parameters
        ----------
        u : array of shape (N,) or (N, m)
        y : array of shape (N,)

        Returns
        -------
        self
        """
        if not isinstance(self.method, str) or self.method.lower() not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        tol = float(self.tol)
        if not 0 < tol < 1:
            raise ValueError(f"tol must lie in (0, 1), got {self.tol!r}")
        t0 = time.perf_counter()
        problem = FIRProblem(u, y, self.order, kernel=self.kernel, delay=self.delay, initial=self.initial)
        sigma2 = resolve_noise_variance(self.noise_variance, problem)
        evaluator = make_evaluator(self.method, problem, random_state=self.random_state,
                                   **(self.method_options or {}))
        callback, bar = self._progress_callback()
        try:
            result, state = tune(evaluator, problem, sigma2, rtol=tol, progress=callback)
        finally:
            if bar is not None:
                bar.close()
        opt = result.optimum
        post = state.posterior(opt.lam)
        m, n = problem.num_inputs, problem.order
        shape = (n,) if m == 1 else (m, n)
        self.impulse_response_ = np.reshape(post.mean, shape)
        self.impulse_response_std_ = np.reshape(np.sqrt(opt.c * post.variance_over_c), shape)
        self.hyperparameters_ = {"c": float(opt.c), **result.params}
        self.noise_variance_ = float(result.noise_variance)
        self.objective_ = float(opt.F)
        self.n_inputs_ = m
        self._problem_meta = (problem.N, sigma2)
        self._state, self._problem, self._convergence = state, problem, None
        stats = state.stats()
        self.info_ = {
            "method": self.method.lower(), "subspace_dim": int(stats.get("subspace_dim", 0)),
            "matvecs": int(stats.get("matvecs", 0)), "F_lower": float(opt.F_lower), "F_upper": float(opt.F_upper),
            "wall_time_s": time.perf_counter() - t0,
            "status": "exact" if state.exact else ("converged" if opt.certified else "budget"),
            "n_evaluations": result.n_evaluations, "n_shift_evaluations": result.n_shift_evaluations,
            "formulation": stats.get("formulation"), "posterior_exact": bool(post.exact),
            "history": [(dict(p), float(F)) for p, F in result.history],
        }
        if self.verbose:
            logger.info("KernelFIR(%s): F=%.10g in [%.10g, %.10g], dim=%d, matvecs=%d, %.3fs",
                        self.method, opt.F, opt.F_lower, opt.F_upper, self.info_["subspace_dim"],
                        self.info_["matvecs"], self.info_["wall_time_s"])
        return self

    @property
    def convergence_(self) -> list:
        """``(dim, F_lower, F_upper)`` at the optimum as the Krylov space grows ([] for exact methods).

        Computed on first access by rebuilding the optimal subspace block by
        block with the same random block (common random numbers).
        """
        self._check_fitted()
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

    # ------------------------------------------------------------------ prediction
    def predict(self, u) -> np.ndarray:
        """Output of the identified FIR for input ``u`` (zero initial conditions), shape ``(N,)``."""
        self._check_fitted()
        u = check_array(u, "u", ndim=(1, 2))
        u2 = u[:, None] if u.ndim == 1 else u
        if u2.shape[1] != self.n_inputs_:
            raise ValueError(f"u has {u2.shape[1]} input column(s), the model was fitted with {self.n_inputs_}")
        Phi = fir_regressor(u2, check_int(self.order, "order", minimum=1), delay=self.delay, initial="zero")
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
        N, sigma2 = self._problem_meta
        lam_opt = self.noise_variance_ / self.hyperparameters_["c"]
        lam = lam_opt * np.logspace(-span, span, int(num))
        lo, hi, c = F_bounds(self._state.bounds(lam), N, sigma2)
        F_exact = None
        if exact:
            ref = make_evaluator("cholesky" if N <= 3000 else "qr", self._problem)
            params = {k: v for k, v in self.hyperparameters_.items() if k != "c"}
            ex = ref.prepare(params).bounds(lam)
            F_exact = F_bounds(ex, N, sigma2)[0]
        return LamCurve(lam, c, lo, hi, F_exact)

    def plot(self, truth=None, ax=None, **kwargs):
        """Impulse response with its confidence band (see :func:`krylovid.plotting.plot_impulse_response`)."""
        self._check_fitted()
        from ..plotting import plot_impulse_response

        return plot_impulse_response(self.impulse_response_, std=self.impulse_response_std_, truth=truth,
                                     ax=ax, delay=self.delay, **kwargs)
