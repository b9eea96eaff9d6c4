#!/usr/bin/python3
"""The question after paper A's: at the first layer, how small is ‖∂L/∂W_Q‖ next to ‖∂L/∂W_V‖, and
does it depend on the width or only on the depth? Median ratio of the two norms at layer 1 (over
96 samples) versus width 64 … 4096 for depths 8 … 64: post-LN softmax attention with λ = γ = 1
against the depth-scaled residual γ = 1/√d (method COLUMNS, gradients by implicit weights).
"""

import matplotlib.pyplot as plt
import numpy as np

import _figure
from sigprop import plot

results, _, out = _figure.run("gradient_ratio_vs_width.json", __file__, __doc__)
first = results[results.layer == 1]
wq = first[first.statistic == "grad_wq"].set_index("point")
wv = first[first.statistic == "grad_wv"].set_index("point")
ratio = (wq["q50"] / wv["q50"]).rename("ratio")
table = wq[["model.preset", "model.depth", "model.width"]].join(ratio)
figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (preset, title) in zip(axes, [("PAPER_A_STANDARD", "λ = γ = 1 (post-LN)"),
                                       ("PAPER_A_SCALED", "γ = 1/√d (post-LN)")]):
    rows = table[table["model.preset"] == preset]
    for depth, group in rows.groupby("model.depth"):
        group = group.sort_values("model.width")
        ax.plot(group["model.width"], group["ratio"], marker="o", label=f"depth {depth}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("width n")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
axes[0].set_ylabel("median ‖∂L/∂W_Q‖ / median ‖∂L/∂W_V‖ at layer 1")
figure.suptitle("Queries' gradient relative to values' at the first layer (m = 8, 96 samples)")
print("median ratio at layer 1:")
print(table.pivot_table(index=["model.preset", "model.depth"], columns="model.width",
                        values="ratio").to_string(float_format=lambda v: f"{v:.3g}"))
_figure.save(figure, out)
