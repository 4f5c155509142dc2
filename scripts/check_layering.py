#!/usr/bin/env python3
"""Layering check: every #include under src/ must follow the dependency graph.

The graph is the fenced block with info string `layers` in
docs/architecture.md ("## Dependency graph"). One line per folder of src/:

    name: dep dep ...

lists the folders `name` may include directly. What a dep may include, `name`
may include too (the check uses the transitive closure), and a folder may
always include itself. Blank lines and `# comments` in the block are ignored.

For each .h/.hpp/.cpp/.cc file under src/, each quoted include is resolved the
way the compiler looks for it: first next to the including file (so
"status.h" or "../core/status.h" land in the folder they name), then from
src/ ("core/status.h"). An include that lands in no folder of src/ and does
not start with a known folder name is ignored: generated headers such as
"gtfs-realtime.pb.h" or "dashboard_assets..." live in the build tree.
Angle-bracket includes are ignored.

Fails (exit 1), naming file:line, the include and the rule it breaks, when:
  - a folder includes a folder it cannot reach in the graph;
  - the graph has a cycle (a folder listing itself counts);
  - a folder of src/ has no line in the block;
  - the block is missing, appears twice, is malformed, names a folder twice,
    or lists a dep that has no line of its own.
Warns only (stderr, exit 0) when the block names a folder that does not exist
under src/ (yet): the graph may lead the code by a commit, as with src/tools
while its commands still live in src/app. Such a folder still takes part in
the graph; a stale one shows up as this warning in every CI log.
A source file directly in src/ (in no folder) is also only a warning.

On success prints one line: "layering-check: N files, M includes, ok", where
M counts the includes that resolved to a folder of src/ and were checked.

Usage: scripts/check_layering.py [--root DIR] [--doc FILE]
  --root DIR  the repository root holding src/ (default: this script's ../)
  --doc FILE  the document with the block (default: DIR/docs/architecture.md)

To change the graph, edit the block in the same commit as the include (and
the livehub_library link line in CMakeLists.txt with it).
Python 3 standard library only.
"""

import argparse
import os
import re
import sys

