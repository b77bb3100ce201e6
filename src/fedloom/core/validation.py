"""Pydantic validation errors as one-line ConfigErrors, in the project's message shape."""

from __future__ import annotations

from pydantic import ValidationError

from fedloom.core.errors import ConfigError


def config_error(exc: ValidationError, owner: str, component: str | None = None) -> ConfigError:
    """The first problem of ``exc`` as ``The 'x.y' parameter of OWNER must ... Got ...``.

    Parameters
    ----------
    exc
        What pydantic raised while validating ``owner``'s parameters.
    owner
        The algorithm or module whose parameters these are (``HeteroLR``, ``Intersection``).
    component
        The job component (``hetero_lr_0``), when known.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = ".".join(str(p) for p in first["loc"]) or "params"
    if first["type"] == "extra_forbidden":
        msg = f"The '{path}' parameter of {owner} is not a recognised name. Got {first['input']!r}."
    else:
        text = str(first["msg"]).removeprefix("Value error, ")
        if not text.startswith(("must", "is ", "only", "'")):
            text = "is invalid: " + text[:1].lower() + text[1:]
        msg = f"The '{path}' parameter of {owner} {text}. Got {first.get('input')!r}."
    if len(errors) > 1:
        msg += f" ({len(errors) - 1} more problem(s))"
    return ConfigError(msg, component=component, field=path)
