"""The daily trend's forecast band (研判分析 · 趋势预测): an exponential smoothing state-space model from
statsmodels (ETSModel, Hyndman et al., "Forecasting with Exponential Smoothing", 2008) — additive errors, a
level and a weekly season, ETS(A,N,A) — fitted by maximum likelihood, with its analytical prediction interval.

No trend term: over the weeks the analysis looks at, report counts move with the weekday and drift in level,
and a fitted trend extrapolated for two weeks promises growth or decline nobody saw. Fewer than two weeks of
days cannot estimate a weekly season, so a short series gets ETS(A,N,N) (simple exponential smoothing); fewer
than MIN_DAYS days get no forecast at all. Counts are never negative: the band is clipped at zero.

The fit is CPU work (up to ~0.1 s): callers run it in a thread, off the event loop.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from typing import Any, Final

import numpy as np

MIN_DAYS: Final = 7
SEASON: Final = 7  # days in the weekly season
HEURISTIC_DAYS: Final = 10
HEURISTIC_SEASONAL_DAYS: Final = 20
METHOD_SEASONAL: Final = "ETS(A,N,A) weekly, statsmodels"
METHOD_SIMPLE: Final = "ETS(A,N,N), statsmodels"


def forecast(first_day: date, counts: list[int], horizon: int, level: float) -> dict[str, Any]:
    """The next `horizon` days after a series of daily `counts` starting on `first_day`: each day's mean and
    its `level` prediction interval (0.8 = the 10th to 90th percentile)."""
    if len(counts) < MIN_DAYS:
        return {"method": None, "level": level, "days": [],
                "note": f"at least {MIN_DAYS} days of reports are needed for a forecast"}
    # Imported lazily: statsmodels and pandas cost a second at import, and only this needs them.
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasonal = len(counts) >= 2 * SEASON
    # A dated series: statsmodels' prediction results need an index (a bare array fails in get_prediction).
    series = pd.Series(np.asarray(counts, dtype=float),
                       index=pd.date_range(first_day.isoformat(), periods=len(counts), freq="D"))
    with warnings.catch_warnings():
        # Convergence and overflow warnings on flat or tiny series: the fit still answers (a flat band).
        warnings.simplefilter("ignore")
        # The initial states from the first seasons (Hyndman et al. 2008, §2.6.1) rather than fitted beside the
        # smoothing parameters: ten times faster on 90 days (0.1 s against 1 s here), the same AIC and band.
        # statsmodels needs 10 days for it, 20 with the season; shorter series are cheap to fit in full.
        heuristic = len(counts) >= (HEURISTIC_SEASONAL_DAYS if seasonal else HEURISTIC_DAYS)
        model = ETSModel(series, error="add", trend=None, seasonal="add" if seasonal else None,
                         seasonal_periods=SEASON if seasonal else None,
                         initialization_method="heuristic" if heuristic else "estimated")
        fitted = model.fit(disp=False)
        frame = fitted.get_prediction(start=len(counts), end=len(counts) + horizon - 1).summary_frame(
            alpha=1 - level)
    last = first_day + timedelta(days=len(counts) - 1)
    days = []
    for i, (mean, lower, upper) in enumerate(zip(frame["mean"], frame["pi_lower"], frame["pi_upper"], strict=True)):
        days.append({"day": (last + timedelta(days=i + 1)).isoformat(), "mean": _count(mean),
                     "lower": _count(lower), "upper": _count(upper)})
    return {"method": METHOD_SEASONAL if seasonal else METHOD_SIMPLE, "level": level, "days": days}


def _count(value: float) -> float:
    return round(max(float(value), 0.0), 2) if np.isfinite(value) else 0.0
