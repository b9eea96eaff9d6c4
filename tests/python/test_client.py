"""The Python client against a real sigprop-server: submit, watch, results, reattach, errors."""

import collections
import json
import os
import subprocess
import threading
import time

import numpy as np
import pandas as pd
import pytest

import sigprop
from conftest import ROOT, SMALL_SPEC, WAIT_S

# Slow enough that a restart lands mid-sweep: each point takes seconds on two cores.
SLOW_SPEC = {
    "name": "slow",
    "base": {
        "model": {"tokens": 8, "width": 64, "depth": 64, "preset": "PAPER_A_STANDARD"},
        "method": "DENSE",
        "samples": 200,
        "seed": "11",
    },
    "axes": [{"field": "seed", "values": [1, 2, 3, 4, 5]}],
}


def field_value(message, path):
    """The value at a dotted field path of a message; enums by name, like the axis values."""
    *parents, last = path.split(".")
    for name in parents:
        message = getattr(message, name)
    value = getattr(message, last)
    field = message.DESCRIPTOR.fields_by_name[last]
    if field.enum_type is not None:
        return field.enum_type.values_by_number[value].name
    return value


def kinds(events):
    return collections.Counter(e.WhichOneof("kind") for e in events)


def test_watch_delivers_every_event_once_in_order(small_sweep):
    sweep, events = small_sweep
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert all(e.sweep_id == sweep.id for e in events)
    assert events[-1].HasField("sweep_finished")
    assert events[-1].sweep_finished.state == events[-1].sweep_finished.SUCCEEDED
    counts = kinds(events)
    assert counts["point_started"] == 4 and counts["point_finished"] == 4
    assert counts["layer"] == 4 * 9  # depth 8: layers 0 … 8 for each point.
    for event in events:
        if event.HasField("point_finished"):
            assert event.point_finished.layers == 9
    assert sweep.state() == "SUCCEEDED"


def test_point_values_match_the_servers_expansion(small_sweep):
    sweep, events = small_sweep
    values = sweep.point_values()
    assert values == [
        {"model.preset": "PAPER_A_STANDARD", "model.width": 16},
        {"model.preset": "PAPER_A_STANDARD", "model.width": 32},
        {"model.preset": "SHAPED_TRANSFORMER", "model.width": 16},
        {"model.preset": "SHAPED_TRANSFORMER", "model.width": 32},
    ]
    for event in events:
        if event.HasField("point_started"):
            for field, value in values[event.point].items():
                assert field_value(event.point_started.spec, field) == value


def test_zip_sweep_points_match_the_server(client):
    spec = {
        "base": {"model": {"tokens": 4, "width": 8, "depth": 2}, "method": "DENSE", "samples": 2},
        "axes": [{"field": "model.attention.tau0", "values": [0.5, 1, 2.5]},
                 {"field": "model.width", "values": [8, 12, 16]}],
        "combine": "ZIP",
    }
    sweep = client.submit(spec)
    started = {e.point: e.point_started.spec
               for e in sweep.watch(timeout=WAIT_S) if e.HasField("point_started")}
    values = sweep.point_values()
    assert values == [{"model.attention.tau0": 0.5, "model.width": 8},
                      {"model.attention.tau0": 1, "model.width": 12},
                      {"model.attention.tau0": 2.5, "model.width": 16}]
    for point, spec in started.items():
        for field, value in values[point].items():
            assert field_value(spec, field) == value


