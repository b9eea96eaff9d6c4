"""LayerStats messages as pandas DataFrames.

layer_frame: one row per point × layer × statistic, with columns
    point, <one per swept field, e.g. "model.width">, layer, t, statistic, mean, stderr,
    q05 … q95 (one per quantile level present), count, samples, diverged_fraction, method,
    approximate, and, where any statistic has a histogram, hist_lo, hist_hi, hist_counts (an
    array), hist_underflow, hist_overflow.
covariance_frame: one row per point × layer with `covariance`, the m×m array E V.
compare_frame: one row per CompareRow (point × time × statistic of a comparison), a column per
    field of CompareRow (compare.proto) with the methods as names, plus the swept fields.
to_xarray: a layer_frame as an xarray.Dataset with dims (swept fields…, layer, statistic).
read_results: the layer_frame of the CLI's output files (JSON lines or CSV).

The swept field names are also in DataFrame.attrs["swept"], in the sweep's axis order.
"""

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

import numpy as np
import pandas as pd
from google.protobuf import json_format

from sigprop.v1 import results_pb2, run_pb2

# {swept field path: value} of each point, in point order (spec.point_values).
PointValues = Sequence[Mapping[str, Any]]

# Columns that every layer_frame has; anything else before "layer" is a swept field.
STANDARD_COLUMNS = (
    "point", "layer", "t", "statistic", "mean", "stderr", "count", "samples",
    "diverged_fraction", "method", "approximate", "hist_lo", "hist_hi", "hist_counts",
    "hist_underflow", "hist_overflow", "covariance")


def is_quantile(name: str) -> bool:
    """True for a quantile key ("q05", "q50", "q975") as Summary.quantiles has them."""
    return name[:1] == "q" and name[1:].isdigit() and len(name) >= 3


def quantile_level(name: str) -> float:
    """The level of a quantile key (common/stats/summary.cc QuantileKey): "q05" 0.05, "q975" 0.975."""
    digits = name[1:]
    if not is_quantile(name):
        raise ValueError(f"not a quantile key: {name!r}")
    if digits == "100":
        return 1.0
    return float(f"{digits[:2]}.{digits[2:]}") / 100


def _point_columns(layer: Any, values: PointValues) -> dict[str, Any]:
    row = {"point": layer.point}
    row.update(values[layer.point] if layer.point < len(values) else {})
    row.update(layer=layer.layer, t=layer.t)
    return row


def _finish(rows: list[dict[str, Any]], values: PointValues,
            columns_first: list[str]) -> pd.DataFrame:
    swept = list(values[0]) if values else []
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["point", *swept, *columns_first])
    frame.attrs["swept"] = swept
    return frame


def layer_frame(layers: Iterable[Any], values: PointValues) -> pd.DataFrame:
    """DataFrame of LayerStats messages; `values[p]` is {swept field: value} of point p."""
    layers = list(layers)
    quantiles = sorted({q for layer in layers for s in layer.stats.values() for q in s.quantiles},
                       key=quantile_level)
    histograms = any(s.HasField("histogram") for layer in layers for s in layer.stats.values())
    rows = []
    for layer in layers:
        base = _point_columns(layer, values)
        tail = {
            "samples": layer.samples,
            "diverged_fraction": layer.diverged_fraction,
            "method": run_pb2.RunSpec.Method.Name(layer.method),
            "approximate": layer.approximate,
        }
        for name in sorted(layer.stats):
            summary = layer.stats[name]
            row = dict(base, statistic=name, mean=summary.mean, stderr=summary.stderr)
            for q in quantiles:
                row[q] = summary.quantiles.get(q, np.nan)
            row["count"] = summary.count
            row.update(tail)
            if histograms:
                has = summary.HasField("histogram")
                h = summary.histogram
                row.update(hist_lo=h.lo if has else np.nan, hist_hi=h.hi if has else np.nan,
                           hist_counts=np.array(h.counts, dtype=np.int64) if has else None,
                           hist_underflow=h.underflow if has else 0,
                           hist_overflow=h.overflow if has else 0)
            rows.append(row)
    return _finish(rows, values, ["layer", "t", "statistic", "mean", "stderr", *quantiles, "count"])


