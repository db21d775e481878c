"""Deflated Sharpe ratio and PBO (CSCV) against their known properties."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.overfitting import (
    deflated_sharpe,
    deflated_sharpe_of,
    expected_max_sharpe,
    probabilistic_sharpe,
    probability_of_backtest_overfitting,
)


def test_pbo_of_pure_noise_trials_is_near_one_half() -> None:
    values = [
        probability_of_backtest_overfitting(
            np.random.default_rng(seed).normal(0, 0.01, (800, 12)), n_blocks=10
        ).value
        for seed in range(30)
    ]
    # A single study's PBO is noisy (splits share blocks); the mean over 30 is 0.5 +- ~0.05.
    assert 0.4 < float(np.mean(values)) < 0.6


def test_pbo_is_zero_when_one_trial_dominates() -> None:
    r = np.random.default_rng(0).normal(0, 0.01, (2000, 20))
    r[:, 7] += 0.004
    result = probability_of_backtest_overfitting(r, n_blocks=16)
    assert result.value == 0.0
    assert result.n_splits == 12870
    assert np.all(result.logits > 0)


def test_pbo_is_high_when_in_sample_winners_reverse_out_of_sample() -> None:
    # Trials that are each good in one half of time and bad in the other: the in-sample winner
    # is systematically poor out of sample.
    t, n = 1600, 10
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, (t, n))
    first = np.arange(t) < t // 2
    r[first, :5] += 0.003
    r[~first, :5] -= 0.003
    r[first, 5:] -= 0.002
    r[~first, 5:] += 0.002
    assert probability_of_backtest_overfitting(r, n_blocks=2).value == 1.0


def test_pbo_rejects_too_few_trials_or_odd_blocks() -> None:
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(np.zeros((100, 4)), n_blocks=5)


def test_expected_max_sharpe_grows_with_trials_and_is_zero_for_one() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    values = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    assert values == sorted(values) and values[0] > 0


def test_expected_max_sharpe_matches_simulated_maxima_of_noise() -> None:
    rng = np.random.default_rng(0)
    n, sd = 50, 0.1
    simulated = rng.normal(0, sd, (20000, n)).max(axis=1).mean()
    assert expected_max_sharpe(n, sd**2) == pytest.approx(simulated, rel=0.03)


def test_deflated_sharpe_increases_with_sharpe_and_decreases_with_trials() -> None:
    by_sharpe = [deflated_sharpe(s, 5000, 0.0, 3.0, 50, 1e-4).value for s in (0.0, 0.02, 0.05)]
    assert by_sharpe == sorted(by_sharpe) and by_sharpe[0] < by_sharpe[-1]
    by_trials = [deflated_sharpe(0.03, 5000, 0.0, 3.0, n, 1e-4).value for n in (1, 10, 1000)]
    assert by_trials == sorted(by_trials, reverse=True) and by_trials[0] > by_trials[-1]


def test_deflated_sharpe_of_one_trial_is_the_probabilistic_sharpe() -> None:
    dsr = deflated_sharpe(0.03, 3000, -0.2, 5.0, 1, 1e-4)
    assert dsr.value == pytest.approx(probabilistic_sharpe(0.03, 0.0, 3000, -0.2, 5.0))


def test_fat_tails_lower_the_deflated_sharpe() -> None:
    normal = deflated_sharpe(0.04, 2000, 0.0, 3.0, 20, 1e-4).value
    fat = deflated_sharpe(0.04, 2000, -1.0, 12.0, 20, 1e-4).value
    assert fat < normal


def test_deflated_sharpe_of_the_best_noise_trial_is_not_significant() -> None:
    r = np.random.default_rng(3).normal(0, 0.01, (3000, 100))
    best = int(np.argmax(r.mean(axis=0) / r.std(axis=0)))
    dsr = deflated_sharpe_of(r, best)
    naive = probabilistic_sharpe(dsr.sharpe, 0.0, dsr.n_obs, dsr.skewness, dsr.kurtosis)
    assert naive > 0.95  # the luckiest of 100 looks significant on its own...
    assert dsr.value < 0.95  # ...but not once deflated for the 100 trials


def test_deflated_sharpe_reproduces_the_papers_numerical_example() -> None:
    """Bailey & López de Prado, "The Deflated Sharpe Ratio: Correcting for Selection Bias,
    Backtest Overfitting and Non-Normality", Journal of Portfolio Management 40(5), 2014,
    section "A numerical example": N = 100 independent trials, annualised Sharpe variance
    V = 1/2 across them, the best trial's annualised Sharpe 2.5 over T = 1250 daily returns
    (5 years of 250 days) with skewness -3 and kurtosis 10. The paper finds the benchmark
    SR0 ~= 0.1132 (per day) and DSR ~= 0.9004."""
    days = 250
    dsr = deflated_sharpe(
        sharpe=2.5 / np.sqrt(days),
        n_obs=1250,
        skewness=-3.0,
        kurt=10.0,
        n_trials=100,
        var_sharpe=0.5 / days,
    )
    assert dsr.expected_max_sharpe == pytest.approx(0.1132, abs=5e-5)
    assert dsr.value == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_of_returns_passes_non_excess_kurtosis_and_their_skew() -> None:
    rng = np.random.default_rng(0)
    normal = rng.standard_normal((20000, 2)) * 0.01
    assert deflated_sharpe_of(normal, 0).kurtosis == pytest.approx(3.0, abs=0.1)
    assert deflated_sharpe_of(normal, 0).skewness == pytest.approx(0.0, abs=0.05)
    skewed = np.column_stack([rng.exponential(0.01, 20000), normal[:, 1]])
    dsr = deflated_sharpe_of(skewed, 0)  # exponential: skewness 2, kurtosis 9
    assert dsr.skewness == pytest.approx(2.0, abs=0.2)
    assert dsr.kurtosis == pytest.approx(9.0, abs=1.5)
    assert dsr.n_obs == 20000 and dsr.n_trials == 2
    assert deflated_sharpe_of(skewed, 0, n_trials=50).n_trials == 50
