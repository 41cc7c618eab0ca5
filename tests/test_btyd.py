"""BG/NBD (churnml.btyd): recovery on simulated customers, the closed forms against direct
numerical integration of the individual-level model, hand-worked values, and edge cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special
from sklearn.exceptions import NotFittedError

from churnml.btyd import (
    BetaGeoFitter,
    _expected_if_alive,
    _expected_if_alive_hyp2f1,
    _expected_if_alive_quadrature,
    _expected_if_alive_series,
    _Z_SERIES,
    _log_likelihood_and_gradient,
)
from churnml.errors import ConfigError, DataValidationError, EmptySourceError, ModelFileError

CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # FHL 2005, weeks
ABOVE_ONE = {"r": 0.5, "alpha": 6.0, "a": 2.5, "b": 4.0}


def model_with(params: dict[str, float]) -> BetaGeoFitter:
    return BetaGeoFitter.from_dict({"format": "churnml-btyd-bgnbd", "format_version": 1, "params": params})


def simulate(n: int, params: dict[str, float], *, t_low: float, t_high: float, horizon: float, seed: int):
    """BG/NBD customers in continuous time: ``(x, t_x, T)`` and the count in ``(T, T + horizon]``.

    The customer drops out right after the J-th repeat purchase, ``J ~ Geometric(p)`` on 1, 2, ...;
    N repeat purchases of a rate-lambda Poisson process fall in ``(0, T]``, so ``x = min(N, J)``
    and, the N times being uniform on ``(0, T]``, ``t_x = T * Beta(x, N - x + 1)`` (the x-th of them).
    """
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    dropout = rng.beta(params["a"], params["b"], n)
    age = rng.uniform(t_low, t_high, n)
    last = rng.geometric(dropout)
    in_window = rng.poisson(rate * age)
    x = np.minimum(in_window, last)
    t_x = np.zeros(n)
    repeat = x > 0
    t_x[repeat] = age[repeat] * rng.beta(x[repeat], in_window[repeat] - x[repeat] + 1)
    alive = last > in_window
    future = np.where(alive, np.minimum(rng.poisson(rate * horizon), last - in_window), 0)
    return x.astype(float), t_x, age, future


def daily_grain(x, t_x, age):
    """Whole days, as SQL summaries would give them: at most one repeat per day after the first."""
    days = np.ceil(age)
    recency = np.where(x > 0, np.minimum(np.ceil(t_x), days), 0.0)
    return np.minimum(x, recency), recency, days


# ------------------------------------------------------------------ integrals


def _gamma_beta_integral(inner, r, alpha, a, b, lam_shape_rate):
    """``E[inner(lambda, p, 1 - p)]`` for ``lambda ~ Gamma(r, alpha)``, ``p ~ Beta(a, b)``, by nested quad.

    ``lambda = v^(1/r)`` turns the ``lambda^(r-1)`` end-point singularity into a constant
    (``lambda^(r-1) d lambda = dv / r``) and ``p = expit(s)`` the ``p^(a-1) (1-p)^(b-1)`` ones into
    the smooth ``p^a (1-p)^b ds`` on the real line, whose tails fall like ``e^(a s)`` and ``e^(-b s)``.
    """
    const = r * math.log(alpha) - special.gammaln(r + 1) - special.betaln(a, b)
    centre = math.log(a / b)
    lo, hi = min(centre, 0.0) - 70.0 / a - 5.0, max(centre, 0.0) + 70.0 / b + 5.0
    # the lambda-integrand is about lambda^(shape-1) e^(-rate lambda): its mass is below this
    shape, rate = lam_shape_rate
    v_peak = (shape / rate) ** r
    v_max = ((shape + 60.0 * math.sqrt(shape) + 100.0) / rate) ** r

    def over_lambda(s):
        p, q = special.expit(s), special.expit(-s)
        weight = math.exp(const + a * special.log_expit(s) + b * special.log_expit(-s))
        value, _ = integrate.quad(lambda v: inner(v ** (1.0 / r), p, q) * math.exp(-alpha * v ** (1.0 / r)),
                                  0.0, v_max, points=[v_peak / 4, v_peak, 4 * v_peak, 20 * v_peak], epsabs=0.0,
                                  epsrel=1e-12, limit=200)
        return value * weight

    points = sorted({centre - 2.0, centre, centre + 2.0, 0.0})
    value, _ = integrate.quad(over_lambda, lo, hi, points=[pt for pt in points if lo < pt < hi],
                              epsabs=0.0, epsrel=1e-11, limit=400)
    return value


def individual_likelihood(x, t_x, age):
    def likelihood(lam, p, q):
        value = q ** x * lam ** x * math.exp(-lam * age)
        if x > 0:
            value += p * q ** (x - 1) * lam ** x * math.exp(-lam * t_x)
        return value
    return likelihood


def lam_shape_rate(x, t_x, age, r, alpha):
    """The gamma shape and rate of ``lambda^(x+r-1) e^(-(alpha + t) lambda)``, t the slower of the exponents."""
    return x + r, alpha + (t_x if x > 0 else age)


def integrated_log_likelihood(x, t_x, age, params):
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    return math.log(_gamma_beta_integral(individual_likelihood(x, t_x, age), r, alpha, a, b,
                                         lam_shape_rate(x, t_x, age, r, alpha)))


def integrated_expectation(t, x, t_x, age, params):
    """``E[Y(t) | x, t_x, T]`` from the individual model: the posterior weight of "alive at T",
    ``(1-p)^x lambda^x e^(-lambda T)``, times the alive customer's ``(1 - e^(-lambda p t)) / p``."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))

    def alive_times_count(lam, p, q):
        return q ** x * lam ** x * math.exp(-lam * age) * -math.expm1(-lam * p * t) / p

    lam = lam_shape_rate(x, t_x, age, r, alpha)
    numerator = _gamma_beta_integral(alive_times_count, r, alpha, a, b, lam)
    return numerator / _gamma_beta_integral(individual_likelihood(x, t_x, age), r, alpha, a, b, lam)


