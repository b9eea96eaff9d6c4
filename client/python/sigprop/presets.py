"""Sweep specs of real language models from their Hugging Face config.json.

    spec = sigprop.presets.from_config("config.json", tokens=8, depth=2, samples=4)
    sweep = client.submit(spec)

The mapping (which key sets which field, the keys that change nothing at initialisation, what is
refused and why: docs/IMPORT.md) lives in one place, the CLI's `sigprop import`; this module runs
that command (_locate.cli_binary() finds it) and reads its output as spec.sweep_spec reads a dict.
"""

import json
import os
import subprocess
from typing import Any, Optional, Union

from sigprop import _locate
from sigprop.errors import InvalidSpecError, SigpropError
from sigprop.spec import sweep_spec

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
