#!/usr/bin/python3
"""Paper B: the shaped transformer's terminal correlation ρ₁₂ at T = d/n = 1 for widths
n = 64 … 1024 (method GRAM, exact in law at any width) against the neural covariance SDE
(method SDE, Δt = 1/1024). As n grows the finite-width histograms approach the SDE's.
"""

import _figure
from sigprop import plot

results, _, out = _figure.run("paper_b_sde_histograms.json", __file__, __doc__)
figure = plot.histograms(results, "rho12", by=["method", "model.width"])
figure.suptitle("Paper B: terminal ρ₁₂ at T = 1, finite width vs covariance SDE (m = 4, ρ₀ = 0.2)")
_figure.summary(results, "rho12", columns=("mean", "q05", "q50", "q95"))
_figure.save(figure, out)
