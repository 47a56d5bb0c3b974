#!/usr/bin/env python3
"""Prints the workspace's crate graph as `cargo metadata` sees it: for each of our crates, the
crates of ours it depends on (normal and build dependencies; dev-dependencies apart).

`scripts/crate-graph.py --check docs/layout.md` fails when the graph block in that file (between
the `crate-graph:begin` and `crate-graph:end` markers) differs from the code's.
"""
import json
import subprocess
import sys


def graph():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    ours = {p["name"] for p in meta["packages"]}
    lines = []
    for package in sorted(meta["packages"], key=lambda p: p["name"]):
        normal = sorted(
            {d["name"] for d in package["dependencies"] if d["name"] in ours and d["kind"] in (None, "build")}
        )
        dev = sorted(
            {d["name"] for d in package["dependencies"] if d["name"] in ours and d["kind"] == "dev"}
            - set(normal)
        )
        line = f"{package['name']} -> {', '.join(normal) if normal else '(none)'}"
        if dev:
            line += f"  [dev: {', '.join(dev)}]"
        lines.append(line)
    return "\n".join(lines)


def main():
    text = graph()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        doc = open(sys.argv[2], encoding="utf-8").read()
        try:
            block = doc.split("<!-- crate-graph:begin -->", 1)[1].split("<!-- crate-graph:end -->", 1)[0]
        except IndexError:
            sys.exit(f"{sys.argv[2]}: no crate-graph:begin/end markers")
        block = block.strip().removeprefix("```text").removesuffix("```").strip()
        if block != text:
            print(f"{sys.argv[2]} is out of date; the crate graph is now:\n{text}", file=sys.stderr)
            print("run scripts/crate-graph.py and paste its output between the markers", file=sys.stderr)
            sys.exit(1)
        print(f"{sys.argv[2]}: crate graph matches cargo metadata")
    else:
        print(text)


main()
