"""JSON-safe plain forms of the state's frozen dataclasses, compiled once per class from its type hints.

The state is written to the stream's table after every event, so its JSON form is on the hot path: a
converter per field, built once from the annotations, is several times cheaper than pydantic's
serializer of the dataclass and produces the same plain data (dates as ``YYYY-MM-DD``, tuples as lists,
frozensets as sorted lists, pydantic models as their JSON dump), so pydantic validates it back.
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


def encode(value: object) -> Any:
    """The plain (JSON-safe) form of a dataclass instance."""
    return encoder(type(value))(value)


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
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return fields_encoder(hint)
    raise TypeError(f"no plain form for {hint!r}")


def fields_encoder(kind: type) -> Convert:
    """The field-by-field encoder of a dataclass (what :func:`encoder` uses unless one is registered)."""
    hints = get_type_hints(kind)
    plan = [(f.name, encoder(hints[f.name])) for f in dataclasses.fields(kind)]

    def encode_one(value: Any) -> dict[str, Any]:
        return {name: convert(getattr(value, name)) for name, convert in plan}

    return encode_one


def register_encoder(kind: type[T], convert: Callable[[T], Any]) -> None:
    """Use ``convert`` for ``kind`` (a class whose instances cache their own plain form)."""
    _encoders[kind] = convert
