"""The Pythonic spec builder: sigprop.sweep and sigprop.presets.<preset>(…) give the messages the
JSON forms give, name the path of what they refuse, and run on a real sigprop-server, whose
refusals (Plan, Submit, submit(validate=True)) name the field."""

import pydoc

import numpy as np
import pytest

import sigprop
from conftest import WAIT_S
from sigprop.v1 import model_pb2, run_pb2


def test_sweep_gives_the_spec_its_json_gives():
    built = sigprop.sweep(
        base={"model": {"tokens": 4, "width": 8, "depth": 2}, "samples": 3, "seed": "9"},
        axes={"model.attention.tau0": np.linspace(0.5, 1.5, 3), "model.width": [8, 12, 16],
              "model.attention.kind": ["SOFTMAX", "SHAPED", "UNIFORM"]},
        combine="ZIP", name="zipped")
    assert built == sigprop.sweep_spec({
        "name": "zipped",
        "base": {"model": {"tokens": 4, "width": 8, "depth": 2}, "samples": 3, "seed": "9"},
        "axes": [{"field": "model.attention.tau0", "values": [0.5, 1.0, 1.5]},
                 {"field": "model.width", "values": [8, 12, 16]},
                 {"field": "model.attention.kind", "values": ["SOFTMAX", "SHAPED", "UNIFORM"]}],
        "combine": "ZIP"})
    # Axes as (path, values) pairs, a RunSpec message as base, PRODUCT by default.
    base = run_pb2.RunSpec(samples=2)
    pairs = sigprop.sweep(base=base, axes=[("seed", [1, 2]), ("model.width", (8, 16))])
    assert [a.field for a in pairs.axes] == ["seed", "model.width"]
    assert pairs.combine == pairs.PRODUCT and pairs.base == base and pairs.name == ""
    assert len(sigprop.sweep(base=base).axes) == 0


def test_every_model_preset_has_its_function():
    names = [v.name for v in model_pb2.ModelSpec.Preset.DESCRIPTOR.values][1:]
    assert len(names) == 8
    for name in names:
        function = getattr(sigprop.presets, name.lower())
        run = function(tokens=5, width=24, depth=3)
        assert run.DESCRIPTOR.full_name == "sigprop.v1.RunSpec"
        model = run.model
        assert model_pb2.ModelSpec.Preset.Name(model.preset) == name
        assert (model.tokens, model.width, model.depth) == (5, 24, 3)
        assert run == sigprop.presets.run_spec(name, tokens=5, width=24, depth=3)
        # help() shows the signature, what the preset is and the arguments.
        text = pydoc.render_doc(function, renderer=pydoc.plaintext)
        assert f"{name.lower()}(*, tokens: int, width: int, depth: int" in text
        assert f"ModelSpec.{name}" in text and "overrides: {dotted field path: value}" in text
        assert function.__name__ == name.lower()


def test_preset_keywords_and_overrides_set_what_the_json_sets():
    run = sigprop.presets.shaped_transformer(
        tokens=8, width=64, depth=16, samples=50, seed=9, gradients=True, method="COLUMNS",
        quantiles=[0.1, 0.9], histogram=[{"statistic": "rho_mean", "bins": 10, "lo": -1, "hi": 1}],
        overrides={"model.attention.tau0": 0.5, "model.initial": {"rho0": 0.3},
                   "model.heads": np.int64(4), "sde.steps_per_layer": 2})
    assert run == sigprop.sweep_spec({
        "model": {"preset": "SHAPED_TRANSFORMER", "tokens": 8, "width": 64, "depth": 16,
                  "heads": 4, "attention": {"tau0": 0.5}, "initial": {"rho0": 0.3}},
        "samples": 50, "seed": "9", "gradients": True, "method": "COLUMNS",
        "quantiles": [0.1, 0.9], "histogram": [{"statistic": "rho_mean", "bins": 10, "lo": -1,
                                                "hi": 1}],
        "sde": {"steps_per_layer": 2}}).base
    # A message override merges into what the preset function set.
    merged = sigprop.presets.depth_mup(tokens=4, width=8, depth=2,
                                       overrides={"model.attention.tau0": 2,
                                                  "model.attention": {"causal": True}})
    assert merged.model.attention.tau0 == 2 and merged.model.attention.causal


