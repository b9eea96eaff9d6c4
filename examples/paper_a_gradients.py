#!/usr/bin/python3
"""Paper A: gradient norms of the queries' and keys' weights versus the values' by depth, at width
1024 (method COLUMNS, the implicit-weight backward pass). Under rank collapse (standard post-LN
softmax attention) every token is the same, the attention is uniform whatever W_Q, W_K are, and
their gradients vanish — down to the floating-point rounding floor, where the plot greys the
layers out — while W_V's do not; the depth-scaled residual keeps all three of the same order.

‖∂L/∂W_Q‖ and ‖∂L/∂W_K‖ have nearly the same medians at every layer, so the two curves lie on top
of each other: they are drawn with different line styles and markers (W_Q dashed with circles,
W_K solid with squares, the markers at alternate layers), and the legend says that they overlap.
"""

import numpy as np

import _figure
from sigprop import plot

# Line style of each statistic: W_Q and W_K differ in dash and marker, and their markers sit at
# alternate layers, so both stay visible where the medians coincide. Keyed by the line's label,
# which gradient_norms takes from plot.STATISTIC_LABELS.
STYLES = {plot.STATISTIC_LABELS[name]: style for name, style in {
    "grad_wq": dict(linestyle=(0, (5, 2)), marker="o", markevery=(0, 8), markersize=4.5,
                    markerfacecolor="none", markeredgewidth=1.2, zorder=4),
    "grad_wk": dict(linestyle="-", marker="s", markevery=(4, 8), markersize=3.5, zorder=3),
    "grad_wv": dict(linestyle="-", marker="^", markevery=(2, 8), markersize=4),
    "grad_x": dict(linestyle=(0, (1, 1.5)), linewidth=2.0),
}.items()}


def restyle(figure, note):
    """Applies STYLES to every panel's median lines and gathers the legends into one, with `note`,
    in the empty middle of the last panel (in the first it would hide the falling curves)."""
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.lines]
    for ax in panels:
        for line in ax.lines:
            line.set(**STYLES.get(line.get_label(), {}))
        ax.get_legend().remove()
    handles = {}
    for ax in panels:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    panels[-1].legend(handles.values(), handles.keys(), fontsize=7.5, title=note,
                      title_fontsize=7.5, loc="center")
    panels[0].set_ylabel("median gradient norm (25–75% band)")


def overlap(results, preset):
    """Largest relative difference between the W_Q and W_K medians over layers above the floor."""
    rows = results[results["model.preset"] == preset]
    floor = rows[rows.statistic == "grad_floor_fraction"].set_index("layer")["mean"]
    q = rows[rows.statistic == "grad_wq"].set_index("layer")["q50"]
    k = rows[rows.statistic == "grad_wk"].set_index("layer")["q50"]
    above = floor[floor < 0.5].index.intersection(q.index)
    return float(np.max(np.abs(q[above] / k[above] - 1)))


results, _, out = _figure.run("paper_a_gradients.json", __file__, __doc__)
figure = plot.gradient_norms(results, weights=("grad_wq", "grad_wk", "grad_wv", "grad_x"),
                             columns=2)
gap = {p: overlap(results, p) for p in ("PAPER_A_STANDARD", "PAPER_A_SCALED")}
restyle(figure, f"W_Q (dashed, ○) and W_K (solid, □) overlap:\n"
                f"medians within {100 * max(gap.values()):.0f}% of each other")
figure.suptitle("Paper A: ‖∂L/∂W‖_F of queries, keys and values by layer, N(0, 1) weight units\n"
                "(m = 8, n = 1024, d = 64, ρ₀ = 0.2; 50 samples, COLUMNS; grey: W_Q, W_K below "
                "their rounding floor)", fontsize=10)
for weight in ("grad_wq", "grad_wk", "grad_wv", "grad_x", "grad_floor_fraction"):
    _figure.summary(results, weight, columns=("q50",) if weight != "grad_floor_fraction" else ("mean",))
first = results[(results.layer == 1) & results.statistic.isin(["grad_wq", "grad_wv"])]
print("layer 1 medians:")
print(first[["point", "model.preset", "statistic", "q50"]].to_string(index=False))
print("largest |median W_Q / median W_K − 1| above the floor:", gap)
_figure.save(figure, out)
