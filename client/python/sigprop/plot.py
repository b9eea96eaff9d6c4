"""Pictures of sweep results (DataFrames of sigprop.frame).

Every function returns a matplotlib Figure built without pyplot (an Agg canvas), so it works in
scripts, on headless machines and in notebooks alike; pass `ax=` to draw into an axes of your own
where a function draws one panel. Legends name the swept fields of each point ("n = 256",
"shaped transformer"); `by=` picks which swept fields label the lines.

    rho_bands        ρ quantile bands versus depth, one band per point
    covariance_maps  heat maps of E V (or its correlation matrix) at chosen layers
    histograms       histograms of one statistic at one layer, one per point, overlaid
    gradient_norms   ‖∂L/∂W_Q‖, ‖∂L/∂W_K‖, ‖∂L/∂W_V‖ versus depth, a panel per point
    stability_map    diverged fraction or a terminal statistic over two swept parameters
    live             rho_bands redrawn as a running sweep's layer statistics stream in
    save             writes a PNG (dpi 300)
"""

import io
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from sigprop.frame import layer_frame, quantile_level, swept_fields

if TYPE_CHECKING:
    from sigprop.client import Sweep

# Which swept fields label a point: one field, several, or None for all of them.
By = Union[str, Sequence[str], None]

# How a swept field is named in legends and axis labels; other fields use their last path part.
FIELD_SYMBOLS = {
    "model.width": "n",
    "model.depth": "d",
    "model.tokens": "m",
    "model.key_width": "n_k",
    "model.heads": "H",
    "model.alpha": "α",
    "model.attention.tau0": "τ₀",
    "model.attention.tau": "τ",
    "model.attention.branch_scale": "γ",
    "model.mlp.branch_scale": "γ_MLP",
    "model.attention.kind": "attention",
    "model.initial.rho0": "ρ₀",
    "model.preset": None,  # The value alone says it.
    "method": None,
}

PRESET_NAMES = {
    "PAPER_A_STANDARD": "standard (post-LN, λ = γ = 1)",
    "PAPER_A_SCALED": "depth-scaled residual (γ = 1/√d)",
    "SHAPED_TRANSFORMER": "shaped transformer",
    "SHAPED_ATTENTION_ONLY": "shaped attention only",
    "SHAPED_MLP_ONLY": "shaped MLP only",
    "SIMPLIFIED_SAS": "simplified attention sub-block (SAS)",
    "SIMPLIFIED_SAS_P": "simplified parallel block (SAS-P)",
    "DEPTH_MUP": "depth-µP",
}

STATISTIC_LABELS = {
    "rho_mean": "token correlation ρ (mean off-diagonal, unitless)",
    "rho_min": "smallest token correlation (unitless)",
    "rho12": "correlation ρ₁₂ of tokens 1, 2 (unitless)",
    "collapse": "collapse ‖X − 1x̄ᵀ‖_F / ‖X‖_F (unitless)",
    "stable_rank": "stable rank tr V / λ_max (tokens)",
    "v_diag_mean": "mean squared token norm V_αα (per feature)",
    "v11": "V₁₁ (squared norm per feature)",
    "v23": "V₂₃ (inner product per feature)",
    "log_det": "log det V (nats)",
    "grad_wq": "‖∂L/∂W_Q‖_F",
    "grad_wk": "‖∂L/∂W_K‖_F",
    "grad_wv": "‖∂L/∂W_V‖_F",
    "grad_w1": "‖∂L/∂W_1‖_F",
    "grad_w2": "‖∂L/∂W_2‖_F",
    "grad_x": "‖∂L/∂X_ℓ‖_F/√n",
    "grad_floor_fraction": "fraction of samples below the rounding floor",
    "attention_entropy": "attention entropy (mean row entropy, nats)",
    "attention_max_logit": "largest attention logit |q·k|/τ",
    "attention_gap": "spectral gap σ₁(A) − σ₂(A)",
}

AXIS_LABELS = {
    "layer": "depth ℓ (layers)",
    "t": "layer time t = ℓ/n (layers per unit of width)",
}

# Short names for colour bars.
STATISTIC_SYMBOLS = {"rho_mean": "ρ", "rho_min": "min ρ", "rho12": "ρ₁₂", "collapse": "collapse",
                     "stable_rank": "stable rank", "v_diag_mean": "V_αα (per feature)",
                     "v11": "V₁₁", "v23": "V₂₃", "log_det": "log det V"}

