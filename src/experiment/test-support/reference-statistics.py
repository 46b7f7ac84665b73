#!/usr/bin/python3
"""Reference values for src/experiment/statistics.test.ts, computed by a second implementation: statsmodels and
scipy (Debian bookworm: apt-get install python3-statsmodels python3-scipy). Run once; its output is the fixture:

    /usr/bin/python3 src/experiment/test-support/reference-statistics.py > src/experiment/test-support/reference-statistics.json
"""
import json

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

proportions = []
for control, treatment in [
    ((200, 2000), (260, 2000)),
    ((90, 1000), (95, 1100)),
    ((0, 50), (3, 50)),
    ((480, 5000), (520, 5000)),
    ((8100, 9000), (880, 1000)),
    ((12, 40), (25, 45)),
]:
    z, p = proportions_ztest([treatment[0], control[0]], [treatment[1], control[1]])
    low, high = confint_proportions_2indep(treatment[0], treatment[1], control[0], control[1], method="wald", compare="diff")
    proportions.append({
        "control": {"successes": control[0], "n": control[1]},
        "treatment": {"successes": treatment[0], "n": treatment[1]},
        "control_wilson": list(proportion_confint(control[0], control[1], alpha=0.05, method="wilson")),
        "treatment_wilson": list(proportion_confint(treatment[0], treatment[1], alpha=0.05, method="wilson")),
        "z": float(z),
        "p_value": float(p),
        "difference_interval": [float(low), float(high)],
    })

rng = np.random.default_rng(12)
means = []
for control, treatment in [
    (rng.normal(10, 2, 40), rng.normal(11, 3, 35)),
    (rng.normal(100, 15, 200), rng.normal(101, 25, 60)),
    (rng.exponential(3.0, 30), rng.exponential(3.5, 300)),
    (np.array([4.1, 5.2, 6.3, 5.5, 4.8]), np.array([6.0, 7.1, 5.9, 6.6, 7.4, 6.2])),
]:
    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    t, p, df = compare.ttest_ind(usevar="unequal")
    scipy_t, scipy_p = stats.ttest_ind(treatment, control, equal_var=False)
    low, high = compare.tconfint_diff(alpha=0.05, usevar="unequal")
    means.append({
        "control": [float(x) for x in control],
        "treatment": [float(x) for x in treatment],
        "control_interval": [float(v) for v in DescrStatsW(control).tconfint_mean(alpha=0.05)],
        "treatment_interval": [float(v) for v in DescrStatsW(treatment).tconfint_mean(alpha=0.05)],
        "t": float(t),
        "p_value": float(p),
        "scipy_t": float(scipy_t),
        "scipy_p_value": float(scipy_p),
        "degrees_of_freedom": float(df),
        "difference_interval": [float(low), float(high)],
    })

sample_sizes = []
for kind, baseline, mde, alpha, power, ratio in [
    ("proportion", 0.10, 0.02, 0.05, 0.8, 1.0),
    ("proportion", 0.10, 0.02, 0.05, 0.8, 1 / 9),
    ("proportion", 0.50, 0.05, 0.01, 0.9, 0.25),
    ("proportion", 0.95, 0.04, 0.05, 0.8, 1.0),
    ("mean", 2.5, 0.5, 0.05, 0.8, 1.0),
    ("mean", 10.0, 1.0, 0.05, 0.9, 1 / 4),
]:
    if kind == "proportion":
        target = baseline + mde if baseline + mde <= 1 else baseline - mde
        effect = proportion_effectsize(target, baseline)
    else:
        effect = mde / baseline  # baseline is the standard deviation here
    n1 = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio, alternative="two-sided")
    sample_sizes.append({
        "kind": kind, "baseline": baseline, "mde": mde, "alpha": alpha, "power": power, "ratio": ratio,
        "effect": float(effect), "control": float(n1), "treatment": float(n1 * ratio),
    })

chi_squared = []
for observed, shares in [([9050, 950], [90, 10]), ([8700, 1300], [90, 10]), ([3300, 3400, 3300], [33.33, 33.33, 33.34])]:
    statistic, p = stats.chisquare(observed, np.array(shares) / sum(shares) * sum(observed))
    chi_squared.append({"observed": observed, "shares": shares, "statistic": float(statistic), "p_value": float(p)})

print(json.dumps({
    "generated_by": f"src/experiment/test-support/reference-statistics.py (scipy {scipy.__version__}, statsmodels {statsmodels.__version__})",
    "proportions": proportions,
    "means": means,
    "sample_sizes": sample_sizes,
    "chi_squared": chi_squared,
}, indent=1))
