"""What the parameter classes of ``ml/hetero`` share: FATE-style pydantic blocks, one error shape.

Every algorithm's parameters are a :class:`AlgorithmParams` made of :class:`ParamBlock` s
(FATE's nesting: ``init_param``, ``rsa_params`` …). Unknown names are refused, values are
checked on assignment too, and any problem becomes one
:class:`~fedloom.core.errors.ConfigError` naming the dotted field
(:func:`fedloom.core.validation.config_error`):
``The 'init_param.init_method' parameter of HeteroLR must be one of 'zeros', … Got 'x'.``

Field types for FATE's habits:

- :func:`any_case` — a choice spelt in any case, as FATE accepts it, returned in the canonical
  spelling (``"l2"`` → ``"L2"``);
- :func:`only_first` — a FATE choice of which fedloom implements one option
  (``join_method: inner_join``);
- :data:`NotImplementedFlag` — a FATE switch fedloom accepts at its default (false) and refuses
  when switched on (``need_cv``, ``run_cache``).

Blocks more than one algorithm reads: :class:`EncryptParam` (``encrypt_param``) and
:class:`EncryptedModeCalculatorParam` (``encrypted_mode_calculator_param``); the validation
settings of the iterative algorithms: :func:`check_validation_freqs`,
:func:`merge_callback_param` and :func:`validates_at`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from fedloom.core.errors import ConfigError
from fedloom.core.validation import config_error


def canonical(value: object, allowed: tuple[str, ...]) -> str:
    """``value`` spelled as in ``allowed`` (case-insensitive; None is ``"none"`` when allowed)."""
    if value is None and "none" in allowed:
        return "none"
    if isinstance(value, str):
        for a in allowed:
            if value.lower() == a.lower():
                return a
    raise ValueError(f"must be one of {', '.join(repr(a) for a in allowed)}")


def any_case(*allowed: str) -> BeforeValidator:
    """A field validator: :func:`canonical` among ``allowed`` (``Annotated[str, any_case("a", "b")]``)."""
    return BeforeValidator(lambda v: canonical(v, allowed))


def only_first(*accepted: str) -> BeforeValidator:
    """A FATE choice among ``accepted`` of which fedloom implements the first only.

    Any of them is read (in any case); all but the first are refused with
    ``only '<first>' is implemented``.
    """

    def check(value: object) -> str:
        name = canonical(value, accepted)
        if name != accepted[0]:
            raise ValueError(f"only {accepted[0]!r} is implemented")
        return name

    return BeforeValidator(check)


def _must_be_off(value: bool) -> bool:
    if value:
        raise ValueError("is not implemented; leave it false")
    return value


#: A FATE switch for a feature fedloom does not implement: accepted when false, refused when true.
NotImplementedFlag = Annotated[StrictBool, AfterValidator(_must_be_off)]


class ParamBlock(BaseModel):
    """One block of FATE parameters: unknown names refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EncryptParam(ParamBlock):
    """``encrypt_param``: the Paillier cipher of a hetero algorithm.

    Attributes
    ----------
    method
        ``paillier`` (any case; default) or ``plain`` (fedloom; no encryption, never for real
        data). FATE's ``IterativeAffine`` is refused as insecure.
    key_length
        Paillier modulus bits (default 2048; FATE's examples use 1024).
    """

    method: str = "paillier"
    key_length: StrictInt = Field(default=2048, ge=1024, le=8192)

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, v: object) -> str:
        if isinstance(v, str) and v.lower() == "iterativeaffine":
            raise ValueError("'IterativeAffine' is insecure and not offered; use 'paillier'")
        return canonical(v, ("paillier", "plain"))


class EncryptedModeCalculatorParam(ParamBlock):
    """``encrypted_mode_calculator_param`` (FATE's re-encryption modes): accepted, unused (fedloom
    always uses fresh obfuscation)."""

    mode: str = "strict"
    re_encrypted_rate: float = 1.0


class AlgorithmParams(ParamBlock):
    """All parameters of one algorithm, built from FATE-style dicts with one error shape."""

    #: Named in error messages (``HeteroLR``, ``Intersection``).
    algorithm: ClassVar[str] = "fedloom"

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None = None, *, component: str | None = None) -> Self:
        """Validate FATE-style values; any problem is a ConfigError naming the (dotted) field."""
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(
                f"{cls.algorithm} parameters must be a JSON object. Got {type(values).__name__}.",
                component=component,
                field="params",
            )
        try:
            return cls.model_validate(dict(values or {}))
        except ValidationError as exc:
            raise config_error(exc, cls.algorithm, component) from None

    @classmethod
    def coerce(cls, params: AlgorithmParams | Mapping[str, object] | None) -> Self:
        """Accept a params object of this class or a FATE-style dict (ConfigError naming a bad field)."""
        if params is None:
            return cls()
        if isinstance(params, cls):
            return params
        if isinstance(params, Mapping):
            return cls.from_dict(params)
        raise ConfigError(
            f"{cls.algorithm} parameters must be {cls.__name__} or a dict. Got {type(params).__name__}.",
            field="params",
        )


def check_validation_freqs(value: int | list[int] | None, unit: str) -> int | list[int] | None:
    """``validation_freqs`` as given: a positive int, a list of 1-based ``unit`` s, or None.

    Parameters
    ----------
    value : int, list of int or None
        Validate every ``value`` units, after the listed units, or never.
    unit : str
        What the algorithm counts (``"rounds"``, ``"epochs"``), for the message.

    Returns
    -------
    int, list of int or None
        ``value``.

    Raises
    ------
    ValueError
        A value below 1.
    """
    if isinstance(value, int) and value < 1:
        raise ValueError(f"must be a positive int, a list of {unit} or null")
    if isinstance(value, list) and any(e < 1 for e in value):
        raise ValueError(f"must list {unit} counted from 1")
    return value


def merge_callback_param(params: Any) -> None:
    """Take ``validation_freqs``, ``early_stopping_rounds`` and ``metrics`` from ``callback_param``.

    FATE accepts them at the top level or in ``callback_param``; a top-level value wins.

    Parameters
    ----------
    params : AlgorithmParams
        Parameters with those fields and a ``callback_param`` block; set in place.
    """
    cb = params.callback_param
    for name in ("validation_freqs", "early_stopping_rounds", "metrics"):
        if getattr(params, name) is None and getattr(cb, name) is not None:
            object.__setattr__(params, name, getattr(cb, name))


def validates_at(freqs: int | list[int] | None, index: int) -> bool:
    """Whether validation runs after round or epoch ``index`` (0-based) under ``validation_freqs``.

    Parameters
    ----------
    freqs : int, list of int or None
        ``validation_freqs``: every ``freqs`` rounds, after the listed (1-based) ones, or never.
    index : int
        The round or epoch, counted from 0.

    Returns
    -------
    bool
        Whether to validate.
    """
    if freqs is None:
        return False
    if isinstance(freqs, int):
        return (index + 1) % freqs == 0
    return (index + 1) in freqs
