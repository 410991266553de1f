"""The one statistic every table of the platform reports: mean ± standard error over seeds."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd


def numeric(column: pd.Series) -> np.ndarray:
    """A results-table column as float64; entries that are not numbers (None, text) become NaN."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)


def mean_se(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, standard error (sample std, ddof=1, over sqrt(k)) and count k of the finite values.

    NaN / inf (a metric a seed could not report) are left out, never averaged. The mean is exactly rounded
    (math.fsum), so the same seeds in any order give the same mean; the SE is NaN for fewer than 2 values.
    """
    array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    finite = array[np.isfinite(array)]
    k = len(finite)
    if k == 0:
        return math.nan, math.nan, 0
    se = float(np.std(finite, ddof=1) / math.sqrt(k)) if k > 1 else math.nan
    return math.fsum(finite) / k, se, k