def integrated_p_alive(x, t_x, age, params):
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    lam = lam_shape_rate(x, t_x, age, r, alpha)
    alive = _gamma_beta_integral(lambda lam, p, q: q ** x * lam ** x * math.exp(-lam * age),
                                 r, alpha, a, b, lam)
    return alive / _gamma_beta_integral(individual_likelihood(x, t_x, age), r, alpha, a, b, lam)


# ------------------------------------------------------------ 1. recovery


@pytest.mark.parametrize("truth", [CDNOW, ABOVE_ONE], ids=["cdnow", "a_above_one"])
def test_fit_recovers_the_parameters_and_predicts_future_counts(truth):
    x, t_x, age, future = simulate(50_000, truth, t_low=10, t_high=150, horizon=39, seed=0)
    model = BetaGeoFitter().fit(x, t_x, age)
    assert model.converged_
    assert model.n_customers_ == 50_000
    for name, value in truth.items():
        assert model.params_[name] == pytest.approx(value, rel=0.15), name
    # the model's and the truth's aggregate 39-week forecasts against what the customers then did
    assert model.expected_purchases(39, x, t_x, age).sum() == pytest.approx(future.sum(), rel=0.03)
    assert model_with(truth).expected_purchases(39, x, t_x, age).sum() == pytest.approx(future.sum(), rel=0.03)
    assert model.log_likelihood_ == pytest.approx(model.log_likelihood(x, t_x, age).sum(), rel=1e-12)


def test_fit_on_grouped_rows_with_weights_equals_fit_on_the_expanded_rows():
    x, t_x, age, _ = simulate(8_000, CDNOW, t_low=1, t_high=60, horizon=1, seed=3)
    x, t_x, age = daily_grain(x, t_x, age)
    rows, counts = np.unique(np.column_stack([x, t_x, age]), axis=0, return_counts=True)
    assert len(rows) < len(x) / 2
    expanded = BetaGeoFitter().fit(x, t_x, age)
    grouped = BetaGeoFitter().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    for name in ("r", "alpha", "a", "b"):
        assert grouped.params_[name] == pytest.approx(expanded.params_[name], rel=1e-9)
    assert grouped.log_likelihood_ == pytest.approx(expanded.log_likelihood_, rel=1e-12)
    assert grouped.n_customers_ == expanded.n_customers_ == len(x)


def test_fit_ignores_row_order_and_zero_weight_rows():
    x, t_x, age, _ = simulate(3_000, ABOVE_ONE, t_low=5, t_high=50, horizon=1, seed=4)
    order = np.random.default_rng(0).permutation(len(x))
    first = BetaGeoFitter().fit(x, t_x, age)
    shuffled = BetaGeoFitter().fit(pd.Series(x[order]), pd.Series(t_x[order]), pd.Series(age[order]))
    padded = BetaGeoFitter().fit(np.r_[x, 40.0], np.r_[t_x, 41.0], np.r_[age, 42.0],
                                 weights=np.r_[np.ones_like(x), 0.0])
    assert shuffled.params_ == first.params_ == padded.params_


