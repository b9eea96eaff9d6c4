#!/usr/bin/env python3
"""sigprop import and run --config through the real binaries.

Every Hugging Face config in tests/fixtures/hf_configs imports to JSON that `sigprop validate`
accepts as is (stdout and --out alike, a file and stdin alike); a refused config exits 2 naming the
key and leaves no --out file; the import flags belong to --config; and one imported model (LLaMA-2,
width 4096, two layers, four samples) runs through a sigprop-server process, `run --config`
writing the same bytes as `run` of the imported spec.

  import_test.py --server PATH --cli PATH --configs DIR
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
from faultlib import Server, check  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--configs", required=True)
    args = parser.parse_args()

    def sigprop(*command, expect=0, stdin=None):
        r = subprocess.run([args.cli, *command], capture_output=True, text=True, timeout=300,
                           input=stdin)
        check(r.returncode == expect,
              f"sigprop {' '.join(command)}: exit {r.returncode}, expected {expect}: {r.stderr}")
        return r

    with tempfile.TemporaryDirectory(prefix="sigprop-import-") as tmp:
        configs = sorted(f for f in os.listdir(args.configs) if f.endswith(".json"))
        check(len(configs) >= 16, f"a fixture per family: {configs}")
        for name in configs:
            config = os.path.join(args.configs, name)
            spec = os.path.join(tmp, "spec-" + name)
            sigprop("import", config, "--out", spec)
            imported = open(spec).read()
            check(json.loads(imported)["base"]["model"]["tokens"] == 8, f"{name}: {imported}")
            check(sigprop("import", config).stdout == imported, f"{name}: stdout = --out")
            check(sigprop("import", "-", stdin=open(config).read()).stdout == imported,
                  f"{name}: stdin = file")
            r = sigprop("validate", spec)
            check(": OK, 1 point" in r.stdout, f"{name}: validate says {r.stdout}")

        # Refused: exit 2, the key and the reason, no --out file.
        mixtral = json.load(open(os.path.join(args.configs, "mistral.json")))
        mixtral.update(model_type="mixtral", num_local_experts=8, num_experts_per_tok=2)
        bad = os.path.join(tmp, "mixtral.json")
        json.dump(mixtral, open(bad, "w"))
        out = os.path.join(tmp, "mixtral-spec.json")
        r = sigprop("import", bad, "--out", out, expect=2)
        check(f"{bad}: num_local_experts: 8 experts make a mixture of experts" in r.stderr,
              r.stderr)
        check(not os.path.exists(out), "a refused import writes no --out file")
        r = sigprop("import", os.path.join(args.configs, "gpt2.json"), "--tokens", "2000",
                    expect=2)
        check("n_positions: --tokens 2000 exceeds the 1024 learned position" in r.stderr, r.stderr)
        broken = os.path.join(tmp, "broken.json")
        open(broken, "w").write('{\n  "model_type": "llama",\n  "hidden_size": 40 96\n}\n')
        check(f"{broken}:3:" in sigprop("import", broken, expect=2).stderr, "syntax: file:line")
        r = sigprop("import", os.path.join(args.configs, "llama.json"), "--depth", "0", expect=2)
        check("--depth: must be ≥ 1" in r.stderr, r.stderr)

        # The flags: import's own; --tokens/--depth/--samples only with run --config.
        r = sigprop("import", "--help")
        for flag in ("--tokens", "--depth", "--samples", "--out"):
            check(flag in r.stdout, f"import --help lists {flag}: {r.stdout}")
        check("--target" not in r.stdout, "import takes no --target")
        check("--config" in sigprop("run", "--help").stdout, "run --help lists --config")
        llama = os.path.join(args.configs, "llama.json")
        sigprop("import", llama, "--depth", "2", "--samples", "4", "--out",
                os.path.join(tmp, "llama.json"))
        r = sigprop("run", os.path.join(tmp, "llama.json"), "--tokens", "4", expect=2)
        check("--tokens: sets the model imported by --config" in r.stderr, r.stderr)
        r = sigprop("run", os.path.join(tmp, "llama.json"), "--config", llama, expect=2)
        check("not both" in r.stderr, r.stderr)
        r = sigprop("import", llama, "--target", "127.0.0.1:1", expect=2)
        check("--target: not a flag of 'import'" in r.stderr, r.stderr)

        # End to end through a server: run --config = run of the imported spec, byte for byte.
        server = Server(args.server, os.path.join(tmp, "import.db"), threads=2)
        check(server.wait_ready() is not None, f"server did not start: {server.stderr()}")
        target = ["--target", server.target, "--quiet"]
        direct = sigprop("run", "--config", llama, "--depth", "2", "--samples", "4",
                         *target).stdout
        check(direct == sigprop("run", os.path.join(tmp, "llama.json"), *target).stdout,
              "run --config writes what run of the imported spec writes")
        rows = [json.loads(line) for line in direct.splitlines()]
        check([row["layer"] for row in rows] == [0, 1, 2], f"three layers: {direct[:300]}")
        check(server.stop() == 0, "SIGTERM: exit 0")
    print("PASS")


if __name__ == "__main__":
    main()