def test_results_frame_has_a_row_per_point_layer_and_statistic(small_sweep, small_results):
    _, events = small_sweep
    df = small_results
    layers = [e.layer for e in events if e.HasField("layer")]
    assert len(df) == sum(len(layer.stats) for layer in layers)
    assert df.attrs["swept"] == ["model.preset", "model.width"]
    assert list(df.columns[:5]) == ["point", "model.preset", "model.width", "layer", "t"]
    for column in ("statistic", "mean", "stderr", "q05", "q25", "q50", "q75", "q95", "count",
                   "samples", "diverged_fraction", "method", "hist_counts"):
        assert column in df.columns
    assert not df.duplicated(["point", "layer", "statistic"]).any()
    # Every number in the frame is the one the stream delivered.
    for layer in layers:
        for name, summary in layer.stats.items():
            row = df[(df.point == layer.point) & (df.layer == layer.layer) & (df.statistic == name)]
            assert len(row) == 1
            row = row.iloc[0]
            assert row["mean"] == summary.mean and row["stderr"] == summary.stderr
            assert row["q50"] == summary.quantiles["q50"]
            assert row["model.width"] == [16, 32][layer.point % 2]
            assert row["method"] == "DENSE"
    rho = df[(df.statistic == "rho_mean") & (df.layer == 0)]
    assert rho["mean"].tolist() == pytest.approx([0.2] * 4)
    grads = df[df.statistic.str.startswith("grad_w")]
    assert set(grads.statistic) >= {"grad_wq", "grad_wk", "grad_wv"}
    hist = df[(df.statistic == "rho_mean") & (df.layer == 8)].iloc[0]
    assert len(hist["hist_counts"]) == 20
    assert hist["hist_counts"].sum() + hist["hist_underflow"] + hist["hist_overflow"] == hist["count"]


def test_covariances_are_m_by_m_per_point_and_layer(small_sweep):
    cov = small_sweep[0].covariances()
    assert len(cov) == 4 * 9
    assert all(v.shape == (4, 4) for v in cov.covariance)
    first = cov[(cov.point == 0) & (cov.layer == 0)].iloc[0].covariance
    # Layer 0 is the input: unit diagonal, ρ0 = 0.2 off it, exactly (SPEC §1).
    assert first == pytest.approx(0.8 * np.eye(4) + 0.2)


def test_specs_from_the_example_files_and_dicts_agree():
    path = ROOT / "examples" / "demo.json"
    from_file = sigprop.load_spec(path)
    from_dict = sigprop.sweep_spec(json.loads(path.read_text()))
    assert from_file == from_dict
    assert from_file.base.model.width == 64 and from_file.base.seed == 2026
    run = sigprop.sweep_spec({"model": {"tokens": 4, "width": 8, "depth": 2}, "samples": 3})
    assert run.base.samples == 3 and len(run.axes) == 0


def test_local_spec_errors_name_the_place(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"base": {"samples": 3,}}')
    with pytest.raises(sigprop.InvalidSpecError, match=r"broken\.json:1:"):
        sigprop.load_spec(broken)
    with pytest.raises(sigprop.InvalidSpecError, match="nosuchfield"):
        sigprop.sweep_spec({"base": {"nosuchfield": 1}})
    with pytest.raises(sigprop.InvalidSpecError, match="expected a dict"):
        sigprop.sweep_spec(42)
    # A misspelt enum value lists the valid names.
    with pytest.raises(sigprop.InvalidSpecError, match=r"SIGMOIDX.*one of .*\|SIGMOID\|RELU"):
        sigprop.sweep_spec({"base": {"model": {"attention": {"kind": "SIGMOIDX"}}}})


def test_server_refusal_names_the_field(client):
    spec = {"base": {"model": {"tokens": 4, "width": 8, "depth": 2, "attention": {"tau0": -1}},
                     "samples": 2}}
    with pytest.raises(sigprop.InvalidSpecError, match=r"tau0.*INVALID_ARGUMENT") as error:
        client.submit(spec)
    assert error.value.code.name == "INVALID_ARGUMENT"


def test_unknown_sweep_raises_not_found(client):
    with pytest.raises(sigprop.NotFoundError, match="NOT_FOUND"):
        client.sweep("sw-0000")


def test_cancel_ends_the_sweep_cancelled(client):
    sweep = client.submit(SLOW_SPEC)
    stream = sweep.watch(timeout=WAIT_S)
    for event in stream:
        if event.HasField("point_started"):
            sweep.cancel()
            break
    rest = list(stream)
    assert stream.finished.state == stream.finished.CANCELLED
    assert rest[-1].HasField("sweep_finished")
    assert sweep.state() == "CANCELLED"
    assert client.sweep(sweep.id).state() == "CANCELLED"
    assert sweep.id in [s.sweep_id for s in client.list()]


