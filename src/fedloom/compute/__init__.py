"""Heavy loops over the machine's cores behind one interface (DESIGN §2 ``compute/``).

* :mod:`.executor` — :class:`Executor` (``map``, ``broadcast``/``release``, ``close``),
  :class:`LocalExecutor` (process pool; inline with one worker), :func:`default_executor`,
  :func:`share` (a broadcast reused across calls);
* :mod:`.crypto` — :func:`parallel_encrypt`, :func:`parallel_histograms`, :func:`parallel_pack`
  (also ``parallel_dot`` and ``parallel_rerandomize``).

* :mod:`.ray_backend` — :class:`~.ray_backend.RayExecutor` (issue 16), the same interface on Ray;
* :mod:`.select` — :func:`~.select.select_executor` (backend by configuration, ``compute:``).
"""

from fedloom.compute.crypto import parallel_encrypt, parallel_histograms, parallel_pack
from fedloom.compute.executor import Broadcast, Executor, LocalExecutor, default_executor, share

__all__ = [
    "Broadcast",
    "Executor",
    "LocalExecutor",
    "default_executor",
    "parallel_encrypt",
    "parallel_histograms",
    "parallel_pack",
    "share",
]
