#!/usr/bin/python3
"""Paper A: gradient norms of the queries' and keys' weights versus the values' by depth, at width
1024 (method COLUMNS, the implicit-weight backward pass). Under rank collapse (standard post-LN
softmax attention) every token is the same, the attention is uniform whatever W_Q, W_K are, and
their gradients vanish — down to the floating-point rounding floor, where the plot greys the
layers out — while W_V's do not; the depth-scaled residual keeps all three of the same order.
"""

import _figure
from sigprop import plot

results, _, out = _figure.run("paper_a_gradients.json", __file__, __doc__)
figure = plot.gradient_norms(results, weights=("grad_wq", "grad_wk", "grad_wv", "grad_x"),
                             columns=2)
figure.suptitle("Paper A: ‖∂L/∂W‖ of queries, keys and values by layer (m = 8, n = 1024, d = 64)")
for weight in ("grad_wq", "grad_wk", "grad_wv", "grad_x", "grad_floor_fraction"):
    _figure.summary(results, weight, columns=("q50",) if weight != "grad_floor_fraction" else ("mean",))
first = results[(results.layer == 1) & results.statistic.isin(["grad_wq", "grad_wv"])]
print("layer 1 medians:")
print(first[["point", "model.preset", "statistic", "q50"]].to_string(index=False))
_figure.save(figure, out)
