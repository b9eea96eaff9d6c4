"""Notebook habits against a real sigprop-server: progress bars (tqdm), plot.live redrawing as
layer statistics stream in (headless with Agg, and through IPython.display in Jupyter), results
as an xarray.Dataset; and clear errors where tqdm or xarray is not installed."""

import sys

import numpy as np
import pandas as pd
import pytest
import xarray
from matplotlib.backends.backend_agg import FigureCanvasAgg

import sigprop
from conftest import WAIT_S

# Three points, one of them LIMIT (one sample, no progress events); DENSE reports its samples.
METHODS = sigprop.sweep(
    base=sigprop.presets.shaped_transformer(tokens=4, width=16, depth=4, samples=40, seed=5),
    axes={"method": ["DENSE", "LIMIT", "DENSE"], "seed": [5, 5, 6]}, combine="ZIP",
    name="methods")

# Provisional rows over the first 10, 20, 30 samples, then the final ones: four sets a point.
PROVISIONAL = sigprop.sweep(
    base=sigprop.presets.paper_a_standard(tokens=4, width=8, depth=6, samples=40, seed=3,
                                          method="DENSE", provisional_every=10,
                                          overrides={"model.initial.rho0": 0.2}),
    axes={"model.width": [8, 16]}, name="provisional")


def test_watch_with_progress_counts_points_and_their_samples(client, capsys):
    sweep = client.submit(METHODS)
    stream = sweep.watch(timeout=WAIT_S, progress=True)
    seen = []
    for event in stream:
        seen.append((event.WhichOneof("kind"), stream.progress.bar.n, stream.progress.finished))
        if event.HasField("progress"):  # The postfix says which point and its samples.
            done = event.progress.samples_done
            assert stream.progress.bar.postfix == f"point {event.point}: {done}/40 samples"
            # This point counts its fraction of samples done (others running add theirs).
            assert stream.progress.bar.n >= stream.progress.finished + done / 40 - 1e-12
    bar = stream.progress
    assert bar.points == 3 and bar.finished == 3
    assert bar.bar.n == pytest.approx(3) and bar.bar.disable  # closed
    counts = [n for _, n, _ in seen]
    assert counts == sorted(counts)  # never backwards
    # Within a DENSE point the bar moves by samples: fractions of a point before it finishes.
    assert any(0 < n % 1 for kind, n, _ in seen if kind == "progress")
    # Each finished point counts one whole point (points run side by side: running ones add
    # their fractions on top).
    finishes = [(n, finished) for kind, n, finished in seen if kind == "point_finished"]
    assert [finished for _, finished in finishes] == [1, 2, 3]
    assert all(finished <= n < finished + 2 for n, finished in finishes)
    err = capsys.readouterr().err
    assert "methods: 100%" in err and "3.0/3 points" in err and "SUCCEEDED" in err


def test_results_and_wait_with_progress(client, capsys):
    sweep = client.submit(METHODS)
    df = sweep.results(timeout=WAIT_S, progress=True)
    assert len(df) > 0 and df.attrs["swept"] == ["method", "seed"]
    assert "3.0/3 points" in capsys.readouterr().err
    # A finished sweep has nothing to wait for: no bar.
    pd.testing.assert_frame_equal(sweep.results(progress=True), df)
    assert capsys.readouterr().err == ""


def test_waiting_with_progress_counts_the_points_done_before(client, capsys):
    # The first point is quick, the other two take a second or more each.
    sweep = client.submit(sigprop.sweep(
        base=sigprop.presets.paper_a_standard(tokens=8, width=64, depth=32, method="DENSE"),
        axes={"samples": [2, 300, 300], "seed": [1, 2, 3]}, combine="ZIP"))
    for event in sweep.watch(timeout=WAIT_S):
        if event.HasField("point_finished"):
            break
    assert sweep.state() == "RUNNING"
    sweep.wait(WAIT_S, progress=True)
    assert "3.0/3 points" in capsys.readouterr().err


