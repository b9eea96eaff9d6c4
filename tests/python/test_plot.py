"""Every plot function writes a non-empty PNG of the expected size, axes, labels and legend."""

import matplotlib.image
import numpy as np
import pytest

from sigprop import plot

LEGENDS = ["standard (post-LN, λ = γ = 1), n = 16", "standard (post-LN, λ = γ = 1), n = 32",
           "shaped transformer, n = 16", "shaped transformer, n = 32"]


def written(figure, tmp_path, name):
    """Saves the figure; returns the PNG as an array after checking it is a real, varied image."""
    path = plot.save(figure, tmp_path / f"{name}.png", dpi=100)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    image = matplotlib.image.imread(path)
    width, height = figure.get_size_inches() * 100
    assert abs(image.shape[0] - height) <= 1 and abs(image.shape[1] - width) <= 1
    assert image[..., :3].std() > 0.05  # Not a blank canvas.
    return image


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_rho_bands(small_results, tmp_path):
    figure = plot.rho_bands(small_results)
    written(figure, tmp_path, "rho")
    (ax,) = figure.axes
    assert legend_texts(ax) == LEGENDS
    assert ax.get_xlabel() == "depth ℓ (layers)"
    assert "token correlation ρ" in ax.get_ylabel() and "unitless" in ax.get_ylabel()
    assert len(ax.lines) == 4 and len(ax.collections) == 8  # Median + two bands per point.
    assert "5–95%" in ax.get_title()


def test_rho_bands_by_one_field_in_layer_time(small_results, tmp_path):
    figure = plot.rho_bands(small_results, statistic="collapse", x="t", points=[2, 3],
                            by="model.width")
    written(figure, tmp_path, "collapse")
    (ax,) = figure.axes
    assert legend_texts(ax) == ["n = 16", "n = 32"]
    assert ax.get_xlabel().startswith("layer time t = ℓ/n")
    # Point 3 has n = 32, depth 8: its last x is 8/32.
    assert ax.lines[1].get_xdata().max() == pytest.approx(0.25)


def test_covariance_maps(small_sweep, tmp_path):
    covariances = small_sweep[0].covariances()
    figure = plot.covariance_maps(covariances, layers=[0, 4, 8], points=[0, 2])
    written(figure, tmp_path, "cov")
    maps = [ax for ax in figure.axes if ax.images]
    assert len(maps) == 6 and len(figure.axes) == 7  # 2 points × 3 layers + the colour bar.
    assert [ax.get_title() for ax in maps[:3]] == ["ℓ = 0", "ℓ = 4", "ℓ = 8"]
    assert maps[0].get_ylabel().startswith("standard (post-LN")
    assert maps[3].get_xlabel() == "token β"
    first = maps[0].images[0].get_array()
    assert first.shape == (4, 4) and first[0, 1] == pytest.approx(0.2)
    assert "correlation" in figure.axes[-1].get_ylabel()


def test_covariance_maps_of_raw_covariance(small_sweep, tmp_path):
    figure = plot.covariance_maps(small_sweep[0].covariances(), layers=[8], correlation=False)
    written(figure, tmp_path, "cov_raw")
    assert len([ax for ax in figure.axes if ax.images]) == 4
    assert "E V_αβ" in figure.axes[-1].get_ylabel()


def test_histograms(small_results, tmp_path):
    figure = plot.histograms(small_results, "rho_mean")
    written(figure, tmp_path, "hist")
    (ax,) = figure.axes
    assert [t.split(" (")[0] for t in legend_texts(ax)] == [t.split(" (")[0] for t in LEGENDS]
    assert ax.get_xlabel().endswith("at the last layer")
    assert ax.get_ylabel().startswith("probability density")
    # Each density integrates to the fraction of samples inside [lo, hi).
    for patch in ax.patches:
        data = patch.get_data()
        assert 0 < np.sum(data.values * np.diff(data.edges)) <= 1 + 1e-12


def test_histograms_need_a_histogram(small_results):
    with pytest.raises(ValueError, match="no histogram of 'collapse'"):
        plot.histograms(small_results, "collapse")


