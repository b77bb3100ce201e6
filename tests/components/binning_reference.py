"""Independent references for the binning tests: each value's bin from the stored bins alone,
and WOE / IV with pandas (FATE's rules), for checking what the component and FATE's jobs wrote."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def expected_index(bins: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """The contract's bin of each value, from the stored bins alone."""
    nan = np.isnan(x)
    if bins.get("categories") is not None:
        cats = list(bins["categories"])
        out = np.array([cats.index(v) if v in cats else len(cats) for v in np.nan_to_num(x, nan=np.inf)])
        return np.where(nan, len(cats), out)
    sp = np.asarray(bins["split_points"], dtype=np.float64)
    idx = np.minimum(np.searchsorted(sp, x, side="left"), len(sp) - 1)
    return np.where(nan, len(sp), idx)


def woe_iv(
    index: np.ndarray, y: np.ndarray, n_bins: int, adjustment: float = 0.5
) -> tuple[np.ndarray, float]:
    """WOE per bin and IV with pandas: FATE's rule (a bin with no events or no non-events gets
    ``adjustment`` added to both counts)."""
    df = pd.DataFrame({"bin": index, "event": y == 1, "non_event": y != 1})
    counts = df.groupby("bin")[["event", "non_event"]].sum().reindex(range(n_bins), fill_value=0)
    event, non = counts["event"].to_numpy(float), counts["non_event"].to_numpy(float)
    fix = (event == 0) | (non == 0)
    er = np.where(fix, event + adjustment, event) / max(event.sum(), 1)
    nr = np.where(fix, non + adjustment, non) / max(non.sum(), 1)
    w = np.log(er / nr)
    return w, float(((er - nr) * w).sum())
