import math

import numpy as np
import pytest
from scipy import stats as sstats

from pwbench import stats


def test_windows():
    assert stats.window("up_to", 20) == slice(0, 20)
    assert stats.window("at", 20) == slice(16, 20)
    assert stats.window("at", 2) == slice(0, 2)


def test_clip_group_score_skips_nan_frames():
    per_view = {"a": [1.0, None, 3.0], "b": [2.0, 2.0, 2.0]}
    assert stats.clip_group_score(per_view, ("a", "b"), slice(0, 3)) == pytest.approx((2.0 + 2.0) / 2)
    assert math.isnan(stats.clip_group_score({"a": [None]}, ("a",), slice(0, 1)))


def test_bootstrap_is_seeded_and_covers_the_mean():
    values = np.random.default_rng(1).normal(0.3, 0.05, 64)
    a, b = stats.bootstrap_mean(values), stats.bootstrap_mean(values)
    assert a == b and a.ci_low < a.mean < a.ci_high and a.n == 64
    assert a.ci_high - a.ci_low == pytest.approx(2 * 1.96 * values.std() / 8, rel=0.2)
    assert stats.bootstrap_mean(np.array([math.nan])).n == 0


def test_paired_test_against_scipy():
    rng = np.random.default_rng(0)
    b = rng.normal(0.1, 0.02, 40)
    a = b - 0.01 + rng.normal(0, 0.005, 40)  # a has lower LPIPS: better
    res = stats.paired_test(a, b, higher_is_better=False)
    assert res.win_rate > 0.9 and res.mean_difference < 0
    assert res.wilcoxon_p == pytest.approx(sstats.wilcoxon(a - b).pvalue)
    wins = int(((a - b) < 0).sum())
    assert res.sign_p == pytest.approx(sstats.binomtest(wins, 40).pvalue)


def test_holm():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = stats.holm([0.5, math.nan])
    assert adjusted[0] == 0.5 and math.isnan(adjusted[1])