def test_builder_refusals_name_the_path():
    with pytest.raises(TypeError, match=r"shaped_mlp_only\(\) got an unexpected keyword "
                                        r"argument 'sampels'.*samples, seed"):
        sigprop.presets.shaped_mlp_only(tokens=4, width=8, depth=2, sampels=3)
    with pytest.raises(TypeError, match="'model'.*overrides="):
        sigprop.presets.shaped_mlp_only(tokens=4, width=8, depth=2, model={})
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"^paper_a_scaled\(\): model\.atention\.tau0: no field 'atention' "
                             r"in ModelSpec \(its fields: tokens, width"):
        sigprop.presets.paper_a_scaled(tokens=4, width=8, depth=2,
                                       overrides={"model.atention.tau0": 1})
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"model\.attention\.kind: Invalid enum value SOFTMAXX.*"
                             r"one of .*\|SOFTMAX\|UNIFORM"):
        sigprop.presets.paper_a_scaled(tokens=4, width=8, depth=2,
                                       overrides={"model.attention.kind": "SOFTMAXX"})
    with pytest.raises(sigprop.InvalidSpecError, match=r"model\.width: set twice"):
        sigprop.presets.simplified_sas(tokens=4, width=8, depth=2, overrides={"model.width": 16})
    with pytest.raises(sigprop.InvalidSpecError, match=r"^simplified_sas_p\(\): samples: "):
        sigprop.presets.simplified_sas_p(tokens=4, width=8, depth=2, samples=1.5)
    with pytest.raises(sigprop.InvalidSpecError, match=r"'model\.tokens' is not a message field"):
        sigprop.presets.simplified_sas_p(tokens=4, width=8, depth=2,
                                         overrides={"model.tokens.x": 1})
    with pytest.raises(sigprop.InvalidSpecError, match=r"model\.preset: 'NOPE' is not one of"):
        sigprop.presets.run_spec("NOPE", tokens=4, width=8, depth=2)
    base = {"model": {"tokens": 4, "width": 8, "depth": 2}}
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"axes\[0\] \('model\.width'\): expected a list of values, got 8"):
        sigprop.sweep(base=base, axes={"model.width": 8})
    with pytest.raises(sigprop.InvalidSpecError, match=r"axes\[1\] \('seed'\)"):
        sigprop.sweep(base=base, axes={"model.width": [8], "seed": [object()]})
    with pytest.raises(sigprop.InvalidSpecError, match="combine: must be PRODUCT or ZIP, got 'ZAP'"):
        sigprop.sweep(base=base, axes={"model.width": [8]}, combine="ZAP")
    with pytest.raises(sigprop.InvalidSpecError, match=r"^base: .*nosuch"):
        sigprop.sweep(base={"nosuch": 1})
    with pytest.raises(sigprop.InvalidSpecError, match="base: expected a RunSpec or its dict, "
                                                       "got sigprop.v1.SweepSpec"):
        sigprop.sweep(base=run_pb2.SweepSpec())


def test_a_built_sweep_runs_as_the_server_plans_it(client):
    run = sigprop.presets.shaped_transformer(tokens=4, width=16, depth=3, samples=6, seed=2,
                                             method="DENSE")
    spec = sigprop.sweep(base=run, axes={"model.attention.tau0": [0.5, 2], "model.width": [8, 16]},
                         name="built")
    sweep = client.submit(spec, validate=True)
    assert sweep._plan is not None and sweep.plan().points_total == 4  # Kept, not asked again.
    assert sweep.point_values() == [
        {"model.attention.tau0": 0.5, "model.width": 8}, {"model.attention.tau0": 0.5, "model.width": 16},
        {"model.attention.tau0": 2, "model.width": 8}, {"model.attention.tau0": 2, "model.width": 16}]
    df = sweep.results(timeout=WAIT_S)
    assert df.attrs["swept"] == ["model.attention.tau0", "model.width"]
    assert sorted(df.layer.unique()) == [0, 1, 2, 3] and set(df.samples) == {6}
    # The same points as the JSON form of the spec, to the last bit.
    again = client.submit({"name": "built", "base": {
        "model": {"preset": "SHAPED_TRANSFORMER", "tokens": 4, "width": 16, "depth": 3},
        "samples": 6, "seed": "2", "method": "DENSE"},
        "axes": [{"field": "model.attention.tau0", "values": [0.5, 2]},
                 {"field": "model.width", "values": [8, 16]}]})
    import pandas as pd
    pd.testing.assert_frame_equal(df, again.results(timeout=WAIT_S))


def test_server_refusals_of_a_built_spec_name_the_field(client):
    bad = sigprop.presets.paper_a_standard(tokens=4, width=8, depth=2, samples=2,
                                           overrides={"model.attention.tau0": -1})
    before = len(client.list())
    field = r"base\.model\.attention\.tau0: must be > 0, got -1 \(INVALID_ARGUMENT\)"
    with pytest.raises(sigprop.InvalidSpecError, match=r"^Plan on .*" + field):
        client.plan(bad)
    with pytest.raises(sigprop.InvalidSpecError, match=r"^Submit on .*" + field):
        client.submit(bad)
    with pytest.raises(sigprop.InvalidSpecError, match=r"^Plan on .*" + field):
        client.submit(bad, validate=True)
    # An axis value: the point and its path.
    good = sigprop.presets.paper_a_standard(tokens=4, width=8, depth=2, samples=2)
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"^Plan on .*points\[1\]\.model\.attention\.tau0: must be > 0"):
        client.submit(sigprop.sweep(base=good, axes={"model.attention.tau0": [1, -1]}),
                      validate=True)
    # An axis path the builder passes on as given: the server names it.
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"axes\[0\]\.field: no field 'atention' in ModelSpec"):
        client.submit(sigprop.sweep(base=good, axes={"model.atention.tau0": [1, 2]}),
                      validate=True)
    assert len(client.list()) == before  # Nothing refused was stored.
    comparison = {"a": {"model": {"tokens": 2, "width": 8, "depth": 2}, "samples": 2,
                        "method": "GRAM", "divergence_threshold": 0.5},
                  "b": {"model": {"tokens": 2, "width": 8, "depth": 2}, "samples": 2,
                        "method": "GRAM"}}
    with pytest.raises(sigprop.InvalidSpecError, match=r"^Plan on .*a\.divergence_threshold"):
        client.compare(comparison, validate=True)
