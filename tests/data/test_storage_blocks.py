"""Tables read block by block (Parquet row groups) and binning fitted on the blocks (issue 16)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedloom.core.errors import DataError
from fedloom.data import storage
from fedloom.data.storage import TableStore
from fedloom.ml.feature.bins import fit_bins, fit_bins_blocks, rechunk


@pytest.fixture
def stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TableStore, pd.DataFrame]:
    monkeypatch.setattr(storage, "ROW_GROUP_ROWS", 700)  # several row groups in a small table
    rng = np.random.default_rng(11)
    n = 3000
    df = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "x0": rng.normal(size=n),
            "x1": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(size=n)),
            "x2": rng.integers(0, 4, n).astype(float),
        }
    )
    store = TableStore(tmp_path)
    store.save(df, "t", "ns")
    return store, df


def test_blocks_are_the_row_groups_and_concatenate_to_the_table(
    stored: tuple[TableStore, pd.DataFrame],
) -> None:
    store, df = stored
    blocks = list(store.iter_blocks("t", "ns"))
    assert store.row_groups("t", "ns") == 5 and [len(b) for b in blocks] == [700] * 4 + [200]
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), store.load("t", "ns"))
    small = list(store.iter_blocks("t", "ns", columns=["x1"], batch_rows=1000))
    assert sum(len(b) for b in small) == 3000 and max(len(b) for b in small) <= 1000
    assert list(small[0].columns) == ["x1"]
    np.testing.assert_array_equal(pd.concat(small)["x1"].to_numpy(), df["x1"].to_numpy())
    with pytest.raises(DataError) as info:
        next(store.iter_blocks("t", "ns", columns=["nope"]))
    assert info.value.field == "columns"


def test_rechunk_cuts_exact_pieces() -> None:
    blocks = [
        np.arange(i * 10, i * 10 + k * 2, dtype=float).reshape(k, 2) for i, k in enumerate([3, 1, 5, 2])
    ]
    pieces = list(rechunk(blocks, 4))
    assert [len(p) for p in pieces] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(pieces), np.concatenate(blocks))


@pytest.mark.parametrize("error", [0.0, 0.01])
def test_binning_in_blocks_equals_binning_in_one_piece(
    stored: tuple[TableStore, pd.DataFrame], error: float
) -> None:
    store, df = stored
    names = ["x0", "x1", "x2"]
    kw = {"method": "quantile", "bin_num": 7, "categorical": ["x2"], "error": error, "head_size": 512}
    whole = fit_bins(df[names].to_numpy(), names, **kw)  # type: ignore[arg-type]
    streamed = fit_bins_blocks(
        (b.to_numpy() for b in store.iter_blocks("t", "ns", columns=names)),
        names,
        **kw,  # type: ignore[arg-type]
    )
    assert streamed == whole
    if error == 0.0:
        # Exact summaries: every split point v is an exact k/7 quantile, #{x < v} <= k·n/7 <= #{x <= v}
        for c, col in ((0, "x0"), (1, "x1")):
            x = df[col].dropna().to_numpy()
            pts = streamed[c].split_points
            assert len(pts) == 7 and pts[-1] == x.max()
            for k, v in enumerate(pts[:-1], start=1):
                assert (x < v).sum() <= k * len(x) / 7 <= (x <= v).sum()
    assert streamed[1].has_missing and streamed[2].categories == (0.0, 1.0, 2.0, 3.0)
    bucket = {"method": "bucket", "bin_num": 5}
    assert fit_bins_blocks(
        iter([df[names].to_numpy()[:10], df[names].to_numpy()[10:]]), names, **bucket
    ) == fit_bins(  # type: ignore[arg-type]
        df[names].to_numpy(),
        names,
        **bucket,  # type: ignore[arg-type]
    )
