"""Sweep specs from dicts, JSON files and messages, and the swept values of each point.

A spec is a SweepSpec (proto/sigprop/v1/run.proto) in the protobuf JSON mapping, like the files in
examples/; a RunSpec alone (a dict with "model" and no "base") is a sweep of one point. A
comparison is a CompareSweep (compare.proto; examples/sde_vs_width.json); a CompareSpec alone (a
dict with "a" and "b") is a comparison of one point. sweep() builds the same SweepSpec from Python
values (a RunSpec of sigprop.presets, axes as a dict), set_field() sets one dotted path.
"""

import json
import os
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Union

import numpy as np
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


def _python(value: Any) -> Any:
    """A value as plain Python for the protobuf JSON mapping: numpy scalars and arrays (e.g. an
    axis of np.linspace) become floats, ints and lists; dicts, lists and tuples recursively."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: _python(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_python(item) for item in value]
    return value


def _parse_error_reason(error: json_format.ParseError) -> str:
    """protobuf's nested "Failed to parse model field: Failed to parse width field: …" without
    its prefixes (the caller names the path), with an enum's valid names appended."""
    reason = re.sub(r"^(Failed to parse \w+ field: )+", "", str(error)).rstrip(".")
    return _with_enum_names(reason)


def set_field(message: Message, path: str, value: Any) -> None:
    """Sets the field at a dotted `path` of `message` ("model.attention.tau0", the paths sweep
    axes take) to `value` in the protobuf JSON mapping: numbers, enum names as strings, booleans,
    lists for repeated fields, dicts for messages (merged into what is set there already).

    Raises InvalidSpecError naming the path: a field that does not exist, or a value it cannot
    hold.
    """
    *parents, last = path.split(".")
    for depth, name in enumerate(parents):
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is None or field.message_type is None or \
                field.label == field.LABEL_REPEATED:
            raise InvalidSpecError(_no_field(message, name, path, depth))
        message = getattr(message, name)
    if last not in message.DESCRIPTOR.fields_by_name:
        raise InvalidSpecError(_no_field(message, last, path, len(parents)))
    try:
        json_format.ParseDict({last: _python(value)}, message)
    except json_format.ParseError as error:
        raise InvalidSpecError(f"{path}: {_parse_error_reason(error)}") from None


def _no_field(message: Message, name: str, path: str, depth: int) -> str:
    """The server's wording for an axis path that names no field (common/sweep_expansion.cc),
    with the fields there are."""
    if name in message.DESCRIPTOR.fields_by_name:
        return f"{path}: '{'.'.join(path.split('.')[:depth + 1])}' is not a message field"
    fields = ", ".join(message.DESCRIPTOR.fields_by_name)
    return f"{path}: no field '{name}' in {message.DESCRIPTOR.name} (its fields: {fields})"


def sweep(base: Message | dict[str, Any], axes: Mapping[str, Iterable[Any]] | Iterable[tuple[str, Iterable[Any]]]
          | None = None, combine: str = "PRODUCT", name: str = "") -> Any:
    """A SweepSpec from Python values, the same message a JSON file of examples/ gives:

        spec = sigprop.sweep(base=sigprop.presets.shaped_transformer(tokens=8, width=64, depth=32,
                                                                     samples=200),
                             axes={"model.attention.tau0": [0.5, 1, 2], "model.width": [64, 128]},
                             combine="PRODUCT", name="tau0 by width")

    base: the RunSpec every point starts from (a RunSpec such as sigprop.presets gives, or its
    dict in the JSON mapping). axes: {dotted field path: values} in axis order (or a list of
    (path, values) pairs); values are numbers (numpy's too), enum names or booleans.
    combine: "PRODUCT" (every combination, the last axis fastest) or "ZIP" (the i-th values of
    every axis together). The server expands the points (Client.plan shows them) and checks the
    paths and values; InvalidSpecError here names what does not even parse.
    """
    spec = run_pb2.SweepSpec(name=name)
    if isinstance(base, run_pb2.RunSpec):
        spec.base.CopyFrom(base)
    elif isinstance(base, dict):
        try:
            json_format.ParseDict(_python(base), spec.base)
        except json_format.ParseError as error:
            raise InvalidSpecError(f"base: {_parse_error_reason(error)}") from None
    else:
        what = base.DESCRIPTOR.full_name if isinstance(base, Message) else type(base).__name__
        raise InvalidSpecError(f"base: expected a RunSpec or its dict, got {what}")
    pairs = axes.items() if isinstance(axes, Mapping) else (axes or [])
    for index, (field, values) in enumerate(pairs):
        where = f"axes[{index}] ({field!r})"
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise InvalidSpecError(f"{where}: expected a list of values, got {values!r}")
        axis = spec.axes.add(field=field)
        try:
            json_format.ParseDict({"values": _python(list(values))}, axis)
        except json_format.ParseError as error:
            raise InvalidSpecError(f"{where}: {_parse_error_reason(error)}") from None
    # The enum's values after COMBINE_UNSPECIFIED: PRODUCT, ZIP.
    choices = [value.name for value in run_pb2.SweepSpec.Combine.DESCRIPTOR.values][1:]
    if not isinstance(combine, str) or combine.upper() not in choices:
        raise InvalidSpecError(f"combine: must be {' or '.join(choices)}, got {combine!r}")
    spec.combine = run_pb2.SweepSpec.Combine.Value(combine.upper())
    return spec
