"""LayerStats messages as pandas DataFrames.

layer_frame: one row per point × layer × statistic, with columns
    point, <one per swept field, e.g. "model.width">, layer, t, statistic, mean, stderr,
    q05 … q95 (one per quantile level present), count, samples, diverged_fraction, method,
    approximate, and, where any statistic has a histogram, hist_lo, hist_hi, hist_counts (an
    array), hist_underflow, hist_overflow.
covariance_frame: one row per point × layer with `covariance`, the m×m array E V.
compare_frame: one row per CompareRow (point × time × statistic of a comparison), a column per
    field of CompareRow (compare.proto) with the methods as names, plus the swept fields.

The swept field names are also in DataFrame.attrs["swept"], in the sweep's axis order.
"""

import numpy as np
import pandas as pd
from google.protobuf import json_format

from sigprop.v1 import results_pb2, run_pb2

# Columns that every layer_frame has; anything else before "layer" is a swept field.
STANDARD_COLUMNS = (
    "point", "layer", "t", "statistic", "mean", "stderr", "count", "samples",
    "diverged_fraction", "method", "approximate", "hist_lo", "hist_hi", "hist_counts",
    "hist_underflow", "hist_overflow", "covariance")


def quantile_level(name):
    """The level of a quantile key (common/stats/summary.cc QuantileKey): "q05" 0.05, "q975" 0.975."""
    digits = name[1:]
    if not (name[:1] == "q" and digits.isdigit() and len(digits) >= 2):
        raise ValueError(f"not a quantile key: {name!r}")
    if digits == "100":
        return 1.0
    return float(f"{digits[:2]}.{digits[2:]}") / 100


def _point_columns(layer, values):
    row = {"point": layer.point}
    row.update(values[layer.point] if layer.point < len(values) else {})
    row.update(layer=layer.layer, t=layer.t)
    return row


def _finish(rows, values, columns_first):
    swept = list(values[0]) if values else []
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["point", *swept, *columns_first])
    frame.attrs["swept"] = swept
    return frame


def layer_frame(layers, values):
    """DataFrame of LayerStats messages; `values[p]` is {swept field: value} of point p."""
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


def covariance_frame(layers, values):
    """DataFrame of the mean covariances (LayerStats.mean_covariance) as m×m arrays."""
    rows = []
    for layer in layers:
        if not layer.mean_covariance:
            continue
        flat = np.array(layer.mean_covariance)
        m = int(round(np.sqrt(flat.size)))
        rows.append(dict(_point_columns(layer, values), covariance=flat.reshape(m, m)))
    return _finish(rows, values, ["layer", "t", "covariance"])


def swept_fields(frame):
    """The swept field columns of a layer_frame or covariance_frame."""
    if "swept" in frame.attrs:
        return [c for c in frame.attrs["swept"] if c in frame.columns]
    return [c for c in frame.columns
            if c not in STANDARD_COLUMNS and not (c[:1] == "q" and c[1:].isdigit())]


def compare_frame(rows, values):
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


def read_results(path, plan=None, provisional=False):
    """The DataFrame of a `sigprop run --format jsonl` (or `watch`, `results`) output file: the
    same as Sweep.results() gives for that sweep, so CLI output goes straight into sigprop.plot.

    plan: the sweep's SweepPlan (Client.plan(spec)) names the swept fields' columns; without it
    only `point` says which point a row is. provisional: keep the rows flagged provisional
    (`--provisional` output); by default only final rows, as Sweep.results() returns.
    """
    from sigprop.spec import point_values  # spec imports nothing of this module: no cycle

    layers = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            layer = results_pb2.LayerStats()
            try:
                json_format.Parse(line, layer)
            except json_format.ParseError as error:
                raise ValueError(f"{path}:{number}: not a LayerStats line ({error}); "
                                 "read_results takes --format jsonl output") from None
            if layer.provisional and not provisional:
                continue
            layers.append(layer)
    return layer_frame(layers, point_values(plan) if plan is not None else [])
