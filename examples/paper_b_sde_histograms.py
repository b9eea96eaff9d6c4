#!/usr/bin/python3
"""Paper B: the shaped transformer's terminal correlation ρ₁₂ at T = d/n = 1 for widths
n = 64 … 1024 (method GRAM, exact in law at any width) against the neural covariance SDE
(method SDE, Δt = 1/1024). As n grows the finite-width histograms approach the SDE's.

Most of the mass sits in the last bin, ρ₁₂ ∈ [0.95, 1), whose density is ten times the rest's:
the left panel draws the densities on a logarithmic axis so that the body and the spike both
show, the right panel the cumulative distributions (what the KS distance compares), with each
width's largest gap to the SDE's at the bin edges beside the gap that two samples of the same law
exceed with probability 5% (the KS test's 1.358·sqrt(1/a + 1/b)): at 1000 samples every width is
within it, so the figure shows agreement, not yet the rate of approach (docs/SDE.md measures that
with more samples). Both panels are over the samples that did not diverge; the left legend gives
the diverged fraction.
"""

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import _figure
from sigprop import plot


def label(row):
    return f"SDE (n = {row['model.width']} grid)" if row["method"] == "SDE" else \
        f"GRAM, n = {row['model.width']}"


def style(row, index, count):
    """GRAM widths from light to dark, the SDE black and dashed."""
    if row["method"] == "SDE":
        return dict(color="black", linestyle="--", linewidth=1.8)
    return dict(color=colormaps["viridis"](0.9 - 0.8 * index / max(count - 2, 1)), linewidth=1.5)


def cdf(row):
    """Edges and the cumulative distribution at them, over the non-diverged samples (drawn joined
    by straight lines: the binned law, uniform within each bin)."""
    counts = np.asarray(row["hist_counts"], dtype=float)
    edges = np.linspace(row["hist_lo"], row["hist_hi"], counts.size + 1)
    total = counts.sum() + row["hist_underflow"] + row["hist_overflow"]
    return edges, (row["hist_underflow"] + np.concatenate([[0.0], np.cumsum(counts)])) / total


results, _, out = _figure.run("paper_b_sde_histograms.json", __file__, __doc__)
rows = results[results.statistic == "rho12"]
rows = rows[rows.layer == rows.groupby("point").layer.transform("max")].sort_values("point")

figure = Figure(figsize=(11.5, 4.4), dpi=100, layout="constrained")
FigureCanvasAgg(figure)
left, right = figure.subplots(1, 2)

plot.histograms(results, "rho12", by=["method", "model.width"], ax=left)
for index, ((_, row), patch) in enumerate(zip(rows.iterrows(), left.patches)):
    patch.set(**style(row, index, len(rows)))
left.set_yscale("log")
left.set_ylabel("probability density over non-diverged samples (log)")
left.set_xlabel("terminal correlation ρ₁₂ of tokens 1, 2 at t = T = 1")
left.set_title("density, logarithmic axis (bins of width 0.05)", fontsize=9)
left.set_ylim(0.05, 15)
left.legend(fontsize=7.5, loc="upper left")

sde = rows[rows.method == "SDE"].iloc[0]
_, sde_cdf = cdf(sde)
gaps = {}
for index, (_, row) in enumerate(rows.iterrows()):
    edges, values = cdf(row)
    text = label(row)
    if row["method"] != "SDE":
        gap = float(np.max(np.abs(values - sde_cdf)))
        noise = 1.358 * np.sqrt(1 / row["count"] + 1 / sde["count"])
        gaps[row["model.width"]] = (round(gap, 4), round(noise, 4))
        text += f": gap {gap:.3f}, 5% noise level {noise:.3f}"
    right.plot(edges, values, label=text, **style(row, index, len(rows)))
right.set_xlabel("terminal correlation ρ₁₂ of tokens 1, 2 at t = T = 1")
right.set_ylabel("P(ρ₁₂ ≤ x) over non-diverged samples")
right.set_title("cumulative distribution; gap: largest |F_n − F_SDE| at the bin edges",
                fontsize=9)
right.set_xlim(-1, 1)
right.set_ylim(0, 1)
right.grid(alpha=0.3)
right.legend(fontsize=7.5, loc="upper left")

figure.suptitle("Paper B: terminal ρ₁₂ of the shaped transformer at T = d/n = 1, finite width "
                "(GRAM, 1000 samples) vs covariance SDE (1000 paths); m = 4, ρ₀ = 0.2",
                fontsize=10)
_figure.summary(results, "rho12", columns=("mean", "q05", "q50", "q95"))
print("largest |F_n − F_SDE| at the bin edges, and its 5% noise level:", gaps)
_figure.save(figure, out)
