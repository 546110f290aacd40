"""A ``GateCore`` to JSON text and back, for the fleet gate's row.

The core is plain objects (the rate controller, its windows and AIMD, the in-flight cap,
the holds) holding numbers, deques and each other. Rather than a hand-written
``to_dict``/``from_dict`` beside every class of ``scheduler/``, which the next change to a
class would forget, this walks the objects' attributes, and only those of the closed list
of classes below (never ``pickle``: the text in the database cannot name a class to run).

A state written by another version of slidebatch (a field added or renamed) does not fit:
``decode`` checks each object's fields against those of a freshly built core and raises
``StateMismatch``, and the gate rebuilds its state (``GateCore.adopt`` keeps the starts).
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from typing import Any

from slidebatch.scheduler.aimd import Aimd
from slidebatch.scheduler.gate_config import GateConfig
from slidebatch.scheduler.gate_core import GateCore
from slidebatch.scheduler.holds import Holds
from slidebatch.scheduler.in_flight import InFlightCap
from slidebatch.scheduler.rate_control import RateController, SkewMargin
from slidebatch.scheduler.window import SlidingWindow, StartWindows

_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        GateCore,
        RateController,
        SkewMargin,
        StartWindows,
        SlidingWindow,
        Aimd,
        InFlightCap,
        Holds,
    )
}
_OBJECT = "__object__"
_DEQUE = "__deque__"
_CONFIG = "__config__"


class StateMismatch(ValueError):
    """The stored text is not a state this version of slidebatch can use."""


def encode(core: GateCore) -> str:
    """The core as JSON text (infinities as ``Infinity``, which Python's json reads back)."""
    return json.dumps(_encode(core), separators=(",", ":"))


def decode(text: str) -> GateCore:
    """The core ``encode`` wrote; ``StateMismatch`` when it is not one this version knows."""
    try:
        value = _decode(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise StateMismatch(f"unreadable gate state: {exc}") from exc
    if not isinstance(value, GateCore):
        raise StateMismatch("the gate state is not a gate core")
    return value


def config_text(config: GateConfig) -> str:
    """A config as JSON text, compared to tell whether the fleet's setting changed."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True)


def _encode(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, deque):
        return {_DEQUE: [_encode(item) for item in value], "maxlen": value.maxlen}
    if isinstance(value, GateConfig):
        return {_CONFIG: dataclasses.asdict(value)}
    name = type(value).__name__
    if _CLASSES.get(name) is not type(value):
        raise TypeError(f"a gate state cannot hold a {name}")
    return {_OBJECT: name, "fields": {k: _encode(v) for k, v in vars(value).items()}}


def _decode(data: object) -> object:
    if not isinstance(data, dict):
        if isinstance(data, list):
            raise TypeError("lists are stored as deques")
        return data
    if _DEQUE in data:
        return deque((_decode(item) for item in data[_DEQUE]), maxlen=data["maxlen"])
    if _CONFIG in data:
        return GateConfig(**data[_CONFIG])
    cls = _CLASSES[data[_OBJECT]]
    fields: dict[str, Any] = data["fields"]
    expected = _FIELDS[cls.__name__]
    if set(fields) != expected:
        raise StateMismatch(f"{cls.__name__} fields changed: {sorted(set(fields) ^ expected)}")
    value: object = object.__new__(cls)
    vars(value).update({name: _decode(item) for name, item in fields.items()})
    return value


def _fields_of(value: object, into: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every class's attribute names, read from a live object graph."""
    name = type(value).__name__
    if name in _CLASSES and name not in into:
        into[name] = set(vars(value))
        for item in vars(value).values():
            _fields_of(item, into)
    return into


# Built once from a core that holds every class (a rate and a daily limit make the optional
# parts exist): the attribute names this version of the code writes and expects.
_FIELDS = _fields_of(GateCore(GateConfig(rate=1, per_day=1), now=0.0), {})