def test_wait_with_a_timeout_raises_and_the_sweep_goes_on(client):
    sweep = client.submit(SLOW_SPEC)
    with pytest.raises(sigprop.SweepTimeoutError, match=r"did not end within 0\.5 s"):
        sweep.wait(timeout=0.5)
    assert sweep.state() in ("QUEUED", "RUNNING")
    sweep.cancel()
    assert sweep.wait(WAIT_S) == "CANCELLED"


def test_watch_reattaches_after_the_server_restarts(tmp_path):
    with sigprop.LocalServer(threads=2) as server, sigprop.Client(server.target) as client:
        sweep = client.submit(SLOW_SPEC)
        stream = sweep.watch(timeout=WAIT_S)
        events = []
        restarted = False
        for event in stream:
            events.append(event)
            if not restarted and event.HasField("point_finished"):
                assert sweep.state() == "RUNNING"  # The restart cuts the sweep mid-way.
                old_pid = server.pid
                server.restart()
                assert server.pid != old_pid
                restarted = True
        assert restarted
        assert stream.reattachments >= 1
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1].sweep_finished.state == events[-1].sweep_finished.SUCCEEDED
        counts = kinds(events)
        assert counts["point_finished"] == 5
        # Points cut by the restart started again: more starts than points, one finish each.
        assert counts["point_started"] > 5
        layers = [(e.point, e.layer.layer) for e in events if e.HasField("layer")]
        assert sorted(layers) == [(p, l) for p in range(5) for l in range(65)]
        df = sweep.results(timeout=WAIT_S)
        assert len(df[df.statistic == "rho_mean"]) == 5 * 65


def test_auth_failure_raises_a_clear_exception():
    with sigprop.LocalServer(threads=1, auth=True) as server:
        with sigprop.Client(server.target) as anonymous:
            with pytest.raises(sigprop.AuthenticationError, match=r"UNAUTHENTICATED.*token=") as error:
                anonymous.submit(SMALL_SPEC)
            assert "missing 'authorization: Bearer <token>'" in str(error.value)
        with sigprop.Client(server.target, token="x" * 32) as wrong:
            with pytest.raises(sigprop.AuthenticationError, match="unknown token"):
                wrong.list()
            with pytest.raises(sigprop.AuthenticationError):
                list(wrong.watch("sw-0000"))
        with sigprop.Client(server.target, token=server.token) as right:
            sweep = right.submit({"model": {"tokens": 4, "width": 8, "depth": 2}, "samples": 2,
                                  "method": "DENSE"})
            assert sweep.wait(WAIT_S) == "SUCCEEDED"
            assert [s.sweep_id for s in right.list()] == [sweep.id]


def test_embedded_server_starts_and_stops_with_the_client():
    with sigprop.embedded(threads=1) as client:
        pid = client._server.pid
        df = client.submit({"model": {"tokens": 4, "width": 8, "depth": 3}, "samples": 4,
                            "method": "DENSE"}).results(timeout=WAIT_S)
        assert sorted(df.layer.unique()) == [0, 1, 2, 3]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_unreachable_server_raises_unavailable():
    with sigprop.LocalServer(threads=1) as server:
        target = server.target
    with sigprop.Client(target) as client:
        with pytest.raises(sigprop.UnavailableError, match="UNAVAILABLE"):
            client.list()


def test_missing_server_binary_is_reported(monkeypatch):
    monkeypatch.setenv("SIGPROP_SERVER", "/nonexistent/sigprop-server")
    with pytest.raises(FileNotFoundError, match="SIGPROP_SERVER"):
        sigprop.LocalServer()


def test_watchers_in_threads_see_the_same_events(client):
    sweep = client.submit({"model": {"tokens": 4, "width": 8, "depth": 4}, "samples": 8,
                           "method": "DENSE", "seed": "3"})
    seen = [None, None]

    def watch(i):
        seen[i] = [e.sequence for e in sweep.watch(timeout=WAIT_S)]

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert seen[0] == seen[1] == list(range(1, len(seen[0]) + 1))
    assert sweep.watch(from_sequence=3).__next__().sequence == 4


# Megabytes of layer events (eigenvalues and the 16×16 mean covariance of every layer of 40
# points): far more than a stream window, so a reader that pauses stalls the server's write.
EVENTFUL_SPEC = {
    "name": "eventful",
    "base": {
        "model": {"tokens": 16, "width": 16, "depth": 32, "initial": {"rho0": 0.2}},
        "method": "DENSE",
        "samples": 4,
        "eigenvalues": True,
        "mean_covariance": True,
    },
    "axes": [{"field": "seed", "values": list(range(1, 41))}],
}


