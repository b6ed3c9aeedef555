#!/usr/bin/env python3
"""The translation units scripts/lint.sh gives clang-tidy: the project's own (src/, apps/, python/),
merged into as few unity files as compile, so that clang-tidy parses and matches the heavy headers
(nlohmann-json, CLI11, fmt, the standard library) once per group instead of once per file.

Measured on 2 cores: one unit per file took 1272 s for 86 units (each apps/ unit 50-90 s, nearly all
of it in those headers). Files of one directory compiled with the same flags form a group; a group
whose unity file does not compile (`clang++ -fsyntax-only`: files that each define the same name in
an anonymous namespace, like the engines' estimate_memory) gives up the files the errors name, and
those form the next group. A file that does not compile alone stays alone, so clang-tidy reports it.
Diagnostics name the original files and lines: the unity files only #include them.

Usage: lint_units.py COMPILE_COMMANDS_JSON SOURCE_ROOT OUT_DIR
Writes OUT_DIR/unity-*.cpp and OUT_DIR/compile_commands.json; prints the units to lint, one a line
(the unity files first), and a summary on stderr.
"""

import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys


def flags_of(entry):
    """The compile flags of @p entry without its output, -c and the source file."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    flags = []
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
            continue
        if arg == "-o":
            skip = True
            continue
        if arg == "-c" or arg.startswith("-o") or os.path.normpath(os.path.join(entry["directory"], arg)) == entry["path"]:
            continue
        flags.append(arg)
    return flags


def unity_text(files):
    return "".join(f'#include "{f}"  // NOLINT(bugprone-suspicious-include): a unity file of the lint\n'
                   for f in files)


def failing_files(files, flags, directory, scratch):
    """The files of @p files that the errors of their unity file name (empty: it compiles)."""
    with open(scratch, "w") as out:
        out.write(unity_text(files))
    # -Werror dropped: only what stops the unity file compiling moves a file out.
    check = [f for f in flags if not f.startswith("-Werror")]
    result = subprocess.run(["clang++", *check, "-fsyntax-only", "-ferror-limit=0", scratch], cwd=directory,
                            capture_output=True, text=True)
    if result.returncode == 0:
        return set()
    named = set()
    for line in result.stderr.splitlines():
        match = re.match(r"^(.*?):\d+:\d+: (?:fatal )?error:", line)
        if match:
            path = os.path.normpath(os.path.join(directory, match.group(1)))
            if path in files:
                named.add(path)
    return named if named else set(files)  # an error outside the files: give up on merging them


def main():
    commands, root, out_dir = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    os.makedirs(out_dir, exist_ok=True)
    groups = {}
    seen = set()
    for entry in json.load(open(commands)):
        path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
        rel = os.path.relpath(path, root)
        # Tests and benchmarks are held to clang-format only: GoogleTest macros trip half the checks.
        if not rel.startswith(("src/", "apps/", "python/")) or path in seen:
            continue
        seen.add(path)
        entry = dict(entry, path=path)
        flags = flags_of(entry)
        key = (os.path.dirname(rel), entry["directory"], tuple(flags))
        groups.setdefault(key, []).append(path)

    def partition(item):
        """The units of one group: (unit, directory, flags) for each."""
        index, ((rel_dir, directory, flags), files) = item
        scratch = os.path.join(out_dir, f"check-{index}.cpp")
        remaining = sorted(files)
        number = 0
        made = []
        while remaining:
            group = list(remaining)
            while len(group) > 1:
                bad = failing_files(group, list(flags), directory, scratch)
                if not bad:
                    break
                if bad == set(group):  # every file named: try them one by one
                    group = group[:1]
                    break
                group = [f for f in group if f not in bad]
            remaining = [f for f in remaining if f not in group]
            if len(group) == 1:
                unit = group[0]
            else:
                unit = os.path.join(out_dir, f"unity-{rel_dir.replace('/', '-')}-{number}.cpp")
                number += 1
                with open(unit, "w") as out:
                    out.write(unity_text(group))
            made.append((unit, directory, flags))
        if os.path.exists(scratch):
            os.remove(scratch)
        return made

    # The groups are independent: checked side by side, one clang++ per core.
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        made = [u for units_of_group in pool.map(partition, enumerate(sorted(groups.items()))) for u in units_of_group]
    database = [{"directory": d, "file": u, "arguments": ["/usr/bin/c++", *f, "-c", u]} for u, d, f in made]
    units = [u for u, _, _ in made]
    with open(os.path.join(out_dir, "compile_commands.json"), "w") as out:
        json.dump(database, out, indent=1)
    merged = sum(1 for u in units if os.path.dirname(u) == out_dir)
    print(f"lint: {len(seen)} files in {len(units)} units ({merged} unity files)", file=sys.stderr)
    # The unity files first: the largest, so that the two jobs end together.
    for unit in sorted(units, key=lambda u: os.path.dirname(u) != out_dir):
        print(unit)


if __name__ == "__main__":
    main()
