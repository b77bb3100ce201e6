"""Launcher targets for the hetero binning process test: FATE's breast data, FATE's binning conf."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from fedloom.context import Context
from fedloom.data.frame import Frame
from fedloom.ml.hetero.binning import HeteroBinningGuest, HeteroBinningHost

DATA = Path(__file__).resolve().parents[4] / "shared" / "fate_examples" / "data"

#: FATE's hetero_binning_quantile_binning conf (1024-bit Paillier); the host transforms by WOE.
GUEST_PARAMS: dict[str, Any] = {
    "method": "quantile",
    "compress_thres": 10000,
    "head_size": 10000,
    "error": 0.001,
    "adjustment_factor": 0.5,
    "bin_num": 10,
    "bin_indexes": -1,
    "bin_names": None,
    "category_indexes": None,
    "category_names": None,
    "encrypt_param": {"key_length": 1024},
    "transform_param": {"transform_cols": -1, "transform_names": None, "transform_type": "bin_num"},
    "local_only": False,
}
HOST_PARAMS: dict[str, Any] = {
    **GUEST_PARAMS,
    "transform_param": {"transform_cols": [0, 1], "transform_type": "woe"},
}


def breast() -> tuple[Frame, Frame]:
    """FATE's breast_hetero data, aligned by id: guest (y + 10 columns), host (20 columns)."""
    g = pd.read_csv(DATA / "breast_hetero_guest.csv")
    h = pd.read_csv(DATA / "breast_hetero_host.csv").set_index("id").loc[g["id"]].reset_index()
    gcols = [c for c in g.columns if c not in ("id", "y")]
    hcols = [c for c in h.columns if c != "id"]
    guest = Frame(g["id"].to_numpy(), g[gcols].to_numpy(), gcols, label=g["y"].to_numpy())
    return guest, Frame(h["id"].to_numpy(), h[hcols].to_numpy(), hcols)


def binning_guest(ctx: Context) -> dict[str, Any]:
    guest, _ = breast()
    model = HeteroBinningGuest(GUEST_PARAMS).fit(ctx.sub("hetero_feature_binning_0"), guest)
    return {"model": model.to_dict(), "summary": model.summary()}


def binning_host(ctx: Context) -> dict[str, Any]:
    _, host = breast()
    model = HeteroBinningHost(HOST_PARAMS).fit(ctx.sub("hetero_feature_binning_0"), host)
    return {"model": model.to_dict(), "summary": model.summary()}