def test_gradient_norms(small_results, tmp_path):
    figure = plot.gradient_norms(small_results, columns=2)
    written(figure, tmp_path, "grad")
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 4
    assert [ax.get_title() for ax in panels] == LEGENDS
    for ax in panels:
        assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    assert legend_texts(panels[0])[:3] == ["‖∂L/∂W_Q‖_F", "‖∂L/∂W_K‖_F", "‖∂L/∂W_V‖_F"]
    assert panels[0].get_ylabel() == "gradient norm"


def test_gradient_norms_with_the_backward_signal(small_results, tmp_path):
    figure = plot.gradient_norms(small_results, weights=("grad_wq", "grad_x"), columns=2)
    written(figure, tmp_path, "grad_x")
    panels = [ax for ax in figure.axes if ax.get_visible()]
    for ax in panels:
        assert len(ax.lines) == 2
    assert legend_texts(panels[0])[:2] == ["‖∂L/∂W_Q‖_F", "‖∂L/∂X_ℓ‖_F/√n"]


def test_gradient_norms_grey_out_layers_at_the_rounding_floor(small_results, tmp_path):
    frame = small_results.copy()
    floor = frame["statistic"] == "grad_floor_fraction"
    assert floor.any(), "runs with gradients report grad_floor_fraction"
    frame.loc[floor, "mean"] = 0.0
    frame.loc[floor & (frame["point"] == 0) & frame["layer"].isin([3, 4]), "mean"] = 1.0
    figure = plot.gradient_norms(frame, columns=2)
    written(figure, tmp_path, "grad_floor")
    panels = [ax for ax in figure.axes if ax.get_visible()]
    spans = lambda ax: [p for p in ax.patches if p.get_facecolor()[:3] == (0.8, 0.8, 0.8)]
    assert len(spans(panels[0])) == 2
    assert all(len(spans(ax)) == 0 for ax in panels[1:])
    assert "rounding floor" in legend_texts(panels[0])[-1]


def test_stability_map_of_a_statistic(small_results, tmp_path):
    figure = plot.stability_map(small_results, x="model.width", y="model.preset", value="quantile")
    written(figure, tmp_path, "stability")
    ax = figure.axes[0]
    assert ax.get_xlabel() == "n (model.width)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "32"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["PAPER_A_STANDARD", "SHAPED_TRANSFORMER"]
    assert len(ax.texts) == 4
    grid = ax.images[0].get_array()
    terminal = small_results[(small_results.statistic == "rho_mean") & (small_results.layer == 8)]
    assert grid[0, 0] == pytest.approx(terminal[terminal.point == 0].q50.iloc[0])
    assert figure.axes[1].get_ylabel() == "50% quantile of ρ at the last layer"


def test_stability_map_on_a_log_scale(small_results, tmp_path):
    figure = plot.stability_map(small_results, x="model.width", y="model.preset", value="q95",
                                statistic="v_diag_mean", log=True)
    written(figure, tmp_path, "stability_log")
    assert figure.axes[0].images[0].norm.__class__.__name__ == "LogNorm"
    assert figure.axes[1].get_yscale() == "log"
    assert figure.axes[1].get_ylabel() == "95% quantile of V_αα (per feature) at the last layer"


def test_stability_map_of_the_diverged_fraction(small_results, tmp_path):
    figure = plot.stability_map(small_results, x="model.width", y="model.preset")
    written(figure, tmp_path, "diverged")
    assert figure.axes[1].get_ylabel() == "diverged fraction of samples at the last layer"
    assert figure.axes[0].images[0].get_clim() == (0.0, 1.0)


def test_save_writes_300_dpi_by_default(small_results, tmp_path):
    figure = plot.rho_bands(small_results)
    path = plot.save(figure, tmp_path / "print.png")
    image = matplotlib.image.imread(path)
    width, height = figure.get_size_inches() * 300
    assert abs(image.shape[0] - height) <= 1 and abs(image.shape[1] - width) <= 1
    assert figure.dpi == 100  # Drawn at 100; only the file has the print resolution.
