#!/usr/bin/python3
"""Paper B: stability of shaped attention over its residual weight γ (λ² + γ² = 1) and its
temperature factor τ0, at depth-to-width ratio T = d/n = 2. The attention drift grows as γ²/τ0²:
small τ0 and large γ push the token correlations towards 1 (and the covariance SDE's cubic drift
towards explosion); large τ0 and small γ keep them near ρ0.

The median of ρ and the 95% quantile of V_αα are over the samples that did not diverge (largest
V_αα past 1e12) by the last layer; a cell whose point lost samples that way says which fraction.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import _figure
from sigprop import plot

X, Y = "model.attention.tau0", "model.attention.branch_scale"


def mark_diverged(ax, results):
    """Writes each cell's diverged fraction under its value where it is not 0 (stability_map
    places cell (i, j) at the i-th smallest γ and the j-th smallest τ0)."""
    rows = results[results.statistic == "rho_mean"]
    rows = rows[rows.layer == rows.layer.max()]
    xs, ys = sorted(rows[X].unique()), sorted(rows[Y].unique())
    for _, row in rows[rows.diverged_fraction > 0].iterrows():
        ax.text(xs.index(row[X]), ys.index(row[Y]) - 0.22,
                f"{100 * row.diverged_fraction:g}% diverged", ha="center", va="center",
                fontsize=7, color="0.15", style="italic")


results, _, out = _figure.run("paper_b_stability.json", __file__, __doc__)
figure = Figure(figsize=(11.5, 4.8), dpi=100, layout="constrained")
FigureCanvasAgg(figure)
panels = figure.subplots(1, 2)
plot.stability_map(results, x=X, y=Y, value="quantile", statistic="rho_mean", ax=panels[0])
plot.stability_map(results, x=X, y=Y, value="q95", statistic="v_diag_mean", log=True,
                   ax=panels[1])
labels = [
    ("median token correlation ρ, over non-diverged samples", "median ρ (non-diverged samples)"),
    ("95% quantile of the token norm V_αα, over non-diverged samples",
     "95% quantile of V_αα (non-diverged samples)"),
]
for ax, (title, colour_label) in zip(panels, labels):
    ax.set_title(title, fontsize=10)
    ax.images[0].colorbar.set_label(colour_label)
    ax.set_xlabel("τ₀ (temperature factor, τ = τ₀·√(n·n_k))")
    ax.set_ylabel("γ (attention branch weight, λ² + γ² = 1)")
    mark_diverged(ax, results)
figure.suptitle("Paper B: shaped attention alone over (τ₀, γ) at the last layer, T = d/n = 2\n"
                "(m = 8, n = 32, d = 64, ρ₀ = 0.2; 100 samples, DENSE; diverged: largest V_αα "
                "past 1e12, left out of both statistics)", fontsize=10.5)
_figure.summary(results, "rho_mean", columns=("q50",))
_figure.summary(results, "v_diag_mean", columns=("q50", "q95"))
_figure.save(figure, out)
