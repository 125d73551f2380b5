"""The NFS/NBD ratio and its interval."""

from __future__ import annotations

import math

import pytest

from swaplab.fleet.stats import paired_ratio, t95


def test_t_quantiles() -> None:
    assert t95(2) == pytest.approx(4.303)
    assert t95(1000) == pytest.approx(1.96)
    with pytest.raises(ValueError):
        t95(0)


def test_identical_pairs_give_a_zero_width_interval() -> None:
    r = paired_ratio([200.0, 200.0, 200.0], [100.0, 100.0, 100.0])
    assert r.ratio == pytest.approx(2.0)
    assert r.low == pytest.approx(2.0) and r.high == pytest.approx(2.0)
    assert r.half_width_pct == pytest.approx(0.0)


def test_interval_matches_a_hand_computed_t_interval_on_log_ratios() -> None:
    nfs, nbd = [444.0, 430.0, 470.0], [262.0, 250.0, 265.0]
    logs = [math.log(a / b) for a, b in zip(nfs, nbd, strict=True)]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    r = paired_ratio(nfs, nbd)
    assert r.ratio == pytest.approx(math.exp(mean))
    assert r.low == pytest.approx(math.exp(mean - 4.303 * sd / math.sqrt(3)))
    assert r.high == pytest.approx(math.exp(mean + 4.303 * sd / math.sqrt(3)))
    assert r.low < r.ratio < r.high
    assert r.per_pair[0] == pytest.approx(444 / 262)


def test_one_pair_has_no_interval_and_unpaired_trials_are_dropped() -> None:
    r = paired_ratio([300.0, 310.0], [150.0])
    assert r.pairs == 1 and r.ratio == pytest.approx(2.0)
    assert r.low is None and r.half_width_pct is None


def test_no_pair_or_nonsense_times_are_refused() -> None:
    with pytest.raises(ValueError):
        paired_ratio([], [1.0])
    with pytest.raises(ValueError):
        paired_ratio([0.0], [1.0])
