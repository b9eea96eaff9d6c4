"""Sweep specs from dicts, JSON files and messages, and the swept values of each point.

A spec is a SweepSpec (proto/sigprop/v1/run.proto) in the protobuf JSON mapping, like the files in
examples/; a RunSpec alone (a dict with "model" and no "base") is a sweep of one point. A
comparison is a CompareSweep (compare.proto; examples/sde_vs_width.json); a CompareSpec alone (a
dict with "a" and "b") is a comparison of one point.
"""

import json
import os
import pathlib
import re
from typing import Any, Union

from google.protobuf import descriptor_pool, json_format, text_format
from google.protobuf.message import Message

from sigprop.errors import InvalidSpecError
from sigprop.v1 import compare_pb2, run_pb2

# What every function here accepts as a spec: a message (SweepSpec, RunSpec, CompareSweep,
# CompareSpec), a dict in the protobuf JSON mapping, or the path of a JSON or text-format file.
Spec = Union[Message, dict, str, "os.PathLike[str]"]

_TEXT_SUFFIXES = {".txtpb", ".textproto", ".pbtxt", ".textpb"}


def _sweep_of(spec: Any, sweep_type: Any, one_type: Any, one_keys: tuple[str, ...],
              source: str) -> Any:
    """A `sweep_type` message (SweepSpec or CompareSweep) from itself, one `one_type` point (its
    base), a dict of either in the JSON mapping (a point alone has one of `one_keys` and no
    "base"/"axes"), or the path of a JSON or text-format file."""
    if isinstance(spec, sweep_type):
        return spec
    if isinstance(spec, one_type):
        return sweep_type(base=spec)
    if isinstance(spec, (str, os.PathLike)):
        return _read(pathlib.Path(spec), sweep_type, one_type, one_keys)
    expected = f"{sweep_type.DESCRIPTOR.name} or {one_type.DESCRIPTOR.name}"
    if isinstance(spec, Message):
        raise InvalidSpecError(f"{source}: expected a {expected}, got {spec.DESCRIPTOR.full_name}")
    if not isinstance(spec, dict):
        raise InvalidSpecError(
            f"{source}: expected a dict, a file path or a {expected}, got {type(spec).__name__}")
    is_one = "base" not in spec and "axes" not in spec and any(k in spec for k in one_keys)
    message = one_type() if is_one else sweep_type()
    try:
        json_format.ParseDict(spec, message)
    except json_format.ParseError as error:
        raise InvalidSpecError(f"{source}: {_with_enum_names(str(error))}") from None
    return sweep_type(base=message) if is_one else message


def _with_enum_names(message: str) -> str:
    """protobuf's "Invalid enum value X for enum type sigprop.v1.AttentionSpec.Kind at …" with
    the valid names appended, as the C++ client and the server's axis check list them."""
    match = re.search(r"for enum type ([\w.]+)", message)
    if not match:
        return message
    try:
        enum = descriptor_pool.Default().FindEnumTypeByName(match.group(1))
    except KeyError:
        return message
    return f"{message}; one of {'|'.join(value.name for value in enum.values)}"


def _read(path: pathlib.Path, sweep_type: Any, one_type: Any, one_keys: tuple[str, ...]) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in _TEXT_SUFFIXES:
        try:
            return text_format.Parse(text, sweep_type())
        except text_format.ParseError as error:
            raise InvalidSpecError(f"{path}: {error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidSpecError(f"{path}:{error.lineno}:{error.colno}: {error.msg}") from None
    return _sweep_of(document, sweep_type, one_type, one_keys, str(path))


def load_spec(path: str | os.PathLike[str]) -> Any:
    """Reads a SweepSpec from a JSON file (protobuf JSON mapping) or a text-format file."""
    return _read(pathlib.Path(path), run_pb2.SweepSpec, run_pb2.RunSpec, ("model",))


def sweep_spec(spec: Spec, source: str = "spec") -> Any:
    """A SweepSpec from a SweepSpec, a RunSpec, a dict (either, JSON mapping) or a file path."""
    return _sweep_of(spec, run_pb2.SweepSpec, run_pb2.RunSpec, ("model",), source)


def compare_spec(spec: Spec, source: str = "spec") -> Any:
    """A CompareSweep from a CompareSweep, a CompareSpec, a dict (either) or a file path."""
    return _sweep_of(spec, compare_pb2.CompareSweep, compare_pb2.CompareSpec, ("a", "b"), source)


def _plain(value: Any) -> Any:
    """An axis value as Python: enum names stay strings, whole numbers become ints."""
    python = json_format.MessageToDict(value)
    if isinstance(python, float) and python.is_integer():
        return int(python)
    return python


def sweep_or_compare_spec(spec: Spec, source: str = "spec") -> Any:
    """A SweepSpec, or a CompareSweep when `spec` is a comparison (its message, or a dict or file
    whose base has "a"/"b")."""
    if isinstance(spec, (compare_pb2.CompareSweep, compare_pb2.CompareSpec)):
        return compare_spec(spec, source)
    try:
        return sweep_spec(spec, source)
    except InvalidSpecError:
        return compare_spec(spec, source)  # A comparison's dict or file; raises if it is neither.


def point_values(plan: Any) -> list[dict[str, Any]]:
    """For each point of a SweepPlan (Client.plan, Sweep.plan), in the server's order,
    {field path: value} of what the point sets. Whole numbers come back as ints, enum names as
    strings. The server's plan is the one place that expands a sweep; nothing here re-derives it.
    """
    return [{setting.field: _plain(setting.values[0]) for setting in point.settings}
            for point in plan.points]
