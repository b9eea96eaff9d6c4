#!/usr/bin/python3
"""Paper B: stability of shaped attention over its residual weight γ (λ² + γ² = 1) and its
temperature factor τ0, at depth-to-width ratio T = d/n = 2. The attention drift grows as γ²/τ0²:
small τ0 and large γ push the token correlations towards 1 (and the covariance SDE's cubic drift
towards explosion); large τ0 and small γ keep them near ρ0.
"""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import _figure
from sigprop import plot

results, _, out = _figure.run("paper_b_stability.json", __file__, __doc__)
figure = Figure(figsize=(11.5, 4.6), dpi=100, layout="constrained")
FigureCanvasAgg(figure)
left, right = figure.subplots(1, 2)
axes = dict(x="model.attention.tau0", y="model.attention.branch_scale")
plot.stability_map(results, **axes, value="quantile", statistic="rho_mean", ax=left)
plot.stability_map(results, **axes, value="q95", statistic="v_diag_mean", log=True, ax=right)
figure.suptitle("Paper B: shaped attention over (τ₀, γ) at T = d/n = 2 (m = 8, n = 32, d = 64, ρ₀ = 0.2)")
_figure.summary(results, "rho_mean", columns=("q50",))
_figure.summary(results, "v_diag_mean", columns=("q50", "q95"))
_figure.save(figure, out)
