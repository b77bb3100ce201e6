"""``Output``: references to a component's outputs (``reader_0.output.data`` is ``"reader_0.data"``)."""

from __future__ import annotations

from collections.abc import Iterable

from fedloom.core.errors import ConfigError

__all__ = ["Output"]


class Output:
    """A component's outputs: ``data`` / ``model`` / ``cache`` references, and the output names
    written to the DSL (``data_output``, ``model_output``, ``cache_output``).

    Parameters
    ----------
    name
        The component's name.
    kinds
        The outputs it has (``{"data", "model"}`` for a learner, ``{"data"}`` for a ``Reader``).
    """

    def __init__(self, name: str, kinds: Iterable[str]) -> None:
        self._name = name
        self._kinds = frozenset(kinds)
        for kind in sorted(self._kinds):
            setattr(self, f"{kind}_output", [kind])

    def _ref(self, kind: str) -> str:
        if kind not in self._kinds:
            has = ", ".join(sorted(self._kinds)) or "none"
            raise ConfigError(
                f"component {self._name} has no {kind} output (its outputs: {has}).",
                component=self._name,
                field=f"output.{kind}",
            )
        return f"{self._name}.{kind}"

    @property
    def data(self) -> str:
        """``"<name>.data"``."""
        return self._ref("data")

    @property
    def model(self) -> str:
        """``"<name>.model"``."""
        return self._ref("model")

    @property
    def cache(self) -> str:
        """``"<name>.cache"``."""
        return self._ref("cache")

    def kinds(self) -> frozenset[str]:
        """The outputs declared in the DSL."""
        return self._kinds