WEIGHT_COLORS = {"grad_wq": "tab:blue", "grad_wk": "tab:orange", "grad_wv": "tab:green",
                 "grad_w1": "tab:red", "grad_w2": "tab:purple", "grad_x": "tab:gray"}


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _axes(ax: Optional[Axes], width: float = 6.4,
          height: float = 4.2) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    figure = _figure(width, height)
    return figure, figure.add_subplot()


def save(figure: Figure, path: Union[str, "os.PathLike[str]"],
         dpi: float = 300) -> Union[str, "os.PathLike[str]"]:
    """Writes the figure as a PNG at `dpi` (300 by default, for print; the figures are drawn at
    100, so the PNG has 3× their pixel size); returns the path."""
    figure.savefig(path, dpi=dpi)
    return path


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def field_label(field: str) -> str:
    """A swept field's short name: its symbol, else the last part of its path."""
    symbol = FIELD_SYMBOLS.get(field, field.rsplit(".", 1)[-1])
    return symbol or field.rsplit(".", 1)[-1]


def value_label(field: str, value: Any) -> str:
    """"n = 256", or for presets and methods the value alone."""
    if field in FIELD_SYMBOLS and FIELD_SYMBOLS[field] is None:
        return PRESET_NAMES.get(value, str(value))
    return f"{field_label(field)} = {_format(value)}"


def _label_fields(frame: pd.DataFrame, by: By) -> list[str]:
    if by is None:
        return swept_fields(frame)
    return [by] if isinstance(by, str) else list(by)


def point_label(frame: pd.DataFrame, point: int, by: By = None) -> str:
    """The legend entry of one point: its swept values (or the `by` fields)."""
    fields = _label_fields(frame, by)
    row = frame[frame["point"] == point].iloc[0]
    parts = [value_label(f, row[f]) for f in fields]
    return ", ".join(parts) if parts else f"point {point}"


def _points(frame: pd.DataFrame, points: Optional[Sequence[int]]) -> list[int]:
    available = sorted(frame["point"].unique())
    if points is None:
        return available
    missing = [p for p in points if p not in available]
    if missing:
        raise ValueError(f"points {missing} are not in the results (have {available})")
    return list(points)


def _statistic(frame: pd.DataFrame, statistic: str) -> pd.DataFrame:
    rows = frame[frame["statistic"] == statistic]
    if rows.empty:
        names = sorted(frame["statistic"].unique())
        raise ValueError(f"statistic {statistic!r} is not in the results (have {names})")
    return rows


