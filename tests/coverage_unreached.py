#!/usr/bin/env python3
"""Lists the functions no test reached, from gcovr's JSON (tests/coverage.sh writes it).

  coverage_unreached.py build/coverage/coverage.json

Anonymous-namespace helpers and compiler-generated functions are left out: the list is of what a
reader of the headers could call. One line per function: file:line  name.
"""
import json
import sys


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        report = json.load(f)
    unreached = []
    for entry in report["files"]:
        for function in entry.get("functions", []):
            name = function.get("demangled_name") or function.get("name", "")
            if function.get("execution_count", 0) != 0:
                continue
            if "(anonymous namespace)" in name or name.startswith("__") or "lambda" in name:
                continue
            unreached.append((entry["file"], function.get("lineno", 0), name))
    for path, line, name in sorted(unreached):
        print(f"{path}:{line}  {name}")
    print(f"{len(unreached)} functions outside anonymous namespaces never ran", file=sys.stderr)


if __name__ == "__main__":
    main()
