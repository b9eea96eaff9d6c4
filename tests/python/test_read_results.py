"""sigprop.read_results of the CLI's output files, --format jsonl and csv, is the DataFrame
Sweep.results() gives for the same spec on a real sigprop-server."""

import subprocess

import pandas as pd
import pytest
from google.protobuf import json_format

import sigprop
from conftest import WAIT_S

# Gradients leave some statistics out of some layers (no ‖∂L/∂W_Q‖ at layer 0): empty CSV cells.
# An enum axis, an integer axis, and every default quantile.
SPEC = sigprop.sweep(
    base=sigprop.presets.paper_a_standard(tokens=3, width=8, depth=3, samples=6, seed=5,
                                          method="DENSE", gradients=True),
    axes={"model.attention.kind": ["SOFTMAX", "UNIFORM"], "model.width": [8, 12]},
    name="read back")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """The CLI's `run --out` files of SPEC, JSON lines and CSV (its embedded server)."""
    directory = tmp_path_factory.mktemp("read_results")
    spec = directory / "spec.json"
    spec.write_text(json_format.MessageToJson(SPEC))
    cli = sigprop._locate.build_dir() / "client" / "sigprop"
    files = {}
    for form in ("jsonl", "csv"):
        files[form] = directory / f"out.{form}"
        subprocess.run([str(cli), "run", str(spec), "--quiet", "--format", form, "--out",
                        str(files[form])], check=True, timeout=WAIT_S)
    return files


@pytest.fixture(scope="module")
def from_server(client):
    return client.submit(SPEC).results(timeout=WAIT_S)


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_a_cli_output_file_reads_as_sweep_results(client, outputs, from_server, form):
    df = sigprop.read_results(outputs[form], plan=client.plan(SPEC))
    pd.testing.assert_frame_equal(df, from_server)
    assert df.attrs["swept"] == ["model.attention.kind", "model.width"]
    # What the CSV leaves empty is absent, not zero: no ‖∂L/∂W_Q‖ row at layer 0.
    assert not ((df.layer == 0) & (df.statistic == "grad_wq")).any()
    assert ((df.layer == 0) & (df.statistic == "grad_x")).any()


def test_csv_and_jsonl_agree_without_a_plan(outputs, from_server):
    from_csv = sigprop.read_results(outputs["csv"])
    pd.testing.assert_frame_equal(from_csv, sigprop.read_results(outputs["jsonl"]))
    assert from_csv.attrs["swept"] == []
    expected = from_server.drop(columns=["model.attention.kind", "model.width"])
    pd.testing.assert_frame_equal(from_csv, expected)


def test_a_csv_read_with_another_sweeps_plan_is_refused(client, outputs):
    other = sigprop.sweep(base=SPEC.base, axes={"model.width": [8, 12, 16, 20]})
    with pytest.raises(ValueError, match=r"out\.csv:2: point 0 is "
                                         r"'model\.attention\.kind=SOFTMAX, model\.width=8' in the "
                                         r"file but 'model\.width=8' in the plan"):
        sigprop.read_results(outputs["csv"], plan=client.plan(other))


def test_malformed_files_name_the_line(tmp_path, outputs):
    lines = outputs["csv"].read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join([lines[0], lines[1], lines[2].rsplit(",", 1)[0]]) + "\n")
    with pytest.raises(ValueError, match=r"cut\.csv:3: .* cells, the header has"):
        sigprop.read_results(cut)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace(",DENSE,", ",DENS,")]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv:2: .*DENS"):
        sigprop.read_results(bad)
    table = tmp_path / "table.txt"
    table.write_text("point 0  (method DENSE, 6 samples)\n")
    with pytest.raises(ValueError, match=r"table\.txt:1: not a LayerStats line.*jsonl or csv"):
        sigprop.read_results(table)
