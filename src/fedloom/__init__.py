"""fedloom: federated learning where every party keeps its raw data."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fedloom")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
