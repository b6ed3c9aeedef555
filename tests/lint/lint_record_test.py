#!/usr/bin/env python3
"""scripts/lint_record.py's guarantee, with its faults injected: a unit is taken as passed only when
exactly what clang-tidy reads for it is what passed — an edited line, a changed comment (a NOLINT),
another .clang-tidy, other flags, another file or a corrupt record each make it lint again.

Builds a two-file tree in a temporary folder (its own compile_commands.json), groups it with
scripts/lint_units.py, records it, then changes one thing at a time. Needs clang++ and clang-tidy
(scripts/setup.sh --tests). Usage: lint_record_test.py REPOSITORY_ROOT
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

root = os.path.abspath(sys.argv[1])
scripts = os.path.join(root, "scripts")
failures = []


def expect(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


with tempfile.TemporaryDirectory() as tree:
    os.makedirs(os.path.join(tree, "src"))
    sources = {"src/a.cpp": "// a\nint twice(int x) { return 2 * x; }\n",
               "src/b.cpp": "// b\nint thrice(int x) { return 3 * x; }\n"}
    for name, text in sources.items():
        with open(os.path.join(tree, name), "w") as f:
            f.write(text)
    with open(os.path.join(tree, ".clang-tidy"), "w") as f:
        f.write("Checks: '-*,bugprone-*'\n")

    def database(flags="-std=c++20", extra=()):
        entries = [{"directory": tree, "file": name, "command": f"/usr/bin/c++ {flags} -o x.o -c {name}"}
                   for name in list(sources) + list(extra)]
        with open(os.path.join(tree, "compile_commands.json"), "w") as f:
            json.dump(entries, f)

    database()
    unity = os.path.join(tree, "unity")
    record = os.path.join(tree, "record.txt")
    subprocess.run([sys.executable, os.path.join(scripts, "lint_units.py"), os.path.join(tree, "compile_commands.json"),
                    tree, unity], check=True, capture_output=True)
    subprocess.run([sys.executable, os.path.join(scripts, "lint_record.py"), "write", record, unity, tree], check=True)

    def check():
        out_dir = os.path.join(tree, "check")
        shutil.rmtree(out_dir, ignore_errors=True)
        r = subprocess.run([sys.executable, os.path.join(scripts, "lint_record.py"), "check", record,
                            os.path.join(tree, "compile_commands.json"), tree, out_dir], capture_output=True, text=True)
        return r.returncode, r.stdout.split()

    def edit(name, text):
        with open(os.path.join(tree, name), "w") as f:
            f.write(text)

    status, todo = check()
    expect(status == 0 and todo == [], f"the recorded tree: nothing to lint (status {status}, {todo})")
    # The same tree in another folder: the path is a placeholder in the hash.
    moved = tree + "-moved"
    shutil.copytree(tree, moved)
    r = subprocess.run([sys.executable, os.path.join(scripts, "lint_record.py"), "check", os.path.join(moved, "record.txt"),
                        os.path.join(moved, "compile_commands.json"), moved, os.path.join(moved, "check")],
                       capture_output=True, text=True)
    shutil.rmtree(moved)
    expect(r.returncode == 3, "a copied compile database naming the other folder does not apply (status 3)")

    edit("src/b.cpp", "// b\nint thrice(int x) { return 3 * x + 0; }\n")
    status, todo = check()
    expect(status == 0 and len(todo) == 1, f"an edited line: its unit is linted again ({todo})")
    edit("src/b.cpp", "// b, said otherwise\nint thrice(int x) { return 3 * x; }\n")
    status, todo = check()
    expect(status == 0 and len(todo) == 1, f"a changed comment: linted again ({todo})")
    edit("src/b.cpp", "// b\nint thrice(int x) { return 3 * x; }  // NOLINT\n")
    status, todo = check()
    expect(status == 0 and len(todo) == 1, f"a NOLINT added: linted again ({todo})")
    edit("src/b.cpp", sources["src/b.cpp"])
    status, todo = check()
    expect(status == 0 and todo == [], "the file put back: passed as recorded")

    with open(os.path.join(tree, ".clang-tidy"), "a") as f:
        f.write("# another configuration\n")
    status, todo = check()
    expect(status == 0 and len(todo) == 1, f"another .clang-tidy: every unit linted again ({todo})")
    with open(os.path.join(tree, ".clang-tidy"), "w") as f:
        f.write("Checks: '-*,bugprone-*'\n")

    database(flags="-std=c++20 -DSOMETHING")
    status, todo = check()
    expect(status == 0 and len(todo) == 1, f"other flags: linted again ({todo})")
    database()
    edit("src/c.cpp", "int four(int x) { return 4 * x; }\n")
    database(extra=["src/c.cpp"])
    status, todo = check()
    expect(status == 3, f"another file: the record does not apply (status {status})")
    database()

    with open(record, "a") as f:
        f.write("passed not-a-hash\n")
    status, todo = check()
    expect(status == 3, f"a corrupt record: it does not apply (status {status})")
    os.remove(record)
    status, todo = check()
    expect(status == 3, f"no record: it does not apply (status {status})")

sys.exit(1 if failures else 0)
