#!/usr/bin/python3
"""Rank collapse versus depth for the attention functions of the later literature: softmax,
sigmoid (bias −log m) and ReLU (divided by m) attention, each with and without QK-norm (RMS), in
paper A's post-LN block with λ = γ = 1 (m = 8, n = 128, depth 64; method COLUMNS, 100 samples).
"""

import matplotlib.pyplot as plt

import _figure
from sigprop import plot

results, _, out = _figure.run("attention_kinds_rank_collapse.json", __file__, __doc__)
figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
for ax, norm in zip(axes, ["NONE", "RMS"]):
    points = sorted(results[results["model.attention.qk_norm"] == norm]["point"].unique())
    plot.rho_bands(results, points=points, by=["model.attention.kind"], ax=ax,
                   bands=(("q25", "q75"),))
    ax.set_title(f"QK-norm {norm}: median and 25–75% band", fontsize=10)
figure.suptitle("Token correlation versus depth by attention function (post-LN, λ = γ = 1)")
_figure.summary(results, "rho_mean", columns=("q50", "q05", "q95"))
_figure.summary(results, "attention_entropy", columns=("q50",))
_figure.save(figure, out)