SOURCE_EXTS = (".h", ".hpp", ".cpp", ".cc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
FENCE_RE = re.compile(r"^(`{3,}|~{3,})\s*(\S*)")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class CheckError(Exception):
    pass


def parse_layers(doc_path):
    """Returns ({folder: [deps]}, {folder: line number in the doc})."""
    try:
        with open(doc_path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise CheckError(f"cannot read {doc_path}: {e.strerror}")
    blocks = []  # (first line number, [(line number, text)])
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2)
        start = i + 1
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append((i + 1, lines[i]))
            i += 1
        if i == len(lines):
            raise CheckError(f"{doc_path}:{start}: code block never closed")
        i += 1
        if info == "layers":
            blocks.append((start, body))
    if not blocks:
        raise CheckError(f"{doc_path}: no ```layers block (see '## Dependency graph')")
    if len(blocks) > 1:
        raise CheckError(
            f"{doc_path}:{blocks[1][0]}: a second ```layers block "
            f"(the first is at line {blocks[0][0]}); keep one")
    graph, where = {}, {}
    for lineno, text in blocks[0][1]:
        text = text.split("#", 1)[0].strip()
        if not text:
            continue
        name, sep, rest = text.partition(":")
        name = name.strip()
        deps = rest.split()
        if not sep or not NAME_RE.match(name) or not all(NAME_RE.match(d) for d in deps):
            raise CheckError(f"{doc_path}:{lineno}: expected 'folder: dep dep ...', got {text!r}")
        if name in graph:
            raise CheckError(
                f"{doc_path}:{lineno}: {name} has a second line (first at line {where[name]})")
        graph[name] = deps
        where[name] = lineno
    if not graph:
        raise CheckError(f"{doc_path}:{blocks[0][0]}: the ```layers block is empty")
    for name, deps in graph.items():
        for d in deps:
            if d not in graph:
                raise CheckError(
                    f"{doc_path}:{where[name]}: {name} lists {d}, which has no line of its own")
    return graph, where


def find_cycle(graph):
    """Returns a cycle as a list [a, b, ..., a], or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in graph}
    stack = []

    def visit(n):
        color[n] = GREY
        stack.append(n)
        for d in graph[n]:
            if color[d] == GREY:
                return stack[stack.index(d):] + [d]
            if color[d] == WHITE:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        color[n] = BLACK
        return None

    for n in graph:
        if color[n] == WHITE:
            c = visit(n)
            if c:
                return c
    return None


def closure(graph):
    reach = {}

    def walk(n):
        if n not in reach:
            r = {n}
            for d in graph[n]:
                r |= walk(d)
            reach[n] = r
        return reach[n]

    for n in graph:
        walk(n)
    return reach


def folder_of(path, src):
    """The src/ folder a path lies in, or None (outside src/ or directly in it)."""
    rel = os.path.relpath(os.path.normpath(path), src)
    parts = rel.split(os.sep)
    if parts[0] in (os.curdir, os.pardir) or len(parts) < 2:
        return None
    return parts[0]


def show(path):
    """A path for messages: relative to the working directory when under it."""
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir) else rel


def main(argv):
    ap = argparse.ArgumentParser(description="Check src/ includes against docs/architecture.md.")
    script_dir = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--root", metavar="DIR", default=os.path.join(script_dir, ".."),
                    help="repository root holding src/ (default: the script's ../)")
    ap.add_argument("--doc", metavar="FILE",
                    help="document with the ```layers block (default: DIR/docs/architecture.md)")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # keep stdout and stderr lines in order
    root = os.path.normpath(os.path.abspath(args.root))
    src = os.path.join(root, "src")
    doc = args.doc or os.path.join(root, "docs", "architecture.md")
    doc_shown = show(os.path.abspath(doc))

    if not os.path.isdir(src):
        raise CheckError(f"no src/ folder under {root}")
    graph, where = parse_layers(doc)

    cycle = find_cycle(graph)
    if cycle:
        raise CheckError(
            f"{doc_shown}:{where[cycle[0]]}: the graph has a cycle: {' -> '.join(cycle)}")

    folders = sorted(e.name for e in os.scandir(src) if e.is_dir() and not e.name.startswith("."))
    errors = []
    missing = [f for f in folders if f not in graph]
    for f in missing:
        errors.append(f"{doc_shown}: src/{f}/ has no line in the ```layers block "
                      f"(add '{f}: <deps>')")
    for name in sorted(set(graph) - set(folders)):
        print(f"layering-check: warning: {doc_shown}:{where[name]}: the graph names {name}, "
              f"but there is no src/{name}/", file=sys.stderr)

    reach = closure(graph)
    known = set(graph) | set(folders)
    n_files = n_includes = 0
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fn in sorted(filenames):
            if not fn.endswith(SOURCE_EXTS):
                continue
            path = os.path.join(dirpath, fn)
            shown = show(path)
            here = folder_of(path, src)
            n_files += 1
            if here is None:
                print(f"layering-check: warning: {shown}: directly in src/, in no folder; "
                      f"its includes are not checked", file=sys.stderr)
                continue
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read().splitlines()
            except OSError as e:
                errors.append(f"{shown}: cannot read: {e.strerror}")
                continue
            for lineno, line in enumerate(text, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                # The compiler looks next to the including file first, then in src/.
                beside = os.path.join(dirpath, inc)
                if os.path.exists(beside):
                    target = folder_of(beside, src)
                else:
                    first = inc.split("/", 1)[0]
                    target = first if "/" in inc and first in known else None
                if target is None:
                    continue  # generated or outside src/: not ours to check
                n_includes += 1
                if here not in graph or target not in graph:
                    continue  # already reported as a folder missing from the block
                if target not in reach[here]:
                    rule = " ".join([here + ":"] + graph[here])
                    allowed = " ".join(sorted(reach[here]))
                    errors.append(
                        f"{shown}:{lineno}: #include \"{inc}\": {here} may not include {target} "
                        f"(rule '{rule}' at {doc_shown}:{where[here]}; "
                        f"{here} reaches only: {allowed})")

    if errors:
        for e in errors:
            print(e)
        print(f"layering-check: {len(errors)} error(s) in {n_files} files, {n_includes} includes; "
              f"the graph is in {doc_shown} ('## Dependency graph')")
        return 1
    print(f"layering-check: {n_files} files, {n_includes} includes, ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except CheckError as e:
        print(f"layering-check: {e}")
        sys.exit(1)
