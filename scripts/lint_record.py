#!/usr/bin/env python3
"""The lint's record (scripts/lint-record.txt): which translation units clang-tidy passed, each by
the sha256 of exactly what clang-tidy reads for it, so that a fresh clone of a linted tree does not
lint again what passed (clang-tidy takes about 3 min here; a CI step's limit may be shorter).

A unit's hash covers `clang-tidy --version`, .clang-tidy, the unit's compile flags and its
preprocessed text with its comments (`clang++ FLAGS -E -C`: every header it includes, the system's
too, and every NOLINT), this tree's path
and the unity folder's written as placeholders. The same hash means clang-tidy would read the same
input with the same checks, so it gives the same result; any other hash is linted. The record also
keeps the grouping of the files into units (scripts/lint_units.py), which is otherwise recomputed
(about 25 s).

  lint_record.py check RECORD COMPILE_COMMANDS_JSON SOURCE_ROOT OUT_DIR
      When RECORD groups exactly the files of COMPILE_COMMANDS_JSON with the same flags: writes
      their unity files and OUT_DIR/compile_commands.json as lint_units.py would, prints the units
      whose hash is not in RECORD (nothing: every unit passed as it is; other flags change the
      hash) and exits 0. Exits 3 when the record does not apply (missing, not this script's,
      other files, files of one unit now compiled differently): the lint groups and lints anew.
  lint_record.py write RECORD OUT_DIR SOURCE_ROOT
      After every unit of OUT_DIR/compile_commands.json passed: writes RECORD for them.
"""

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys

import lint_units

HEADER = "# scripts/lint.sh's record (scripts/lint_record.py): units clang-tidy passed, by input hash. Do not edit:\n" \
         "# `scripts/lint.sh --record` rewrites it after a full lint that passes.\n"


def tool_text(root):
    version = subprocess.run(["clang-tidy", "--version"], capture_output=True, text=True, check=True).stdout
    with open(os.path.join(root, ".clang-tidy"), encoding="utf-8") as f:
        return version + f.read()


def dependency_free(flags):
    """@p flags without the depfile options (-MD, -MF FILE…): -E must write nothing."""
    out = []
    skip = False
    for flag in flags:
        if skip:
            skip = False
        elif flag in ("-MF", "-MT", "-MQ"):
            skip = True
        elif flag not in ("-MD", "-MMD"):
            out.append(flag)
    return out


def unit_hash(entry, root, out_dir, tools):
    flags = [a for a in entry["arguments"][1:] if a not in ("-c", entry["file"])]
    result = subprocess.run(["clang++", *dependency_free(flags), "-E", "-C", entry["file"]], cwd=entry["directory"],
                            capture_output=True, check=False)
    if result.returncode != 0:
        return None  # does not preprocess (a header not generated yet): not a unit that passed
    pre = result.stdout
    digest = hashlib.sha256()
    for text in (tools, "\0".join(flags), entry["file"]):
        digest.update(text.replace(out_dir, "<unity>").replace(root, "<tree>").encode() + b"\0")
    digest.update(pre.replace(out_dir.encode(), b"<unity>").replace(root.encode(), b"<tree>"))
    return digest.hexdigest()


def hashes(database, root, out_dir):
    tools = tool_text(root)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda e: unit_hash(e, root, out_dir, tools), database))


def read_record(path):
    """(units: [(name or "-", [relative files])], passed: set of hashes); None when unreadable."""
    units, passed = [], set()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(" ")
        words = rest.split(" ")
        if kind == "unit" and len(words) >= 2:
            units.append((words[0], words[1:]))
        elif kind == "passed" and len(words) == 1 and len(words[0]) == 64:
            passed.add(words[0])
        else:
            return None  # not a record this script wrote
    return units, passed


def check(record_path, commands, root, out_dir):
    record = read_record(record_path)
    if record is None:
        return 3
    units, passed = record
    entries = {}
    for entry in json.load(open(commands, encoding="utf-8")):
        path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
        rel = os.path.relpath(path, root)
        if rel.startswith(("src/", "apps/", "python/")):
            entries.setdefault(rel, dict(entry, path=path))
    recorded = [f for _, files in units for f in files]
    if sorted(recorded) != sorted(entries) or len(set(recorded)) != len(recorded):
        return 3  # other files than the record's: group anew
    os.makedirs(out_dir, exist_ok=True)
    database = []
    for name, files in units:
        first = entries[files[0]]
        flags = lint_units.flags_of(first)
        if any(lint_units.flags_of(entries[f]) != flags or entries[f]["directory"] != first["directory"]
               for f in files):
            return 3  # the flags changed: group anew
        if name == "-":
            if len(files) != 1:
                return 3
            unit = entries[files[0]]["path"]
        else:
            unit = os.path.join(out_dir, name)
            with open(unit, "w", encoding="utf-8") as out:
                out.write(lint_units.unity_text([entries[f]["path"] for f in files]))
        database.append({"directory": first["directory"], "file": unit, "arguments": ["/usr/bin/c++", *flags, "-c", unit]})
    with open(os.path.join(out_dir, "compile_commands.json"), "w", encoding="utf-8") as out:
        json.dump(database, out, indent=1)
    for entry, digest in zip(database, hashes(database, root, out_dir)):
        if digest not in passed:
            print(entry["file"])
    return 0


def write(record_path, out_dir, root):
    database = json.load(open(os.path.join(out_dir, "compile_commands.json"), encoding="utf-8"))
    lines = [HEADER]
    for entry in database:
        unit = entry["file"]
        if os.path.dirname(unit) == out_dir:
            with open(unit, encoding="utf-8") as f:
                files = [line.split('"')[1] for line in f if line.startswith("#include")]
            name = os.path.basename(unit)
        else:
            files, name = [unit], "-"
        lines.append(f"unit {name} {' '.join(os.path.relpath(p, root) for p in files)}\n")
    digests = hashes(database, root, out_dir)
    if None in digests:
        print("lint_record.py: a unit that clang-tidy passed does not preprocess", file=sys.stderr)
        return 1
    for digest in sorted(set(digests)):
        lines.append(f"passed {digest}\n")
    temporary = record_path + ".new"
    with open(temporary, "w", encoding="utf-8") as out:
        out.writelines(lines)
    os.replace(temporary, record_path)
    return 0


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "check":
        root, out_dir = os.path.abspath(sys.argv[4]), os.path.abspath(sys.argv[5])
        return check(sys.argv[2], sys.argv[3], root, out_dir)
    if len(sys.argv) == 5 and sys.argv[1] == "write":
        return write(sys.argv[2], os.path.abspath(sys.argv[3]), os.path.abspath(sys.argv[4]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
