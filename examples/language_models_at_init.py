#!/usr/bin/python3
"""Today's language models at initialisation, each imported from its own config.json at its real
width and depth (tests/fixtures/hf_configs/, `sigprop import`): the mean token correlation ρ̄ and
paper A's collapse measure per layer, and the first layer's ‖∂L/∂W_Q‖ / ‖∂L/∂W_V‖, for GPT-2,
Pythia-1B, LLaMA-2-7B, Qwen2.5-7B and Gemma 2 9B (m = 8 distinct tokens, 64 samples each,
COLUMNS with gradients: the implicit-weight passes, exact at any width).
"""

import matplotlib.pyplot as plt

import _figure
import sigprop

CONFIGS = _figure.ROOT / "tests" / "fixtures" / "hf_configs"
MODELS = {
    "GPT-2 (n 768, 12 layers)": "gpt2.json",
    "Pythia-1B (n 2048, 16)": "gpt_neox.json",
    "LLaMA-2-7B (n 4096, 32)": "llama.json",
    "Qwen2.5-7B (n 3584, 28)": "qwen2.json",
    "Gemma 2 9B (n 3584, 42)": "gemma2.json",
}


def specs():
    out = {}
    for label, config in MODELS.items():
        spec = sigprop.presets.from_config(CONFIGS / config, tokens=8, samples=64)
        spec.base.gradients = True
        spec.base.seed = 21
        out[label] = spec
    return out


results, out = _figure.run_many(specs, __file__, __doc__)
figure, axes = plt.subplots(1, 3, figsize=(14, 4))
print(f"{'model':<28} {'rho_mean':>9} {'collapse':>9} {'(last layer)':>13} {'grad_wq/wv at 1':>16}")
ratios = {}
for label, frame in results.items():
    rho = frame[frame.statistic == "rho_mean"].sort_values("layer")
    collapse = frame[frame.statistic == "collapse"].sort_values("layer")
    depth = rho.layer.max()
    axes[0].plot(rho.layer / depth, rho["mean"], label=label)
    axes[1].plot(collapse.layer / depth, collapse["mean"], label=label)
    first = frame[frame.layer == 1].set_index("statistic")
    ratios[label] = first.loc["grad_wq", "q50"] / first.loc["grad_wv", "q50"]
    print(f"{label:<28} {rho['mean'].iloc[-1]:9.4f} {collapse['mean'].iloc[-1]:9.4f} "
          f"{'':>13} {ratios[label]:16.3g}")
axes[0].set_ylabel("mean token correlation ρ̄")
axes[1].set_ylabel("collapse ‖X − 1x̄ᵀ‖_F / ‖X‖_F")
for ax in axes[:2]:
    ax.set_xlabel("layer / depth")
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
axes[2].barh(list(ratios), list(ratios.values()))
axes[2].set_xscale("log")
axes[2].set_xlabel("median ‖∂L/∂W_Q‖ / median ‖∂L/∂W_V‖ at layer 1")
axes[2].tick_params(axis="y", labelsize=8)
axes[2].grid(alpha=0.3, axis="x")
figure.suptitle("Language models at initialisation from their config.json "
                "(m = 8, 64 samples, real width and depth)")
figure.tight_layout()
_figure.save(figure, out)
