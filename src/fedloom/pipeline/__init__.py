"""fedloom's Pipeline API, with FATE v1's module layout.

A FATE pipeline script runs once its imports say ``fedloom.pipeline`` instead of ``pipeline``::

    from fedloom.pipeline.backend.pipeline import PipeLine
    from fedloom.pipeline.component import DataTransform, HeteroLR, Intersection, Reader
    from fedloom.pipeline.interface import Data, Model
    from fedloom.pipeline.runtime.entity import JobParameters
    from fedloom.pipeline.utils.tools import load_job_config

See :mod:`fedloom.pipeline.backend.pipeline` for what each step does, where jobs run (the job server
configured with ``fedloom init``, else this machine) and how a pipeline is saved (JSON).
"""

from fedloom.pipeline.backend.pipeline import PipeLine
from fedloom.pipeline.interface import Cache, Data, Model
from fedloom.pipeline.runtime.entity import JobParameters

__all__ = ["Cache", "Data", "JobParameters", "Model", "PipeLine"]