def test_a_paused_watch_is_dropped_by_the_server_and_reattaches(monkeypatch):
    # The stream window stays at its initial size (no BDP probing), as on a slow link.
    monkeypatch.setattr(sigprop.client, "_CHANNEL_OPTIONS",
                        sigprop.client._CHANNEL_OPTIONS + [("grpc.http2.bdp_probe", 0)])
    with sigprop.LocalServer(threads=2, extra_args=["--watch-stall-limit", "0.5"]) as server, \
            sigprop.Client(server.target) as client:
        sweep = client.submit(EVENTFUL_SPEC)
        assert sweep.wait(WAIT_S) == "SUCCEEDED"
        expected = [e.SerializeToString(deterministic=True) for e in sweep.watch(timeout=WAIT_S)]
        assert sum(len(e) for e in expected) > 1 << 20
        stream = sweep.watch(timeout=WAIT_S)
        received = []
        for event in stream:
            received.append(event.SerializeToString(deterministic=True))
            if len(received) == 1:
                time.sleep(3)  # Stop reading for 6× the server's stall limit.
        assert received == expected  # Every event once, in order.
        assert stream.reattachments >= 1


COMPARE_SPEC = {
    "name": "python compare test",
    "base": {
        "a": {"model": {"preset": "SHAPED_MLP_ONLY", "tokens": 2, "width": 64, "depth": 32,
                        "initial": {"rho0": 0.2}},
              "method": "SDE", "samples": 300, "seed": "3", "divergence_threshold": 50},
        "b": {"model": {"preset": "SHAPED_MLP_ONLY", "tokens": 2, "width": 16, "depth": 8,
                        "initial": {"rho0": 0.2}},
              "method": "GRAM", "samples": 200, "seed": "4", "divergence_threshold": 50},
        "statistics": ["rho12", "v11"],
    },
    "axes": [{"field": "b.model.width", "values": [16, 32]},
             {"field": "b.model.depth", "values": [8, 16]}],
    "combine": "ZIP",
}


def test_plans_come_from_the_server(client):
    demo = client.plan(ROOT / "examples" / "demo.json")
    assert demo.points_total == len(demo.points) == 2 and not demo.comparison
    assert len(sigprop.point_values(demo)) == 2
    assert sigprop.point_values(client.plan({"model": {"tokens": 4, "width": 8, "depth": 2},
                                             "samples": 3})) == [{}]
    compare = client.plan(COMPARE_SPEC)
    assert compare.comparison and [len(p.runs) for p in compare.points] == [2, 2]
    assert [p.runs[0].random_stream_point for p in compare.points] == [0, 2]


