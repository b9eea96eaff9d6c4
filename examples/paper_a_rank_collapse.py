#!/usr/bin/python3
"""Paper A: token correlation versus depth for softmax attention, with and without the
depth-scaled residual (γ = 1/√d). Post-LN softmax attention with λ = γ = 1 drives every pair of
tokens to correlation 1 (rank collapse); scaling the residual branches by 1/√d keeps ρ near ρ0.
"""

import _figure
from sigprop import plot

results, _, out = _figure.run("paper_a_rank_collapse.json", __file__, __doc__)
figure = plot.rho_bands(results)
figure.suptitle("Paper A: rank collapse of softmax attention (m = 8, n = 64, ρ₀ = 0.2)")
_figure.summary(results, "rho_mean")
_figure.save(figure, out)
