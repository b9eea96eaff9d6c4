#!/usr/bin/python3
"""Paper B: the standard transformer against the shaped transformer, token correlation versus
depth measured in layer time t = ℓ/n. The standard one collapses within a few layers whatever the
width; the shaped one (A = I + softmax(QKᵀ/τ) − 11ᵀ/m, τ = τ0·√(n·n_k), shaped ReLU, γ² = ½)
moves ρ slowly, on the scale t = ℓ/n, so widths 32 and 64 lie on one curve in t.
"""

import _figure
from sigprop import plot

results, _, out = _figure.run("paper_b_shaped_vs_standard.json", __file__, __doc__)
figure = plot.rho_bands(results, x="t", bands=(("q25", "q75"),))
figure.suptitle("Paper B: standard vs shaped transformer (m = 8, d = 64, ρ₀ = 0.2)")
_figure.summary(results, "rho_mean")
at_one = results[(results.statistic == "rho_mean") & (results.t == 1.0)]
print("rho_mean at t = 1:")
print(at_one[["point", "model.preset", "model.width", "layer", "q50"]].to_string(index=False))
_figure.save(figure, out)