def test_compare_returns_the_rows_the_cli_prints(client, tmp_path):
    comparison = client.compare(COMPARE_SPEC)
    assert isinstance(comparison, sigprop.Comparison)
    rows = comparison.results(timeout=WAIT_S)
    # The comparison is a stored sweep: listed, and found again by its id.
    assert comparison.id in [s.sweep_id for s in client.list()]
    again = client.sweep(comparison.id)
    assert isinstance(again, sigprop.Comparison) and again.state() == "SUCCEEDED"
    assert len(again.rows()) == len(rows)
    # 2 points × 1 time (the end, t = 0.5) × 2 statistics, in (point, time, statistic) order.
    assert list(rows.point) == [0, 0, 1, 1]
    assert list(rows.statistic) == ["rho12", "v11"] * 2
    assert list(rows["b.model.width"]) == [16, 16, 32, 32]
    assert set(rows.a_method) == {"SDE"} and set(rows.b_method) == {"GRAM"}
    assert ((rows.ks_statistic > 0) & (rows.ks_statistic <= 1)).all()
    assert ((rows.p_value >= 0) & (rows.p_value <= 1)).all()
    # The same comparison through the C++ CLI's embedded server: the same numbers, exactly.
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(COMPARE_SPEC))
    cli = sigprop._locate.build_dir() / "client" / "sigprop"
    printed = subprocess.run([str(cli), "compare", str(path), "--format", "jsonl", "--quiet"],
                             check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(printed) == len(rows)
    for line, (_, row) in zip(printed, rows.iterrows()):
        expected = json.loads(line)
        assert row.statistic == expected["statistic"]
        for field in ("ks_statistic", "p_value", "wasserstein1", "ks_with_exploded",
                      "a_exploded_fraction", "b_exploded_fraction", "a_median", "b_median"):
            assert row[field] == expected.get(field, 0.0), field


def test_compare_refusal_names_the_field(client):
    spec = json.loads(json.dumps(COMPARE_SPEC))
    spec["base"]["b"]["divergence_threshold"] = 0.5
    with pytest.raises(sigprop.InvalidSpecError, match=r"b\.divergence_threshold"):
        client.compare(spec)
    with pytest.raises(sigprop.InvalidSpecError, match="nosuchfield"):
        sigprop.compare_spec({"a": {"nosuchfield": 1}})
    one = sigprop.compare_spec(COMPARE_SPEC["base"])
    assert one.base.a.method == one.base.a.SDE and len(one.axes) == 0
    assert sigprop.point_values(client.plan(COMPARE_SPEC)) == [
        {"b.model.width": 16, "b.model.depth": 8}, {"b.model.width": 32, "b.model.depth": 16}]


def test_the_python_client_retries_by_the_table_the_cpp_client_reads():
    # One table (proto/sigprop/v1/client_policy.json), installed beside the stubs.
    table = json.loads((ROOT / "proto" / "sigprop" / "v1" / "client_policy.json").read_text())
    from sigprop import client as client_module
    assert client_module.POLICY == table
    assert {c.name for c in client_module._TRANSIENT} == set(table["reattach"]["codes"])
    assert "CANCELLED" in table["reattach"]["codes"]  # a server shutting down, as in C++
    options = dict(client_module._CHANNEL_OPTIONS)
    assert json.loads(options["grpc.service_config"]) == table["serviceConfig"]


def test_the_cli_and_the_server_plan_every_example_alike(client):
    # The CLI plans locally with common/sweep_plan.h (validate --plan, no --target); the Python
    # client asks the server, which runs the same module: the same points, labels and methods.
    cli = sigprop._locate.build_dir() / "client" / "sigprop"
    examples = sorted((ROOT / "examples").glob("*.json"))
    assert len(examples) >= 10
    for path in examples:
        printed = subprocess.run([str(cli), "validate", "--plan", str(path)], check=True,
                                 capture_output=True, text=True).stdout.splitlines()
        plan = client.plan(path)
        runs = [line for line in printed if line.startswith("  point ")]
        assert len(runs) == sum(len(p.runs) for p in plan.points), path
        k = 0
        for point in plan.points:
            for run in point.runs:
                method = sigprop.v1.run_pb2.RunSpec.Method.Name(run.method)
                assert runs[k].startswith(f"  point {point.index}"), (path, runs[k])
                if point.label:
                    assert f"({point.label})" in runs[k], (path, runs[k])
                assert f": {method}, cost" in runs[k], (path, runs[k])
                k += 1


def test_read_results_of_cli_output_equals_sweep_results(client, tmp_path):
    # `sigprop run --out FILE` output read back is the DataFrame the client gives for that sweep.
    spec = {"name": "read back", "base": {"model": {"tokens": 3, "width": 8, "depth": 3},
                                         "method": "DENSE", "samples": 6, "seed": "5"},
            "axes": [{"field": "model.width", "values": [8, 12]}]}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    out = tmp_path / "out.jsonl"
    cli = sigprop._locate.build_dir() / "client" / "sigprop"
    subprocess.run([str(cli), "run", str(path), "--quiet", "--out", str(out)], check=True)
    from_file = sigprop.read_results(out, plan=client.plan(spec))
    from_server = client.submit(spec).results(timeout=WAIT_S)
    pd.testing.assert_frame_equal(from_file, from_server)
    assert from_file.attrs["swept"] == ["model.width"]
    with pytest.raises(ValueError, match="not a LayerStats line"):
        (tmp_path / "bad.jsonl").write_text("{\"nosuch\": 1}\n")
        sigprop.read_results(tmp_path / "bad.jsonl")
