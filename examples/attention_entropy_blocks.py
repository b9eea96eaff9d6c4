#!/usr/bin/python3
"""Attention entropy versus depth for the post-LN block, the pre-LN block and the parallel
(GPT-J/PaLM) pre-LN block: softmax attention and a ReLU MLP with λ = γ = 1 (m = 8, n = 128,
depth 64; method COLUMNS, 100 samples). Entropy collapse (arXiv 2303.06296) is this number
going to 0; uniform attention has entropy log m = 2.08.
"""

import math

import _figure
from sigprop import plot

results, _, out = _figure.run("attention_entropy_blocks.json", __file__, __doc__)
figure = plot.rho_bands(results, statistic="attention_entropy", by=["model.norm", "model.parallel"],
                        bands=(("q25", "q75"),))
figure.axes[0].axhline(math.log(8), color="0.5", linestyle="--", linewidth=1)
figure.suptitle("Attention entropy versus depth (softmax, λ = γ = 1; dashed: log m)")
_figure.summary(results, "attention_entropy", columns=("q50", "q05", "q95"))
_figure.summary(results, "rho_mean", columns=("q50",))
_figure.save(figure, out)