def rho_bands(frame: pd.DataFrame, statistic: str = "rho_mean", x: str = "layer",
              points: Optional[Sequence[int]] = None, by: By = None, ax: Optional[Axes] = None,
              bands: Sequence[tuple[str, str]] = (("q05", "q95"), ("q25", "q75")),
              center: str = "q50") -> Figure:
    """Median (`center`) and quantile bands of a statistic versus depth, one colour per point.

    x: "layer" (ℓ) or "t" (ℓ/n, to compare widths at equal depth-to-width ratio).
    """
    rows = _statistic(frame, statistic)
    figure, ax = _axes(ax)
    colors = _colors(len(_points(rows, points)))
    for color, point in zip(colors, _points(rows, points)):
        data = rows[rows["point"] == point].sort_values("layer")
        for i, (lo, hi) in enumerate(bands):
            ax.fill_between(data[x], data[lo], data[hi], color=color, alpha=0.15 + 0.15 * i,
                            linewidth=0)
        ax.plot(data[x], data[center], color=color, linewidth=1.8,
                label=point_label(frame, point, by))
    band_text = ", ".join(f"{_percent(lo)}–{_percent(hi)}%" for lo, hi in bands)
    ax.set_xlabel(AXIS_LABELS.get(x, x))
    ax.set_ylabel(STATISTIC_LABELS.get(statistic, statistic))
    ax.set_title(f"median and {band_text} bands over samples", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def _percent(key: str) -> str:
    return f"{100 * quantile_level(key):g}"


def _colors(count: int) -> list[Any]:
    from matplotlib import colormaps
    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    return [colormaps["viridis"](i / max(count - 1, 1)) for i in range(count)]


def covariance_maps(covariances: pd.DataFrame, layers: Sequence[int],
                    points: Optional[Sequence[int]] = None, by: By = None,
                    correlation: bool = True) -> Figure:
    """Heat maps of the mean covariance E V (rows: points, columns: `layers`).

    covariances: Sweep.covariances(). correlation: show E V_αβ / sqrt(E V_αα E V_ββ) on [−1, 1]
    instead of E V itself. A layer beyond a point's depth means its last layer.
    """
    if covariances.empty:
        raise ValueError("no covariances: run the sweep with mean_covariance: true")
    points = _points(covariances, points)
    figure = _figure(2.3 * len(layers) + 1.2, 2.3 * len(points) + 0.4)
    grid = figure.subplots(len(points), len(layers), squeeze=False)
    matrices = {}
    for point in points:
        data = covariances[covariances["point"] == point]
        for layer in layers:
            row = data[data["layer"] == min(layer, data["layer"].max())].iloc[0]
            v = row["covariance"]
            if correlation:
                d = np.sqrt(np.diag(v))
                v = v / np.outer(d, d)
            matrices[point, layer] = (v, row["layer"])
    if correlation:
        vmin, vmax, cmap = -1.0, 1.0, "RdBu_r"
    else:
        values = np.concatenate([v.ravel() for v, _ in matrices.values()])
        vmin, vmax, cmap = float(values.min()), float(values.max()), "viridis"
    for i, point in enumerate(points):
        for j, layer in enumerate(layers):
            ax = grid[i, j]
            v, actual = matrices[point, layer]
            m = v.shape[0]
            image = ax.imshow(v, vmin=vmin, vmax=vmax, cmap=cmap, extent=(0.5, m + 0.5, m + 0.5, 0.5))
            ax.set_xticks(range(1, m + 1))
            ax.set_yticks(range(1, m + 1))
            ax.tick_params(labelsize=7)
            ax.set_title(f"ℓ = {actual}", fontsize=9)
            if i == len(points) - 1:
                ax.set_xlabel("token β")
            if j == 0:
                ax.set_ylabel(f"{point_label(covariances, point, by)}\ntoken α", fontsize=8)
    label = "correlation E V_αβ / √(E V_αα E V_ββ) (unitless)" if correlation else \
        "E V_αβ (inner product per feature)"
    figure.colorbar(image, ax=grid, shrink=0.8, label=label)
    return figure


def _terminal(rows: pd.DataFrame) -> pd.DataFrame:
    """Each point's last recorded layer."""
    last = rows.groupby("point")["layer"].transform("max")
    return rows[rows["layer"] == last]


def histograms(frame: pd.DataFrame, statistic: str = "rho_mean", layer: Optional[int] = None,
               points: Optional[Sequence[int]] = None, by: By = None,
               ax: Optional[Axes] = None) -> Figure:
    """Density histograms of a statistic at one layer (default: each point's last), overlaid.

    Needs the RunSpec's `histogram` for that statistic (fixed bins, so all points share them).
    The legend gives each point's fraction of samples outside the binned range and diverged.
    """
    rows = _statistic(frame, statistic)
    if "hist_counts" not in rows.columns or rows["hist_counts"].isna().all():
        raise ValueError(f"no histogram of {statistic!r}: add histogram "
                         f"{{statistic: '{statistic}', bins, lo, hi}} to the RunSpec")
    rows = _terminal(rows) if layer is None else rows[rows["layer"] == layer]
    figure, ax = _axes(ax)
    colors = _colors(len(_points(rows, points)))
    for color, point in zip(colors, _points(rows, points)):
        row = rows[rows["point"] == point].iloc[0]
        counts = np.asarray(row["hist_counts"], dtype=float)
        edges = np.linspace(row["hist_lo"], row["hist_hi"], counts.size + 1)
        total = counts.sum() + row["hist_underflow"] + row["hist_overflow"]
        density = counts / (total * np.diff(edges)) if total > 0 else counts
        label = point_label(frame, point, by)
        outside = (row["hist_underflow"] + row["hist_overflow"]) / total if total > 0 else 0.0
        notes = []
        if outside > 0:
            notes.append(f"{100 * outside:.1f}% outside")
        if row["diverged_fraction"] > 0:
            notes.append(f"{100 * row['diverged_fraction']:.1f}% diverged")
        if notes:
            label += f" ({', '.join(notes)})"
        ax.stairs(density, edges, color=color, linewidth=1.6, label=label)
    where = "last layer" if layer is None else f"ℓ = {layer}"
    ax.set_xlabel(f"{STATISTIC_LABELS.get(statistic, statistic)} at the {where}")
    ax.set_ylabel("probability density (per unit of the statistic)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return figure


def gradient_norms(frame: pd.DataFrame, weights: Sequence[str] = ("grad_wq", "grad_wk", "grad_wv"),
                   points: Optional[Sequence[int]] = None, by: By = None, x: str = "layer",
                   log: bool = True, columns: int = 3) -> Figure:
    """Median and 25–75% band of the gradient norm of each weight versus depth; a panel per point.

    Needs `gradients: true` (COLUMNS or DENSE). `weights` may include "grad_x", the backward
    signal ‖∂L/∂X_ℓ‖/√n. Layers where at least half the samples' ‖∂L/∂W_Q‖ or ‖∂L/∂W_K‖ lies below
    its floating-point rounding floor ("grad_floor_fraction" ≥ 0.5) are greyed out: the values
    there are rounding noise, not measurements. Zero norms do not show on the log scale.
    """
    rows = frame[frame["statistic"].isin(weights)]
    if rows.empty:
        raise ValueError(f"no gradient statistics {list(weights)}: run with gradients: true")
    floors = frame[frame["statistic"] == "grad_floor_fraction"]
    points = _points(rows, points)
    columns = min(columns, len(points))
    lines = math.ceil(len(points) / columns)
    figure = _figure(3.6 * columns + 0.6, 3.2 * lines + 0.5)
    grid = figure.subplots(lines, columns, squeeze=False, sharey=True)
    for index, point in enumerate(points):
        ax = grid.flat[index]
        for weight in weights:
            data = rows[(rows["point"] == point) & (rows["statistic"] == weight)].sort_values("layer")
            if data.empty:
                continue
            color = WEIGHT_COLORS.get(weight)
            ax.fill_between(data[x], data["q25"], data["q75"], color=color, alpha=0.25, linewidth=0)
            ax.plot(data[x], data["q50"], color=color, linewidth=1.6,
                    label=STATISTIC_LABELS.get(weight, weight))
        floored = floors[(floors["point"] == point) & (floors["mean"] >= 0.5)]
        for i, at in enumerate(sorted(floored[x])):
            ax.axvspan(at - 0.5, at + 0.5, color="0.8", alpha=0.6, linewidth=0,
                       label="‖∂L/∂W_Q‖, ‖∂L/∂W_K‖ at rounding floor" if i == 0 else None)
        if log:
            ax.set_yscale("log")
        ax.set_title(point_label(frame, point, by), fontsize=9)
        ax.set_xlabel(AXIS_LABELS.get(x, x))
        ax.grid(alpha=0.3)
    for ax in grid.flat[len(points):]:
        ax.set_visible(False)
    for row in grid:
        row[0].set_ylabel("gradient norm")
    for ax in grid.flat[:len(points)]:
        ax.legend(fontsize=7)
    return figure


def stability_map(frame: pd.DataFrame, x: str, y: str, value: str = "diverged_fraction",
                  statistic: str = "rho_mean", quantile: str = "q50", layer: Optional[int] = None,
                  log: bool = False, ax: Optional[Axes] = None) -> Figure:
    """A heat map over two swept fields `x`, `y` at one layer (default: the last).

    value: "diverged_fraction" (fraction of samples whose V blew up), or a column of the
    statistic `statistic` ("mean", "q50", …; `quantile` is used when value is "quantile").
    log: a logarithmic colour scale (for norms that explode).
    """
    if value == "diverged_fraction":
        rows = frame[frame["statistic"] == frame["statistic"].iloc[0]]
        column, label = "diverged_fraction", "diverged fraction of samples"
    else:
        rows = _statistic(frame, statistic)
        column = quantile if value == "quantile" else value
        what = f"{_percent(column)}% quantile" if column.startswith("q") else column
        label = f"{what} of {STATISTIC_SYMBOLS.get(statistic, statistic)}"
    rows = _terminal(rows) if layer is None else rows[rows["layer"] == layer]
    table = rows.pivot_table(index=y, columns=x, values=column, aggfunc="first")
    table = table.sort_index().sort_index(axis=1)
    figure, ax = _axes(ax, 6.0, 4.6)
    if log:
        norm = LogNorm()
    else:
        norm = Normalize(0.0, 1.0) if column == "diverged_fraction" else Normalize()
    image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="magma",
                      norm=norm)
    ax.set_xticks(range(table.shape[1]), [_format(v) for v in table.columns])
    ax.set_yticks(range(table.shape[0]), [_format(v) for v in table.index])
    ax.set_xlabel(f"{field_label(x)} ({x})")
    ax.set_ylabel(f"{field_label(y)} ({y})")
    values = table.to_numpy(dtype=float)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            dark = image.norm(v) < 0.5
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    where = "the last layer" if layer is None else f"ℓ = {layer}"
    figure.colorbar(image, ax=ax, label=f"{label} at {where}")
    return figure


def _notebook_display() -> Any:
    """IPython.display's display function inside a Jupyter kernel, else None (a script, a
    terminal IPython, a headless test)."""
    try:
        import IPython
        from IPython.display import display
    except ImportError:
        return None
    shell = IPython.get_ipython()
    return display if shell is not None and getattr(shell, "kernel", None) is not None else None


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def live(sweep: "Sweep", statistic: str = "rho_mean", x: str = "layer",
         points: Optional[Sequence[int]] = None, by: By = None, interval: float = 1.0,
         timeout: Optional[float] = None, progress: bool = False,
         on_redraw: Optional[Callable[[Figure], None]] = None, **bands: Any) -> Figure:
    """rho_bands of a running sweep, redrawn as its layer statistics stream in; returns the
    final Figure once the sweep has ended.

    It watches the sweep from its first event (Sweep.watch; a finished sweep draws at once) and
    redraws after each batch of layer rows (a point's final rows, or a set of provisional ones,
    RunSpec.provisional_every), at most every `interval` seconds, and once at the end: each
    point's newest rows, provisional ones until its final ones replace them. The title counts
    the points finished (and names the end state when it is not SUCCEEDED). In Jupyter the figure
    is shown below the cell and updated in place (IPython.display); elsewhere (a script, Agg on a
    headless machine) nothing is shown and the figure is only redrawn. on_redraw(figure) runs
    after each redraw (e.g. to save frames). statistic, x, points, by and **bands (bands=,
    center=) are rho_bands's; progress and timeout are Sweep.watch's.
    """
    figure, ax = _axes(None)
    values = sweep.point_values()
    newest: dict[tuple[int, int], Any] = {}  # (point, layer) → its newest LayerStats
    display = _notebook_display()
    handle: Any = None
    finished = 0
    last_redraw = -math.inf

    def redraw(state: str) -> None:
        nonlocal handle, last_redraw
        frame = layer_frame(newest.values(), values)
        present = set(frame["point"])
        # Mid-sweep, the chosen points that have rows yet; at the end all, so a wrong one raises.
        shown = points if points is None or state else [p for p in points if p in present]
        ax.clear()
        if shown is None or shown:
            rho_bands(frame, statistic, x, shown, by, ax, **bands)
        end = f" ({state})" if state not in ("", "SUCCEEDED") else ""
        figure.suptitle(f"{sweep.spec.name or sweep.id}: {finished}/{sweep.points} points "
                        f"finished{end}", fontsize=10)
        figure.canvas.draw()
        if display is not None:
            from IPython.display import Image
            if handle is None:
                handle = display(Image(_png(figure)), display_id=True)
            else:
                handle.update(Image(_png(figure)))
        if on_redraw is not None:
            on_redraw(figure)
        last_redraw = time.monotonic()

    stream = sweep.watch(timeout=timeout, progress=progress)
    changed = False
    try:
        for event in stream:
            if event.HasField("layer"):
                newest[event.layer.point, event.layer.layer] = event.layer
                changed = True
                continue
            if event.HasField("point_finished"):
                finished += 1
            if changed and not event.HasField("sweep_finished") and \
                    time.monotonic() - last_redraw >= interval:
                redraw("")
                changed = False
    finally:
        stream.close()
    if newest:
        redraw(stream.finished.State.Name(stream.finished.state) if stream.finished else "")
    return figure
