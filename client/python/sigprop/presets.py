"""RunSpecs of the ModelSpec presets, and sweep specs of real language models from their Hugging
Face config.json.

    run = sigprop.presets.shaped_transformer(tokens=8, width=64, depth=32, samples=200, seed=1,
                                             overrides={"model.attention.tau0": 0.5})
    spec = sigprop.presets.from_config("config.json", tokens=8, depth=2, samples=4)
    sweep = client.submit(run)  # or sigprop.sweep(base=run, axes={...})

One function per ModelSpec.Preset (proto/sigprop/v1/model.proto), named as the preset in lower
case: paper_a_standard, paper_a_scaled, shaped_transformer, shaped_attention_only,
shaped_mlp_only, simplified_sas, simplified_sas_p, depth_mup. Each returns a RunSpec whose model
has the preset and the given tokens, width and depth; the server fills the preset's other fields
(a field that is set wins over the preset). Keyword arguments are RunSpec fields (samples=, seed=,
method=, gradients=, record_every=, quantiles=, histogram=, mean_covariance=, sde=, …) in the JSON
mapping (enum names as strings, messages as dicts); `overrides` sets any other field by the dotted
path that sweep axes take: {"model.attention.tau0": 0.5, "model.mlp.hidden_width": 128}.

The config.json mapping (which key sets which field, the keys that change nothing at initialisation, what is
refused and why: docs/IMPORT.md) lives in one place, the CLI's `sigprop import`; this module runs
that command (_locate.cli_binary() finds it) and reads its output as spec.sweep_spec reads a dict.
"""

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any, Optional, Protocol, Union

from sigprop import _locate
from sigprop.errors import InvalidSpecError, SigpropError
from sigprop.spec import set_field, sweep_spec
from sigprop.v1 import model_pb2, run_pb2

# A config: its dict (json.load of a config.json), or the path of the file.
Config = Union[dict, str, "os.PathLike[str]"]

_EXIT_BAD_INPUT = 2  # client/exit_codes.h


def from_config(config: Config, tokens: int = 8, depth: Optional[int] = None,
                samples: int = 100) -> Any:
    """The SweepSpec (one point, no axes) of a model family's network at initialisation, as its
    transformers code builds it from `config`: `tokens` tokens, `depth` layers (None: the
    config's), `samples` Monte Carlo samples; the method is left to the server.

    Raises InvalidSpecError naming the config key (or the argument) and the reason when the
    config is refused, e.g. a mixture of experts or a RoPE scaling sigprop cannot express.
    """
    command = [str(_locate.cli_binary()), "import", "--tokens", str(tokens), "--samples",
               str(samples)]
    if depth is not None:
        command += ["--depth", str(depth)]
    text = None
    if isinstance(config, dict):
        command.append("-")
        text = json.dumps(config)
    elif isinstance(config, (str, os.PathLike)):
        command.append(os.fspath(config))
    else:
        raise InvalidSpecError(
            f"config: expected a dict or the path of a config.json, got {type(config).__name__}")
    run = subprocess.run(command, input=text, capture_output=True, text=True, timeout=60,
                         check=False)
    message = run.stderr.strip().removeprefix("sigprop: ")
    if run.returncode == _EXIT_BAD_INPUT:
        # A dict was read from stdin, which the CLI calls "-".
        raise InvalidSpecError(f"config{message[1:]}" if message.startswith("-:") else message)
    if run.returncode != 0:
        raise SigpropError(f"sigprop import failed (exit {run.returncode}): {message}")
    return sweep_spec(json.loads(run.stdout), source="sigprop import")


# The arguments every preset function has; appended to each one's docstring for help().
_ARGUMENTS = """

    tokens, width, depth: m, n and d of the model (ModelSpec.tokens, width, depth).
    overrides: {dotted field path: value}, the paths sweep axes take ("model.attention.tau0",
        "model.initial.rho0", "model.heads", "sde.steps_per_layer"); set after the keywords.
    **fields: RunSpec fields other than model: samples=, seed=, method= ("DENSE", "COLUMNS",
        "GRAM", "SDE", "LIMIT"), gradients=, record_every=, quantiles=, histogram=,
        eigenvalues=, mean_covariance=, sde=, divergence_threshold=, provisional_every=.

    Returns the RunSpec: submit it (Client.submit) or sweep over it (sigprop.sweep(base=…)).
    Raises TypeError for a keyword that is no RunSpec field, InvalidSpecError naming the path
    of a field that does not exist or a value it cannot hold; the server checks the rest
    (Client.plan, or Client.submit(…, validate=True)).
    """


class PresetFunction(Protocol):
    """The signature of the preset functions (paper_a_standard, …)."""

    def __call__(self, *, tokens: int, width: int, depth: int,
                 overrides: Optional[Mapping[str, Any]] = None, **fields: Any) -> Any: ...


