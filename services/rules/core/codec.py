"""JSON-safe plain forms of the state's frozen dataclasses, compiled once per class from its type hints.

The state is written to the stream's table after every event, so its JSON form is on the hot path: a
converter per field, built once from the annotations, is several times cheaper than a general-purpose
validator and produces the same plain data (dates as ``YYYY-MM-DD``, tuples as lists, frozensets as
sorted lists, pydantic models as their JSON dump). Decoding checks every value's type and fails with
``ValueError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel

Convert = Callable[[Any], Any]
T = TypeVar("T")

_encoders: dict[Any, Convert] = {}
_decoders: dict[Any, Convert] = {}


def encode(value: object) -> Any:
    """The plain (JSON-safe) form of a dataclass instance."""
    return encoder(type(value))(value)


def decode(kind: type[T], data: Any) -> T:
    """The instance of ``kind`` (a dataclass) whose plain form is ``data``."""
    result: T = decoder(kind)(data)
    return result


def _identity(value: Any) -> Any:
    return value


def _optional(inner: Convert) -> Convert:
    return lambda value: None if value is None else inner(value)


def _non_none(hint: Any) -> Any | None:
    """The inner type of ``X | None``; None when ``hint`` is not optional."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0]
    return None


def encoder(hint: Any) -> Convert:
    found = _encoders.get(hint)
    if found is None:
        found = _encoders[hint] = _build_encoder(hint)
    return found


def decoder(hint: Any) -> Convert:
    found = _decoders.get(hint)
    if found is None:
        found = _decoders[hint] = _build_decoder(hint)
    return found


def _build_encoder(hint: Any) -> Convert:
    inner = _non_none(hint)
    if inner is not None:
        return _optional(encoder(inner))
    origin = get_origin(hint)
    if hint is date:
        return date.isoformat
    if hint in (str, int, float, bool, Any) or origin is Literal:
        return _identity
    if origin is tuple:
        item = encoder(get_args(hint)[0])
        return lambda value: [item(each) for each in value]
    if origin is frozenset:
        return sorted
    if origin is dict:
        value_encoder = encoder(get_args(hint)[1])
        if value_encoder is _identity:
            return dict
        return lambda value: {key: value_encoder(each) for key, each in value.items()}
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return lambda value: value.model_dump(mode="json")
    if dataclasses.is_dataclass(hint):
        return fields_encoder(hint)
    raise TypeError(f"no plain form for {hint!r}")


def fields_encoder(kind: type) -> Convert:
    """The field-by-field encoder of a dataclass (what :func:`encoder` uses unless one is registered)."""
    hints = get_type_hints(kind)
    plan = [(f.name, encoder(hints[f.name])) for f in dataclasses.fields(kind)]

    def encode_one(value: Any) -> dict[str, Any]:
        return {name: convert(getattr(value, name)) for name, convert in plan}

    return encode_one


def _checked(kind: type | tuple[type, ...]) -> Convert:
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise ValueError(f"expected {kind}, got {type(value).__name__}")
        return value

    return check


_is_str = _checked(str)
_is_list = _checked(list)
_is_dict = _checked(dict)
_is_number = _checked((int, float))


def _build_decoder(hint: Any) -> Convert:
    inner = _non_none(hint)
    if inner is not None:
        return _optional(decoder(inner))
    origin = get_origin(hint)
    if hint is date:
        return lambda value: date.fromisoformat(_is_str(value))
    if hint is Any:
        return _identity
    if hint is float:
        return lambda value: float(_is_number(value))
    if hint is str:
        return _is_str
    if hint in (int, bool):
        return _checked(hint)
    if origin is Literal:
        allowed = frozenset(get_args(hint))

        def literal(value: Any) -> Any:
            if value not in allowed:
                raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
            return value

        return literal
    if origin is tuple:
        item = decoder(get_args(hint)[0])
        return lambda value: tuple([item(each) for each in _is_list(value)])
    if origin is frozenset:
        item = decoder(get_args(hint)[0])
        if item is _is_str:
            return lambda value: frozenset(_is_list(value))
        return lambda value: frozenset([item(each) for each in _is_list(value)])
    if origin is dict:
        # Keys of JSON objects are strings by construction.
        value_decoder = decoder(get_args(hint)[1])
        if value_decoder is _identity:
            return lambda value: dict(_is_dict(value))
        return lambda value: {key: value_decoder(each) for key, each in _is_dict(value).items()}
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return hint.model_validate
    if dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    raise TypeError(f"no plain form for {hint!r}")


def _dataclass_decoder(kind: type) -> Convert:
    hints = get_type_hints(kind)
    plan = [(f.name, decoder(hints[f.name])) for f in dataclasses.fields(kind)]
    names = frozenset(name for name, _ in plan)
    required = frozenset(
        f.name
        for f in dataclasses.fields(kind)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )

    def decode_one(data: Any) -> Any:
        if type(data) is not dict:
            raise ValueError(f"{kind.__name__}: expected an object, got {type(data).__name__}")
        if not (names.issuperset(data) and required.issubset(data)):
            raise ValueError(
                f"{kind.__name__}: unknown fields {sorted(data.keys() - names)}, "
                f"missing fields {sorted(required - data.keys())}"
            )
        try:
            return kind(**{name: convert(data[name]) for name, convert in plan if name in data})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{kind.__name__}.{_culprit(plan, data)}: {exc}") from None

    return decode_one


def _culprit(plan: list[tuple[str, Convert]], data: dict[str, Any]) -> str:
    """The first field whose value does not decode (looked for only once decoding has failed)."""
    for name, convert in plan:
        if name in data:
            try:
                convert(data[name])
            except (ValueError, TypeError):
                return name
    return "(object)"


def register_encoder(kind: type[T], convert: Callable[[T], Any]) -> None:
    """Use ``convert`` for ``kind`` (a class whose instances cache their own plain form)."""
    _encoders[kind] = convert