def covariance_frame(layers: Iterable[Any], values: PointValues) -> pd.DataFrame:
    """DataFrame of the mean covariances (LayerStats.mean_covariance) as m×m arrays."""
    rows = []
    for layer in layers:
        if not layer.mean_covariance:
            continue
        flat = np.array(layer.mean_covariance)
        m = int(round(np.sqrt(flat.size)))
        rows.append(dict(_point_columns(layer, values), covariance=flat.reshape(m, m)))
    return _finish(rows, values, ["layer", "t", "covariance"])


def swept_fields(frame: pd.DataFrame) -> list[str]:
    """The swept field columns of a layer_frame or covariance_frame."""
    if "swept" in frame.attrs:
        return [c for c in frame.attrs["swept"] if c in frame.columns]
    return [c for c in frame.columns if c not in STANDARD_COLUMNS and not is_quantile(c)]


def compare_frame(rows: Sequence[Any], values: PointValues) -> pd.DataFrame:
    """DataFrame of CompareRow messages; `values[p]` is {swept field: value} of point p."""
    names = [f.name for f in rows[0].DESCRIPTOR.fields] if rows else []
    out = []
    for row in rows:
        record = {"point": row.point}
        record.update(values[row.point] if row.point < len(values) else {})
        for name in names:
            if name == "point":
                continue
            value = getattr(row, name)
            if name in ("a_method", "b_method"):
                value = run_pb2.RunSpec.Method.Name(value)
            record[name] = value
        out.append(record)
    return _finish(out, values, [n for n in names if n != "point"])


def _xarray() -> Any:
    """The xarray module, or an ImportError that names the package to install."""
    try:
        import xarray
    except ImportError:
        raise ImportError(
            "sigprop: an xarray.Dataset needs xarray, which is not installed: install Debian's "
            "python3-xarray ('apt install python3-xarray'), or 'pip install xarray' in a venv"
        ) from None
    return xarray


def _grid(frame: pd.DataFrame, swept: list[str]) -> bool:
    """True when the points are every combination of the swept values, each once (a PRODUCT
    sweep run whole), so that each swept field can be a dimension of its own."""
    points = frame.drop_duplicates("point")[swept]
    return len(points.drop_duplicates()) == len(points) == \
        int(np.prod([points[f].nunique() for f in swept]))


def to_xarray(frame: pd.DataFrame) -> Any:
    """A layer_frame (Sweep.results(), read_results) as an xarray.Dataset.

    Dims: one per swept field (its values as coordinates), then layer and statistic. Variables:
    mean, stderr, the quantiles (q05 … q95) and count over every dim; t, samples,
    diverged_fraction, method and approximate over the swept fields and layer. Points of
    different depths leave NaN beyond their last layer. When the points are not every
    combination of the swept values (a ZIP sweep, or a PRODUCT sweep submitted with points=), the
    first dim is `point` instead, with the swept fields as coordinates along it; a sweep of one
    point has only layer and statistic. Histograms (hist_*) stay in the DataFrame.
    attrs["swept"]: the swept fields. Needs xarray (Debian's python3-xarray).
    """
    xarray = _xarray()
    swept = swept_fields(frame)
    if swept and _grid(frame, swept):
        keys = swept
    else:
        keys = ["point"] if swept or frame["point"].nunique() > 1 else []
    per_statistic = ["mean", "stderr", *[c for c in frame.columns if is_quantile(c)], "count"]
    # A swept "method" is a coordinate already.
    per_layer = [c for c in ("t", "samples", "diverged_fraction", "method", "approximate")
                 if c not in swept]
    statistics = frame.set_index([*keys, "layer", "statistic"])[per_statistic].to_xarray()
    layers = frame.drop_duplicates([*keys, "layer"]).set_index([*keys, "layer"])[per_layer]
    dataset = xarray.merge([statistics, layers.to_xarray()])
    if keys == ["point"] and swept:
        points = frame.drop_duplicates("point").set_index("point").loc[dataset["point"].values]
        dataset = dataset.assign_coords({f: ("point", points[f].to_numpy()) for f in swept})
    dataset.attrs["swept"] = swept
    return dataset


