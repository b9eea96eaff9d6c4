"""sigprop.presets.from_config: a Hugging Face config.json, mapped by the CLI's `sigprop import`,
as a SweepSpec that a real sigprop-server runs."""

import json

import pytest

import sigprop
from conftest import ROOT, WAIT_S

CONFIGS = ROOT / "tests" / "fixtures" / "hf_configs"


def llama() -> dict:
    return json.loads((CONFIGS / "llama.json").read_text())


def test_a_file_and_its_dict_give_the_same_spec():
    spec = sigprop.presets.from_config(CONFIGS / "llama.json", tokens=16, depth=3, samples=5)
    assert spec == sigprop.presets.from_config(llama(), tokens=16, depth=3, samples=5)
    assert spec == sigprop.presets.from_config(str(CONFIGS / "llama.json"), tokens=16, depth=3,
                                               samples=5)
    assert spec.DESCRIPTOR.full_name == "sigprop.v1.SweepSpec"
    assert spec.name == "llama width 4096 depth 3" and not spec.axes
    model = spec.base.model
    assert (model.tokens, model.width, model.heads, model.depth) == (16, 4096, 32, 3)
    assert model.mlp.activation == model.mlp.SWIGLU and model.mlp.hidden_width == 11008
    assert model.norm == model.PRE_RMS and model.norm_eps == pytest.approx(1e-5)
    assert model.attention.causal and model.attention.rope.theta == 10000
    assert model.init.weight_std == pytest.approx(0.02)
    assert spec.base.samples == 5 and not spec.base.gradients
    assert spec.base.method == spec.base.METHOD_UNSPECIFIED


def test_defaults_are_eight_tokens_the_configs_depth_and_a_hundred_samples():
    spec = sigprop.presets.from_config(CONFIGS / "qwen3.json")
    assert (spec.base.model.tokens, spec.base.model.depth, spec.base.samples) == (8, 36, 100)
    assert spec.base.model.head_dim == 128


def test_refusals_name_the_key_and_why():
    config = llama()
    config["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0}
    with pytest.raises(sigprop.InvalidSpecError,
                       match=r"^config: rope_scaling\.rope_type: 'llama3' rescales"):
        sigprop.presets.from_config(config)
    config = llama()
    config["num_local_experts"] = 8
    with pytest.raises(sigprop.InvalidSpecError, match="num_local_experts: 8 experts"):
        sigprop.presets.from_config(config)
    with pytest.raises(sigprop.InvalidSpecError, match="--tokens: must be ≥ 2, got 1"):
        sigprop.presets.from_config(llama(), tokens=1)
    with pytest.raises(sigprop.InvalidSpecError, match="n_positions: --tokens 2048 exceeds"):
        sigprop.presets.from_config(CONFIGS / "gpt2.json", tokens=2048)
    with pytest.raises(sigprop.InvalidSpecError, match="cannot open the config file"):
        sigprop.presets.from_config(CONFIGS / "absent.json")
    with pytest.raises(sigprop.InvalidSpecError, match="expected a dict or the path"):
        sigprop.presets.from_config(42)  # type: ignore[arg-type]


def test_a_missing_cli_is_reported(monkeypatch):
    monkeypatch.setenv("SIGPROP_CLI", "/nonexistent/sigprop")
    with pytest.raises(FileNotFoundError, match="SIGPROP_CLI"):
        sigprop.presets.from_config(llama())


# At the real width (4096, SwiGLU hidden 11008) with two layers and four samples: seconds.
def test_an_imported_spec_runs_on_the_server(client):
    spec = sigprop.presets.from_config(CONFIGS / "llama.json", depth=2, samples=4)
    df = client.submit(spec).results(timeout=WAIT_S)
    assert sorted(df["layer"].unique()) == [0, 1, 2]
    assert set(df["samples"]) == {4}
    rho = df[(df["statistic"] == "rho_mean") & (df["layer"] == 2)]["mean"]
    assert len(rho) == 1 and -1 < float(rho.iloc[0]) < 1