def test_progress_without_tqdm_names_the_package(small_sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    sweep = small_sweep[0]
    with pytest.raises(ImportError, match=r"progress=True .*tqdm.*python3-tqdm"):
        sweep.watch(progress=True)
    assert len(list(sweep.watch())) == len(small_sweep[1])  # Without progress, no tqdm needed.


def test_live_redraws_as_layers_stream_in(client):
    sweep = client.submit(PROVISIONAL)
    frames = []

    def record(figure):
        (ax,) = figure.axes
        assert isinstance(figure.canvas, FigureCanvasAgg)
        frames.append((figure._suptitle.get_text(), [line.get_ydata().copy() for line in ax.lines]))

    figure = sigprop.plot.live(sweep, interval=0, timeout=WAIT_S, on_redraw=record)
    # Each provisional set and each point's final rows: more than one picture.
    assert len(frames) >= 4
    assert frames[0][0] == "provisional: 0/2 points finished"
    assert frames[-1][0] == "provisional: 2/2 points finished"
    (ax,) = figure.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n = 8", "n = 16"]
    # The last picture is the final results' medians, not a provisional set's.
    final = sweep.results()
    rho = final[final.statistic == "rho_mean"]
    for point, line in enumerate(ax.lines):
        medians = rho[rho.point == point].sort_values("layer")["q50"].to_numpy()
        np.testing.assert_array_equal(line.get_ydata(), medians)
    # The pictures before are provisional ones (medians over the first 10, 20, 30 samples):
    # some line in them is not yet the final one.
    final_lines = [line.get_ydata() for line in ax.lines]
    assert any(not any(np.array_equal(line, end) for end in final_lines)
               for _, lines in frames[:-1] for line in lines)


def test_live_of_a_finished_sweep_draws_once_and_wrong_statistics_raise(small_sweep):
    sweep = small_sweep[0]
    redraws = []
    figure = sigprop.plot.live(sweep, statistic="collapse", interval=3600,
                               on_redraw=redraws.append)
    # Replayed within the interval: the first batch of rows, then only the end's redraw.
    assert redraws == [figure, figure]
    assert len(figure.axes[0].lines) == 4
    with pytest.raises(ValueError, match="statistic 'rho_meen' is not in the results"):
        sigprop.plot.live(sweep, statistic="rho_meen")


def test_live_in_jupyter_updates_one_display(small_sweep, monkeypatch):
    shown = []

    class Handle:
        def update(self, image):
            shown.append(("update", image))

    def display(image, display_id):
        assert display_id is True
        shown.append(("display", image))
        return Handle()

    monkeypatch.setattr(sigprop.plot, "_notebook_display", lambda: display)
    sigprop.plot.live(small_sweep[0], interval=0)
    assert [what for what, _ in shown] == ["display"] + ["update"] * (len(shown) - 1)
    assert len(shown) >= 2
    assert all(image.data[:8] == b"\x89PNG\r\n\x1a\n" for _, image in shown)


def test_outside_jupyter_nothing_is_displayed():
    assert sigprop.plot._notebook_display() is None


def test_to_xarray_has_a_dim_per_swept_field(small_sweep, small_results):
    df = small_results
    ds = small_sweep[0].results(as_xarray=True)
    xarray.testing.assert_identical(ds, sigprop.frame.to_xarray(df))
    assert ds["mean"].dims == ("model.preset", "model.width", "layer", "statistic")
    assert ds["t"].dims == ("model.preset", "model.width", "layer")
    assert list(ds["model.preset"].values) == ["PAPER_A_STANDARD", "SHAPED_TRANSFORMER"]
    assert list(ds["model.width"].values) == [16, 32] and list(ds.layer.values) == list(range(9))
    assert ds.attrs["swept"] == ["model.preset", "model.width"]
    # Every number is the frame's.
    for _, row in df.iterrows():
        at = ds.sel({"model.preset": row["model.preset"], "model.width": row["model.width"],
                     "layer": row["layer"]})
        for column in ("mean", "stderr", "q05", "q50", "q95", "count"):
            assert at[column].sel(statistic=row["statistic"]).item() == row[column], column
        assert at["t"].item() == row["t"] and at["method"].item() == row["method"]
    # Layer 0 has no gradient statistics: NaN there, not a made-up number.
    assert np.isnan(ds["mean"].sel(layer=0, statistic="grad_wq")).all()


def test_to_xarray_of_a_zip_sweep_keeps_points(client):
    df = client.submit(METHODS).results(timeout=WAIT_S)
    ds = sigprop.frame.to_xarray(df)
    assert ds["mean"].dims == ("point", "layer", "statistic")
    assert list(ds["method"].values) == ["DENSE", "LIMIT", "DENSE"]
    assert list(ds["seed"].values) == [5, 5, 6] and ds["seed"].dims == ("point",)
    assert ds["samples"].dims == ("point", "layer")
    assert ds["mean"].sel(point=1, layer=4, statistic="rho_mean").item() == \
        df[(df.point == 1) & (df.layer == 4) & (df.statistic == "rho_mean")]["mean"].item()
    # Points 0 and 1 are every combination of their swept values: a grid, method a dim.
    grid = sigprop.frame.to_xarray(df[df.point < 2])
    assert grid["mean"].dims == ("method", "seed", "layer", "statistic")
    assert grid["samples"].dims == ("method", "seed", "layer")
    assert list(grid["method"].values) == ["DENSE", "LIMIT"]
    one = df[df.point == 1].assign(point=0)
    one.attrs["swept"] = []
    assert sigprop.frame.to_xarray(one)["mean"].dims == ("layer", "statistic")


def test_xarray_without_xarray_names_the_package(small_sweep, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"xarray.*python3-xarray"):
        small_sweep[0].results(as_xarray=True)
    assert len(small_sweep[0].results()) > 0  # The DataFrame needs no xarray.
