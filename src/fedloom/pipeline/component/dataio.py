"""``DataIO``: FATE's older name of :class:`~fedloom.pipeline.component.DataTransform`.

It writes the ``DataTransform`` module to the DSL (fedloom has one implementation) and keeps FATE's
default names (``dataio_0``).
"""

from __future__ import annotations

from fedloom.pipeline.component.data_transform import DataTransform

__all__ = ["DataIO"]


class DataIO(DataTransform):
    """Alias of :class:`DataTransform` (FATE 1.x's ``DataIO``); DSL module ``DataTransform``."""
