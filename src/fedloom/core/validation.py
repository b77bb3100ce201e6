"""The one way fedloom checks parameters and the one way it words what is wrong with them.

Parameters are declared once, with pydantic: component and DSL parameters, benchmark arguments
and server requests as :class:`pydantic.BaseModel` subclasses (FATE's spellings as aliases);
recipes and model configs as dataclasses whose fields carry pydantic rules (``__init__`` only
stores, :func:`check` validates)::

    @dataclass
    class TrainConfig:
        lr: Annotated[float, number(gt=0)] = 0.01
        optimizer: Annotated[str, one_of("sgd", "adam")] = "sgd"

Every problem becomes one :class:`~fedloom.core.errors.ConfigError` worded here, naming the field
(dotted for nested sections) and the value it got::

    The 'lr' parameter of HomoNN must be a number > 0. Got 0.          (owner named)
    [guest:9999 / hetero_lr_0] field 'penalty': The 'penalty' parameter of HeteroLR must ...
    field 'train.lr': must be a number > 0. Got 0.0.                   (no owner: a recipe section)

Entry points: :func:`config_error` (one error from a pydantic ``ValidationError``),
:func:`describe_validation_error` (one sentence per bad field, for reports listing them all),
:func:`parameter_error` (a rule that is checked by hand, e.g. across two fields), :func:`validate`
and :func:`check` (validate data or a dataclass and raise the ConfigError).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, TypeVar, cast

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from fedloom.core.errors import ConfigError

__all__ = [
    "check",
    "config_error",
    "describe_validation_error",
    "errors_to_config_error",
    "flag",
    "int_list",
    "integer",
    "number",
    "one_of",
    "parameter_error",
    "rule",
    "sentence",
    "validate",
]

T = TypeVar("T")

# --- rules with a fixed wording ---------------------------------------------------------------


def rule(description: str, ok: Callable[[Any], bool]) -> BeforeValidator:
    """A pydantic rule: the value passes ``ok`` or the error reads ``must be {description}``.

    Use it in ``Annotated[type, rule(...)]``; it runs before pydantic's own type check, so the
    sentence is the rule's and not pydantic's.
    """

    def check_value(value: Any) -> Any:
        if not ok(value):
            raise ValueError(f"must be {description}")
        return value

    return BeforeValidator(check_value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bounds_text(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    low = f"[{ge:g}" if ge is not None else f"({gt:g}" if gt is not None else None
    high = f"{le:g}]" if le is not None else f"{lt:g})" if lt is not None else None
    if low and high:
        return f" in {low}, {high}"
    if ge is not None:
        return f" >= {ge:g}"
    if gt is not None:
        return f" > {gt:g}"
    if le is not None:
        return f" <= {le:g}"
    return f" < {lt:g}" if lt is not None else ""


def _within(value: float, gt: float | None, ge: float | None, lt: float | None, le: float | None) -> bool:
    return (
        (gt is None or value > gt)
        and (ge is None or value >= ge)
        and (lt is None or value < lt)
        and (le is None or value <= le)
    )


def number(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    optional: bool = False,
) -> BeforeValidator:
    """A finite real number (not a boolean) within the bounds: ``must be a number in [0, 1)``."""
    text = "a number" + _bounds_text(gt, ge, lt, le)
    return rule(
        f"null or {text}" if optional else text,
        lambda v: (optional and v is None) or (_is_number(v) and _within(v, gt, ge, lt, le)),
    )


def integer(*, ge: int | None = None, le: int | None = None, optional: bool = False) -> BeforeValidator:
    """An int (not a boolean, not a float) within the bounds: ``must be an int >= 1``."""
    text = "an int" + _bounds_text(None, ge, None, le)
    return rule(
        f"null or {text}" if optional else text,
        lambda v: (optional and v is None) or (_is_int(v) and _within(v, None, ge, None, le)),
    )


def int_list(*, ge: int) -> BeforeValidator:
    """A non-empty list of ints, each ``>= ge``: ``must be a non-empty list of ints >= 1``."""
    return rule(
        f"a non-empty list of ints >= {ge}",
        lambda v: isinstance(v, list | tuple) and len(v) > 0 and all(_is_int(h) and h >= ge for h in v),
    )


def one_of(*choices: str, ignore_case: bool = False, none: str | None = None) -> BeforeValidator:
    """One of ``choices``: ``must be one of sgd, adam, adamw``.

    With ``ignore_case`` any case is accepted and the value becomes the choice's own spelling
    (FATE writes ``Adam`` and ``adam`` alike); with ``none``, ``null`` becomes that choice (FATE
    writes ``penalty: null`` for no penalty).
    """

    def pick(value: Any) -> Any:
        if value is None and none is not None:
            return none
        if isinstance(value, str):
            for choice in choices:
                if value == choice or (ignore_case and value.lower() == choice.lower()):
                    return choice
        raise ValueError(f"must be one of {', '.join(choices)}")

    return BeforeValidator(pick)


def flag() -> BeforeValidator:
    """A boolean, not a string or a number that reads as one: ``must be true or false``."""
    return rule("true or false", lambda v: isinstance(v, bool))


# --- pydantic errors -> sentences ------------------------------------------------------------

# What a value pydantic could not read as the field's type should have been (objects keep
# pydantic's words: ``is invalid: input should be a valid dictionary or instance of RsaParams``).
_TYPE_PHRASES = {
    "int_type": "an integer",
    "int_parsing": "an int",
    "int_from_float": "an int",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "string_type": "a string",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "none_required": "null",
}
_UNKNOWN = ("extra_forbidden", "unexpected_keyword_argument")
_MISSING = ("missing", "missing_argument", "missing_keyword_only_argument")
# Messages of validators that already read as a predicate keep their words.
_PREDICATES = ("must", "is ", "only", "'")

# Loc parts pydantic adds for union members / validator wrappers, not field names.
_TAG = re.compile(
    r"^(int|str|float|bool|list|dict|none|is-instance|lax-or-strict|union|tagged-union|"
    r"nullable|json-or-python|chain|default|function-(after|before|plain|wrap)|"
    r"constrained-\w+|literal|enum)(\[.*\])?$"
)


def _field_path(loc: tuple[int | str, ...], prefix: str | None) -> str:
    parts = [prefix] if prefix else []
    for p in loc:
        if isinstance(p, str) and (_TAG.match(p) or p == "[key]"):
            continue
        parts.append(str(p))
    return ".".join(parts) or "(root)"


def _expected(err: Mapping[str, Any]) -> str:
    """What the value should have been, as a noun phrase (empty when there is no phrase)."""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in ("literal_error", "enum"):
        return "one of " + re.sub(r" or ", ", ", str(ctx.get("expected", "")))
    if kind == "greater_than":
        return f"> {ctx.get('gt')}"
    if kind == "less_than":
        return f"< {ctx.get('lt')}"
    if kind == "greater_than_equal":
        return f"greater than or equal to {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"less than or equal to {ctx.get('le')}"
    if kind == "multiple_of":
        return f"a multiple of {ctx.get('multiple_of')}"
    return _TYPE_PHRASES.get(kind, "")


def _own_words(err: Mapping[str, Any]) -> str:
    """A validator's (or pydantic's) message as a predicate: ``must ...`` or ``is invalid: ...``."""
    msg = re.sub(r"^(Value|Assertion) error, ", "", str(err.get("msg") or "is invalid")).rstrip(".")
    if msg.startswith(_PREDICATES):
        return msg
    return "is invalid: " + msg[:1].lower() + msg[1:]


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def sentence(path: str, text: str, value: Any = ..., *, subject: str | None = None) -> str:
    """The one message shape: ``The 'path' {subject} {text}. Got {value!r}.``

    Without ``subject`` the sentence is ``{text}. Got {value!r}.`` (the error's ``field`` names
    the path); without ``value`` there is no ``Got`` part.
    """
    head = f"The '{path}' {subject} {text}" if subject else text
    return f"{head}." if value is ... else f"{head}. Got {_short_repr(value)}."


def _field_sentence(path: str, errs: list[Mapping[str, Any]], subject: str | None) -> str:
    kinds = {e["type"] for e in errs}
    if kinds & set(_MISSING):
        return sentence(path, "is required", subject=subject)
    if kinds & set(_UNKNOWN):
        return sentence(
            path, "is not a recognised name; check its spelling", errs[0]["input"], subject=subject
        )
    phrases = list(dict.fromkeys(p for p in (_expected(e) for e in errs) if p))
    text = f"must be {' or '.join(phrases)}" if phrases else _own_words(errs[0])
    return sentence(path, text, errs[0].get("input"), subject=subject)


def describe_validation_error(
    exc: ValidationError, subject: str | None, *, prefix: str | None = None
) -> list[tuple[str, str]]:
    """Translate a pydantic error into one ``(field, sentence)`` per bad field.

    Parameters
    ----------
    exc
        The pydantic error.
    subject
        What a field is, e.g. ``"parameter of hetero_lr_0"`` or ``"field of the job conf"``;
        sentences read ``The 'penalty' parameter of hetero_lr_0 must be one of 'L1', 'L2'.
        Got 'L3'.`` ``None``: sentences read ``must be one of 'L1', 'L2'. Got 'L3'.``
    prefix
        Dotted path of the validated section inside a larger document (``train``).

    Returns
    -------
    list of (str, str)
        Field path (dotted) and sentence, in pydantic's order, one per field. Errors of the
        members of a union on one field are merged (``must be an int or a string``).
    """
    by_field: dict[str, list[Any]] = {}
    for err in exc.errors(include_url=False):
        by_field.setdefault(_field_path(tuple(err["loc"]), prefix), []).append(err)
    return [(path, _field_sentence(path, errs, subject)) for path, errs in by_field.items()]


def errors_to_config_error(
    lines: list[tuple[str, str]], *, component: str | None = None, party: str | None = None
) -> ConfigError:
    """One :class:`ConfigError` for ``(field, message)`` lines: the first names ``field``."""
    field, first = lines[0]
    if len(lines) == 1:
        return ConfigError(first, component=component, field=field, party=party)
    rest = "\n".join(f"  - {msg}" for _, msg in lines[1:])
    return ConfigError(f"{first}\n{rest}", component=component, field=field, party=party)


def config_error(
    exc: ValidationError, owner: str | None, component: str | None = None, *, prefix: str | None = None
) -> ConfigError:
    """The first problem of ``exc`` as ``The 'x.y' parameter of OWNER must ... Got ...``.

    Parameters
    ----------
    exc
        What pydantic raised while validating ``owner``'s parameters.
    owner
        The algorithm or module whose parameters these are (``HeteroLR``, ``Intersection``);
        ``None`` for a section of a document, named by ``prefix`` (``train`` of a recipe).
    component
        The job component (``hetero_lr_0``), when known.
    prefix
        Dotted path of the validated section, put in front of every field.
    """
    lines = describe_validation_error(exc, f"parameter of {owner}" if owner else None, prefix=prefix)
    path, msg = lines[0]
    if len(lines) > 1:
        msg += f" ({len(lines) - 1} more problem(s))"
    return ConfigError(msg, component=component, field=path)


def parameter_error(
    path: str, text: str, value: Any = ..., *, owner: str | None = None, component: str | None = None
) -> ConfigError:
    """A ConfigError for a rule checked by hand (across fields, or against the data), worded as
    :func:`config_error` words pydantic's: ``parameter_error("n_embd", "must be a multiple of
    n_head=4", 9, owner="GPTConfig")``."""
    subject = f"parameter of {owner}" if owner else None
    return ConfigError(sentence(path, text, value, subject=subject), component=component, field=path)


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def validate(
    kind: type[T],
    data: Any,
    *,
    owner: str | None = None,
    component: str | None = None,
    prefix: str | None = None,
) -> T:
    """``data`` validated as ``kind`` (a pydantic model or a dataclass with rules).

    Raises
    ------
    ConfigError
        The first problem, worded by :func:`config_error`.
    """
    try:
        return cast(T, _adapter(cast(Any, kind)).validate_python(data))
    except ValidationError as exc:
        raise config_error(exc, owner, component, prefix=prefix) from None


def check(config: T, *, owner: str | None = None, prefix: str | None = None) -> T:
    """A validated copy of the dataclass ``config`` (its field rules applied; ``config`` itself
    is left as it is). Raises :class:`ConfigError` naming the first bad field."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"check() takes a dataclass instance, not {type(config).__name__}")
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    return validate(type(config), values, owner=owner, prefix=prefix)
