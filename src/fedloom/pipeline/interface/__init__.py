"""How components are wired in a pipeline: :class:`Data`, :class:`Model`, :class:`Cache` (inputs of
:meth:`~fedloom.pipeline.backend.pipeline.PipeLine.add_component`) and a component's
:class:`Input` / :class:`Output` references (``reader_0.output.data`` is ``"reader_0.data"``)."""

from fedloom.pipeline.interface.cache import Cache
from fedloom.pipeline.interface.data import Data
from fedloom.pipeline.interface.input import Input
from fedloom.pipeline.interface.model import Model
from fedloom.pipeline.interface.output import Output

__all__ = ["Cache", "Data", "Input", "Model", "Output"]