# What the preset functions set themselves; overrides may not set them again.
_OWN = ("model.preset", "model.tokens", "model.width", "model.depth")


def _preset(name: str) -> Callable[[Callable[[], Any]], PresetFunction]:
    """Makes the function of the preset `name` (a ModelSpec.Preset) from a stub whose docstring
    says what the preset is: the same name, that docstring and the arguments', run_spec's body."""
    model_pb2.ModelSpec.Preset.Value(name)  # A ValueError at import for a preset the proto lacks.

    def decorate(stub: Callable[[], Any]) -> PresetFunction:
        def build(*, tokens: int, width: int, depth: int,
                  overrides: Optional[Mapping[str, Any]] = None, **fields: Any) -> Any:
            return run_spec(name, tokens=tokens, width=width, depth=depth, overrides=overrides,
                            **fields)
        build.__name__ = build.__qualname__ = stub.__name__
        build.__doc__ = (stub.__doc__ or "") + _ARGUMENTS
        return build
    return decorate


def run_spec(preset: str, *, tokens: int, width: int, depth: int,
             overrides: Optional[Mapping[str, Any]] = None, **fields: Any) -> Any:
    spec = run_pb2.RunSpec()
    where = preset.lower()
    try:
        spec.model.preset = model_pb2.ModelSpec.Preset.Value(preset)
    except ValueError:
        names = "|".join(model_pb2.ModelSpec.Preset.keys()[1:])
        raise InvalidSpecError(f"model.preset: {preset!r} is not one of {names}") from None
    try:
        for path, value in (("model.tokens", tokens), ("model.width", width),
                            ("model.depth", depth)):
            set_field(spec, path, value)
        for name, value in fields.items():
            if name == "model" or name not in run_pb2.RunSpec.DESCRIPTOR.fields_by_name:
                choices = ", ".join(f for f in run_pb2.RunSpec.DESCRIPTOR.fields_by_name
                                    if f != "model")
                raise TypeError(f"{where}() got an unexpected keyword argument {name!r}: the "
                                f"keywords are RunSpec fields ({choices}); set model fields "
                                "with overrides={'model.…': value}")
            set_field(spec, name, value)
        for path, value in (overrides or {}).items():
            if path in _OWN or path in fields:
                raise InvalidSpecError(
                    f"{path}: set twice (by {where}() itself or one of its keywords); "
                    "leave it out of overrides")
            set_field(spec, path, value)
    except InvalidSpecError as error:
        raise InvalidSpecError(f"{where}(): {error}") from None
    return spec


run_spec.__doc__ = """The RunSpec of the ModelSpec preset named `preset` ("SHAPED_TRANSFORMER", …),
    as the function named after that preset gives it.""" + _ARGUMENTS


@_preset("PAPER_A_STANDARD")
def paper_a_standard() -> Any:
    """Paper A's standard transformer: softmax attention and a ReLU MLP, post-LayerNorm,
    λ = γ = 1 (ModelSpec.PAPER_A_STANDARD)."""


@_preset("PAPER_A_SCALED")
def paper_a_scaled() -> Any:
    """Paper A's transformer with depth-scaled residual branches, γ = 1/√depth
    (ModelSpec.PAPER_A_SCALED)."""


@_preset("SHAPED_TRANSFORMER")
def shaped_transformer() -> Any:
    """Paper B's shaped transformer: shaped attention and shaped ReLU, no norm, γ² = ½, τ₀ = 1,
    c₊ = 0, c₋ = −1 (ModelSpec.SHAPED_TRANSFORMER)."""


@_preset("SHAPED_ATTENTION_ONLY")
def shaped_attention_only() -> Any:
    """The shaped transformer without its MLP (ModelSpec.SHAPED_ATTENTION_ONLY)."""


@_preset("SHAPED_MLP_ONLY")
def shaped_mlp_only() -> Any:
    """The shaped transformer without its attention (ModelSpec.SHAPED_MLP_ONLY)."""


@_preset("SIMPLIFIED_SAS")
def simplified_sas() -> Any:
    """He & Hofmann's simplified attention sub-block: softmax attention with identity values and
    the matrix skip I + A − C, a ReLU MLP, pre-RMSNorm (ModelSpec.SIMPLIFIED_SAS)."""


@_preset("SIMPLIFIED_SAS_P")
def simplified_sas_p() -> Any:
    """The parallel simplified block (SAS-P): attention and MLP read one normalised input, the
    identity in A the only skip (ModelSpec.SIMPLIFIED_SAS_P)."""


@_preset("DEPTH_MUP")
def depth_mup() -> Any:
    """Depth-µP: softmax with logits scaled by 1/n_k, a ReLU MLP, pre-LayerNorm, every branch
    γ = 1/√depth (ModelSpec.DEPTH_MUP)."""