def test_analytic_gradient_matches_finite_differences():
    x = np.array([0.0, 1.0, 2.0, 7.0, 30.0])
    t_x = np.array([0.0, 3.0, 30.43, 20.0, 50.0])
    age = np.array([5.0, 10.0, 38.86, 20.0, 60.0])
    point = np.array([0.243, 4.414, 0.793, 2.426])
    _, gradient = _log_likelihood_and_gradient(x, t_x, age, *point)
    for row in range(len(x)):
        def ll(theta, row=row):
            return _log_likelihood_and_gradient(x[row:row + 1], t_x[row:row + 1], age[row:row + 1], *theta)[0][0]
        numeric = optimize.approx_fprime(point, ll, 1e-7)
        np.testing.assert_allclose(gradient[:, row], numeric, rtol=1e-5, atol=1e-6)


def test_penalizer_shrinks_the_parameters():
    x, t_x, age, _ = simulate(3_000, CDNOW, t_low=10, t_high=60, horizon=1, seed=5)
    plain = BetaGeoFitter().fit(x, t_x, age)
    penalised = BetaGeoFitter(penalizer=0.1).fit(x, t_x, age)
    assert sum(v * v for v in penalised.params_.values()) < sum(v * v for v in plain.params_.values())
    assert penalised.log_likelihood_ < plain.log_likelihood_


# ------------------------------------------- 2. likelihood against integrals


@pytest.mark.parametrize("params", [CDNOW, ABOVE_ONE, {"r": 2.0, "alpha": 0.7, "a": 0.3, "b": 0.8}],
                         ids=["cdnow", "a_above_one", "b_below_one"])
@pytest.mark.parametrize("row", [(0, 0.0, 38.86), (1, 5.0, 20.0), (2, 30.43, 38.86), (9, 12.5, 31.0)])
def test_log_likelihood_equals_the_integrated_individual_likelihood(params, row):
    x, t_x, age = row
    closed = BetaGeoFitter().log_likelihood([x], [t_x], [age], params=params)[0]
    assert closed == pytest.approx(integrated_log_likelihood(x, t_x, age, params), rel=1e-6)


# ------------------------------------------ 3. P(alive) and expected counts


