"""The selection model: which columns a party keeps, and what each filter decided.

Plain JSON, no ciphertexts. ``to_dict()``::

    {"schema": {...input frame schema...}, "candidates": [...], "kept": [...],
     "filters": [FilterOutcome.to_dict(), ...]}

``kept`` holds every column the party keeps, in the input's column order: the non-candidate
columns (untouched) and the candidates left by the last filter. :meth:`SelectionModel.transform`
applies it to new data (a predict job) without any message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fedloom.core.errors import DataError
from fedloom.data import Frame, align
from fedloom.ml.feature.selection import FilterOutcome

__all__ = ["SelectionModel"]


@dataclass(frozen=True)
class SelectionModel:
    """One party's selection.

    Attributes
    ----------
    schema
        The input frame's schema (its features in order).
    candidates
        The columns the filters worked on (``select_col_indexes`` / ``select_names``).
    kept
        Every kept column, in input order.
    filters
        One outcome per filter, in ``filter_methods`` order.
    """

    schema: dict[str, object]
    candidates: tuple[str, ...]
    kept: tuple[str, ...]
    filters: tuple[FilterOutcome, ...] = field(default_factory=tuple)

    @classmethod
    def build(
        cls, frame: Frame, candidates: Sequence[str], left: Sequence[str], filters: Sequence[FilterOutcome]
    ) -> SelectionModel:
        """The model of a fit on ``frame``: keeps the non-candidates and ``left``."""
        cand, keep = set(candidates), set(left)
        kept = tuple(c for c in frame.feature_names if c not in cand or c in keep)
        return cls(dict(frame.schema), tuple(candidates), kept, tuple(filters))

    @property
    def dropped(self) -> tuple[str, ...]:
        """Candidates dropped by some filter, in input order."""
        keep = set(self.kept)
        return tuple(c for c in self.candidates if c not in keep)

    def transform(self, frame: Frame) -> Frame:
        """``frame`` (checked against and ordered by the schema) with the kept columns only.

        Raises
        ------
        DataError
            The frame's columns are not those the model was fitted on.
        """
        return align(frame, self.schema).select_features(list(self.kept))

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (see the module docs)."""
        return {
            "schema": dict(self.schema),
            "candidates": list(self.candidates),
            "kept": list(self.kept),
            "filters": [f.to_dict() for f in self.filters],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> SelectionModel:
        """Read back :meth:`to_dict` (DataError naming the field on anything else)."""
        schema, cands, kept, filters = (d.get(k) for k in ("schema", "candidates", "kept", "filters"))
        if not isinstance(schema, dict):
            raise DataError("the stored selection model has no schema object.", field="schema")
        for name, v in (("candidates", cands), ("kept", kept), ("filters", filters)):
            if not isinstance(v, list):
                raise DataError(f"the stored selection model's {name} must be a list.", field=name)
        assert isinstance(cands, list) and isinstance(kept, list) and isinstance(filters, list)
        features = schema.get("features")
        if not isinstance(features, list) or not set(map(str, kept)) <= set(map(str, features)):
            raise DataError("the stored selection model keeps columns its schema lacks.", field="kept")
        outcomes = []
        for f in filters:
            if not isinstance(f, dict):
                raise DataError("the stored selection model's filters must be objects.", field="filters")
            outcomes.append(FilterOutcome.from_dict(f))
        return cls(schema, tuple(map(str, cands)), tuple(map(str, kept)), tuple(outcomes))

    def summary(self) -> str:
        """One line: kept / candidate counts and the filters."""
        methods = ", ".join(f.method for f in self.filters) or "no filter"
        dropped = f"dropped {len(self.dropped)} of {len(self.candidates)}"
        return f"kept {len(self.kept)} column(s), {dropped} ({methods})"