# The columns of `sigprop run --format csv` before the statistics' (client/result_writer.cc).
_CSV_COLUMNS = ["point", "label", "layer", "t", "samples", "diverged_fraction", "method",
                "approximate"]


def _jsonl_layers(lines: TextIO, path: str, provisional: bool) -> list[Any]:
    """The LayerStats of a JSON-lines file, without provisional ones unless `provisional`."""
    layers = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        layer = results_pb2.LayerStats()
        try:
            json_format.Parse(line, layer)
        except json_format.ParseError as error:
            raise ValueError(f"{path}:{number}: not a LayerStats line ({error}); "
                             "read_results takes --format jsonl or csv output") from None
        if layer.provisional and not provisional:
            continue
        layers.append(layer)
    return layers


def _csv_layers(lines: TextIO, path: str, plan: Any) -> list[Any]:
    """The LayerStats of a CSV file: a row per point × layer, then per statistic (sorted) its
    .mean, .stderr, .count and one column per quantile key, empty where a layer lacks the
    statistic. `plan` (or None) must label each point as the file does."""
    reader = csv.reader(lines)
    header = next(reader)
    columns = [name.rpartition(".") for name in header[len(_CSV_COLUMNS):]]
    labels = [point.label for point in plan.points] if plan is not None else None
    layers = []
    for number, cells in enumerate(reader, 2):
        if len(cells) != len(header):
            raise ValueError(f"{path}:{number}: {len(cells)} cells, the header has {len(header)}")
        try:
            layer = results_pb2.LayerStats(
                point=int(cells[0]), layer=int(cells[2]), t=float(cells[3]),
                samples=int(cells[4]), diverged_fraction=float(cells[5]),
                method=run_pb2.RunSpec.Method.Value(cells[6]), approximate=cells[7] == "true")
            for (statistic, _, key), cell in zip(columns, cells[len(_CSV_COLUMNS):]):
                if cell == "":
                    continue  # The layer has no such statistic (or no such quantile).
                summary = layer.stats[statistic]
                if key == "count":
                    summary.count = int(cell)
                elif key in ("mean", "stderr"):
                    setattr(summary, key, float(cell))
                else:
                    summary.quantiles[key] = float(cell)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: {error}") from None
        if labels is not None:
            planned = labels[layer.point] if layer.point < len(labels) else None
            if planned != cells[1]:
                raise ValueError(
                    f"{path}:{number}: point {layer.point} is {cells[1]!r} in the file but "
                    f"{planned!r} in the plan: the plan is of another sweep")
        layers.append(layer)
    return layers


def read_results(path: str | os.PathLike[str], plan: Any = None,
                 provisional: bool = False) -> pd.DataFrame:
    """The DataFrame of a `sigprop run` (or `watch`, `results`) output file, --format jsonl or
    csv (told apart by the CSV's header line): the same as Sweep.results() gives for that sweep,
    so CLI output goes straight into sigprop.plot.

    plan: the sweep's SweepPlan (Client.plan(spec)) names the swept fields' columns; without it
    only `point` says which point a row is. A CSV's point labels must match the plan's.
    provisional: keep the rows flagged provisional (`--provisional` JSON-lines output); by
    default only final rows, as Sweep.results() returns. CSV has no histograms: a run with
    `histogram` has the hist_* columns only from JSON lines.
    """
    from sigprop.spec import point_values  # spec imports nothing of this module: no cycle

    with open(path, encoding="utf-8", newline="") as lines:
        is_csv = lines.readline().startswith(",".join(_CSV_COLUMNS) + ",")
        lines.seek(0)
        if is_csv:
            layers = _csv_layers(lines, str(path), plan)
        else:
            layers = _jsonl_layers(lines, str(path), provisional)
    return layer_frame(layers, point_values(plan) if plan is not None else [])