def test_p_alive_hand_worked_values():
    # x == 0: alive for sure, whatever the age
    model = model_with({"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 2.0})
    np.testing.assert_array_equal(model.p_alive([0, 0], [0, 0], [0, 500]), [1.0, 1.0])
    # r = alpha = a = 1, b = 2, x = 1, t_x = 1, T = 3: 1 / (1 + 1/2 * (4/2)^2) = 1/3
    assert model.p_alive([1], [1], [3])[0] == pytest.approx(1 / 3, rel=1e-14)
    # r = alpha = a = 2, b = 3, x = 2, t_x = 2, T = 6: 1 / (1 + 2/4 * (8/4)^4) = 1/9
    model = model_with({"r": 2.0, "alpha": 2.0, "a": 2.0, "b": 3.0})
    assert model.p_alive([2], [2], [6])[0] == pytest.approx(1 / 9, rel=1e-14)
    # last purchase right at the end: (alpha+T)/(alpha+t_x) = 1, so 1 / (1 + a/(b+x-1)) = 4/6
    assert model.p_alive([2], [6], [6])[0] == pytest.approx(4 / 6, rel=1e-14)


def test_expected_purchases_hand_worked_values():
    # With r = a + b - 1 the Euler-transformed 2F1(a+b-1-r, a-1; a+b+x-1; z) is 1, so
    # E = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(a-1)] * P(alive).
    model = model_with({"r": 3.0, "alpha": 1.0, "a": 2.0, "b": 2.0})
    # new customer: 3 * [1 - 1/(1+t)] = 3t / (1 + t)
    np.testing.assert_allclose(model.expected_purchases_new([0.0, 1.0, 3.0, 1e-3]),
                               [0.0, 1.5, 2.25, 3e-3 / 1.001], rtol=1e-13)
    # x = 1, t_x = 1, T = 3, t = 4: 4 * (1 - 4/8) * 1 / (1 + 2/2 * (4/2)^4) = 2/17
    assert model.expected_purchases(4, [1], [1], [3])[0] == pytest.approx(2 / 17, rel=1e-13)


@pytest.mark.parametrize("params", [CDNOW, ABOVE_ONE], ids=["cdnow", "a_above_one"])
@pytest.mark.parametrize("t, row", [(39.0, (2, 30.43, 38.86)), (10.0, (0, 0.0, 20.0)), (52.0, (6, 10.0, 30.0))])
def test_expected_purchases_and_p_alive_equal_their_integrals(params, t, row):
    x, t_x, age = row
    model = model_with(params)
    expected = model.expected_purchases(t, [x], [t_x], [age])[0]
    assert expected == pytest.approx(integrated_expectation(t, x, t_x, age, params), rel=1e-6)
    assert model.p_alive([x], [t_x], [age])[0] == pytest.approx(integrated_p_alive(x, t_x, age, params), rel=1e-6)


def test_the_published_cdnow_customer():
    # FHL 2005: with the CDNOW estimates, a customer with x = 2, t_x = 30.43, T = 38.86 (weeks)
    # is expected to make 1.226 repeat purchases in the next 39 weeks. Cross-checked above by
    # integration (test_expected_purchases_and_p_alive_equal_their_integrals, first case).
    model = model_with(CDNOW)
    assert round(float(model.expected_purchases(39, [2], [30.43], [38.86])[0]), 3) == 1.226
    assert round(float(model.p_alive([2], [30.43], [38.86])[0]), 3) == 0.727


def test_expected_purchases_of_a_newcomer_is_the_unconditional_expectation():
    model = model_with(CDNOW)
    t = np.array([0.5, 4.0, 39.0, 78.0])
    zeros = np.zeros_like(t)
    np.testing.assert_allclose(model.expected_purchases(t, zeros, zeros, zeros), model.expected_purchases_new(t),
                               rtol=1e-14)
    nearly_new = model.expected_purchases(t, zeros, zeros, zeros + 1e-9)
    np.testing.assert_allclose(nearly_new, model.expected_purchases_new(t), rtol=1e-8)
    # E[X(t)] of a newcomer against the gamma-beta integral of (1 - e^(-lambda p t)) / p
    r, alpha, a, b = CDNOW.values()
    direct = _gamma_beta_integral(lambda lam, p, q: -math.expm1(-lam * p * 39.0) / p, r, alpha, a, b,
                                  lam_shape_rate(0, 0.0, 0.0, r, alpha))
    assert model.expected_purchases_new(39.0)[0] == pytest.approx(direct, rel=1e-6)


def test_expected_purchases_broadcasts_t_per_customer():
    model = model_with(CDNOW)
    each = model.expected_purchases([10.0, 39.0], [2, 2], [30.43, 30.43], [38.86, 38.86])
    np.testing.assert_allclose(each, [model.expected_purchases(10.0, [2], [30.43], [38.86])[0],
                                      model.expected_purchases(39.0, [2], [30.43], [38.86])[0]], rtol=1e-15)


# ------------------------------------------------------------ 4. robustness


@pytest.mark.parametrize("params", [
    {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    {"r": 0.05, "alpha": 0.01, "a": 0.05, "b": 0.05},  # a + b < 1: c = a+b+x-1 < 0 at x = 0
    {"r": 20.0, "alpha": 500.0, "a": 40.0, "b": 0.3},
    {"r": 0.5, "alpha": 3.0, "a": 1.0, "b": 2.0},  # a == 1: the closed form is 0/0
    {"r": 0.5, "alpha": 3.0, "a": 1.0 + 1e-6, "b": 2.0},
])
def test_edge_cases_are_finite_non_negative_and_bounded(params):
    model = model_with(params)
    x = np.array([0, 1, 300, 300, 3000, 0, 5], dtype=float)
    t_x = np.array([0, 1e5, 299, 2e5, 1e5, 0, 1e-3])
    age = np.array([1e5, 1e5, 300, 2e5, 1e5, 0, 1e5])
    r, alpha = params["r"], params["alpha"]
    for t in (1e-6, 1.0, 39.0, 1e4, 1e7):
        expected = model.expected_purchases(t, x, t_x, age)
        assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
        assert np.all(expected <= (r + x) * t / (alpha + age) * (1 + 1e-12))
    new = model.expected_purchases_new([0.0, 1e-6, 1.0, 1e4, 1e7])
    assert np.all(np.isfinite(new)) and np.all(new >= 0) and np.all(np.diff(new) >= 0)
    alive = model.p_alive(x, t_x, age)
    assert np.all((alive >= 0) & (alive <= 1))
    assert np.all(np.isfinite(model.log_likelihood(x, t_x, age)))


params_strategy = st.fixed_dictionaries({
    "r": st.floats(0.02, 50.0), "alpha": st.floats(0.01, 1000.0),
    "a": st.floats(0.02, 50.0), "b": st.floats(0.02, 50.0)})


@settings(max_examples=60, deadline=None)
@given(params=params_strategy, x=st.integers(0, 3000), age=st.floats(0.0, 1e5), share=st.floats(0.0, 1.0),
       t=st.floats(1e-4, 1e6))
# Found by CI: at saturation (74.578947 at t=4 and t=20) the two agree to 1.6e-12 relative, below the
# rounding of the hypergeometric sum, so the order is checked to the same 1e-9 as the ceiling.
@example(params={"r": 1.0, "alpha": 1.0, "a": 20.0, "b": 1.0}, x=1417, age=0.0, share=0.0, t=2.0)
def test_expected_purchases_are_finite_bounded_and_increasing(params, x, age, share, t):
    model = model_with(params)
    t_x = share * age if x > 0 else 0.0
    horizon = np.array([t, 2 * t, 10 * t])
    expected = model.expected_purchases(horizon, [x] * 3, [t_x] * 3, [age] * 3)
    ceiling = (params["r"] + x) * horizon / (params["alpha"] + age) * model.p_alive([x], [t_x], [age])[0]
    assert np.all(np.isfinite(expected)) and np.all(expected >= 0)
    assert np.all(expected <= ceiling * (1 + 1e-9))
    assert np.all(np.diff(expected) >= -1e-9 * expected[1:])


@settings(max_examples=60, deadline=None)
@given(params=params_strategy, x=st.integers(0, 3000), scale=st.floats(0.01, 1e5), t=st.floats(1e-3, 1e6))
@example(params={"r": 0.02, "alpha": 1.0, "a": 1.02, "b": 40.0}, x=3000, scale=1e5, t=0.001)
def test_hyp2f1_series_and_quadrature_agree(params, x, scale, t):
    r, _, a, b = params.values()
    z, xs = np.array([t / (scale + t)]), np.array([float(x)])
    quadrature = _expected_if_alive_quadrature(np.array([t]), xs, np.array([scale]), r, a, b)[0]
    # The closed form is used only from _Z_SERIES up: below it 1 - (1-z)^(a-1) 2F1 cancels and loses
    # -log10(z) digits, which is why the series exists (at z = 1e-8 it is 6.5e-7 off).
    if abs(a - 1.0) > 1e-2 and z[0] >= _Z_SERIES:
        closed = _expected_if_alive_hyp2f1(z, xs, r, a, b)[0]
        if np.isfinite(closed):  # non-finite values are what the quadrature is there for
            assert closed == pytest.approx(quadrature, rel=1e-7)
    if z[0] < 0.05:
        assert _expected_if_alive_series(z, xs, r, a, b)[0] == pytest.approx(quadrature, rel=1e-9)
    combined = _expected_if_alive(np.array([t]), xs, np.array([scale - 1.0]), r, 1.0, a, b)[0]
    assert combined == pytest.approx(quadrature, rel=1e-7)


@settings(max_examples=40, deadline=None)
@given(params=params_strategy, x=st.integers(1, 500), age=st.floats(0.0, 1e4), share=st.floats(0.0, 1.0))
def test_p_alive_is_a_probability_that_falls_with_age(params, x, age, share):
    model = model_with(params)
    t_x = share * age
    alive = model.p_alive([x, x], [t_x, t_x], [age, age + 10.0])
    assert np.all((alive >= 0) & (alive <= 1)) and alive[1] <= alive[0]


def test_to_dict_from_dict_round_trip_through_json():
    x, t_x, age, _ = simulate(2_000, CDNOW, t_low=10, t_high=60, horizon=1, seed=6)
    model = BetaGeoFitter(penalizer=0.01).fit(x, t_x, age)
    again = BetaGeoFitter.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.params_ == model.params_ and again.penalizer == 0.01
    assert (again.log_likelihood_, again.n_customers_, again.converged_) == (
        model.log_likelihood_, model.n_customers_, model.converged_)
    np.testing.assert_array_equal(again.expected_purchases(39, x, t_x, age), model.expected_purchases(39, x, t_x, age))
    published = model_with(CDNOW)
    assert math.isnan(published.log_likelihood_)
    assert json.loads(json.dumps(published.to_dict()))["log_likelihood"] is None


@pytest.mark.parametrize("raw, match", [
    ({"format": "other", "format_version": 1, "params": CDNOW}, "Not a BG/NBD model"),
    ([1, 2], "Not a BG/NBD model"),
    ({"format": "churnml-btyd-bgnbd", "format_version": 9, "params": CDNOW}, "version 9"),
    ({"format": "churnml-btyd-bgnbd", "format_version": 1, "params": {"r": 1, "alpha": 1, "a": 1}}, "exactly"),
    ({"format": "churnml-btyd-bgnbd", "format_version": 1, "params": {**CDNOW, "b": -1.0}}, "'b' must be"),
    ({"format": "churnml-btyd-bgnbd", "format_version": 1, "params": {**CDNOW, "r": "0.2"}}, "'r' must be"),
])
def test_from_dict_rejects_bad_model_dicts(raw, match):
    with pytest.raises(ModelFileError, match=match):
        BetaGeoFitter.from_dict(raw)


@pytest.mark.parametrize("frequency, recency, T, error, match", [
    ([], [], [], EmptySourceError, "empty"),
    ([1, -1], [1, 0], [2, 2], DataValidationError, r"'frequency' must be a whole number >= 0; 1 of 2 rows"),
    ([1.5, 2], [1, 1], [2, 2], DataValidationError, r"'frequency' must be a whole number.*row 0: frequency=1.5"),
    ([1, 2, 3], [3, 5, 1], [2, 4, 2], DataValidationError, r"'recency' must be <= T; 2 of 3 rows"),
    ([1, 1], [1, -2], [2, 2], DataValidationError, r"'recency' must be >= 0"),
    ([0, 1], [0, 1], [np.nan, 2], DataValidationError, r"'T' must be finite"),
    ([0, 1], [2, 1], [3, 2], DataValidationError, r"'recency' must be 0 where frequency is 0"),
    ([0, 1], [0, 1], [3, 2, 4], ConfigError, "same length"),
    ([[0, 1]], [[0, 1]], [[3, 2]], ConfigError, "1-D"),
    (["a", "b"], [0, 1], [3, 2], DataValidationError, "'frequency' must be numeric"),
])
def test_bad_summaries_raise_with_the_argument_and_the_count(frequency, recency, T, error, match):
    with pytest.raises(error, match=match):
        BetaGeoFitter().fit(frequency, recency, T)


def test_every_problem_is_reported_at_once():
    with pytest.raises(DataValidationError) as info:
        BetaGeoFitter().fit([-1, 1.5, 1], [0, 1, 9], [1, 2, 3])
    assert info.value.column == "frequency" and info.value.n_bad == 2 and info.value.example == -1.0
    assert any("'recency' must be <= T; 1 of 3 rows" in line for line in info.value.others)


@pytest.mark.parametrize("weights, error, match", [
    ([1, -2], DataValidationError, r"'weights' must be finite counts >= 0; 1 of 2"),
    ([0, 0], EmptySourceError, "all 0"),
    ([1, 2, 3], ConfigError, "one value per row"),
])
def test_bad_weights(weights, error, match):
    with pytest.raises(error, match=match):
        BetaGeoFitter().fit([0, 1], [0, 1], [2, 2], weights=weights)


@pytest.mark.parametrize("penalizer", [-0.1, float("nan"), "0.1", True])
def test_bad_penalizer(penalizer):
    with pytest.raises(ConfigError, match="'penalizer' parameter of BetaGeoFitter"):
        BetaGeoFitter(penalizer=penalizer).fit([0, 1], [0, 1], [2, 2])


def test_bad_horizon_and_unfitted_model():
    model = model_with(CDNOW)
    with pytest.raises(ConfigError, match="'t' must be finite and >= 0"):
        model.expected_purchases(-1.0, [1], [1], [2])
    with pytest.raises(ConfigError, match="one value per customer"):
        model.expected_purchases([1.0, 2.0, 3.0], [1, 1], [1, 1], [2, 2])
    with pytest.raises(NotFittedError):
        BetaGeoFitter().p_alive([1], [1], [2])
    with pytest.raises(NotFittedError):
        BetaGeoFitter().to_dict()
