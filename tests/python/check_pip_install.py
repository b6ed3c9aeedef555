"""`pip install .` works offline: the in-tree backend (python/build_backend) builds the module with
CMake, pip installs the wheel into a scratch folder, and from there whisper_vram imports with the
version of CMakeLists.txt's project(VERSION) and runs the guide's first example.

Usage: check_pip_install.py REPO EXPECTED_VERSION  (ctest python_pip_install). The CMake build folder
comes from WHISPER_VRAM_BUILD_DIR (kept between runs, so a rerun is incremental).
"""

import base64
import csv
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile


def fail(message):
    print(f"check_pip_install: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def check_record(target):
    """Every file the RECORD lists exists with its sha256 and size (the wheel was written right)."""
    dist_info = [d for d in os.listdir(target) if d.endswith(".dist-info")]
    if len(dist_info) != 1:
        fail(f"expected one .dist-info in {target}, found {dist_info}")
    with open(os.path.join(target, dist_info[0], "RECORD"), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    listed = set()
    for path, digest, size in rows:
        listed.add(path)
        if not digest:
            continue
        with open(os.path.join(target, path), "rb") as f:
            data = f.read()
        expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if digest != expected or int(size) != len(data):
            fail(f"RECORD entry {path}: {digest} {size} but the file has {expected} {len(data)}")
    for needed in ("whisper_vram/__init__.py", "whisper_vram/results.py", "whisper_vram/_core.pyi",
                   "whisper_vram/py.typed"):
        if needed not in listed:
            fail(f"{needed} is not in the wheel (RECORD: {sorted(listed)})")
    if not any(p.startswith("whisper_vram/_core.") and p.endswith(".so") for p in listed):
        fail(f"no compiled whisper_vram/_core*.so in the wheel (RECORD: {sorted(listed)})")
    return dist_info[0]


def main():
    repo, expected_version = sys.argv[1], sys.argv[2]
    scratch = tempfile.mkdtemp(prefix="whisper-vram-pip-")
    target = os.path.join(scratch, "site")
    install = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
               "--disable-pip-version-check", "--target", target, repo]
    print("check_pip_install: " + " ".join(install), flush=True)
    run = subprocess.run(install, capture_output=True, text=True, timeout=540, check=False)
    if run.returncode != 0:
        fail(f"pip exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
    dist_info = check_record(target)
    if dist_info != f"whisper_vram-{expected_version}.dist-info":
        fail(f"installed {dist_info}, expected whisper_vram-{expected_version}.dist-info")

    env = dict(os.environ, PYTHONPATH=target, WHISPER_VRAM_SIMULATE="8GiB",
               WHISPER_VRAM_STATE_DIR=os.path.join(scratch, "state"))
    probe = subprocess.run([sys.executable, "-c", "import whisper_vram; print(whisper_vram.__version__); "
                            "print(whisper_vram.__file__)"], capture_output=True, text=True, env=env,
                           cwd=scratch, timeout=60, check=False)
    lines = probe.stdout.splitlines()
    if probe.returncode != 0 or len(lines) != 2:
        fail(f"import whisper_vram from {target} exited {probe.returncode}:\n{probe.stdout}\n{probe.stderr}")
    if lines[0] != expected_version:
        fail(f"whisper_vram.__version__ is {lines[0]!r}, CMakeLists.txt says {expected_version!r}")
    if not os.path.realpath(lines[1]).startswith(os.path.realpath(target) + os.sep):
        fail(f"whisper_vram was imported from {lines[1]}, not from the pip-installed {target}")

    example = subprocess.run([sys.executable, os.path.join(repo, "examples", "guide", "usage.py")],
                             capture_output=True, text=True, env=env, cwd=scratch, timeout=60, check=False)
    out = example.stdout.splitlines()
    if example.returncode != 0 or out[:2] != ["total: 4.22GB", "recommended: 5.06GB"]:
        fail(f"the guide's first example printed {out[:2]} (exit {example.returncode}):\n{example.stderr}")

    # The sdist hook: the source tree with PKG-INFO, named by the same version.
    sys.path.insert(0, os.path.join(repo, "python", "build_backend"))
    import whisper_vram_build  # noqa: E402 (the backend pip used)
    sdist = whisper_vram_build.build_sdist(os.path.join(scratch, "dist"))
    base = f"whisper_vram-{expected_version}"
    if sdist != base + ".tar.gz":
        fail(f"build_sdist wrote {sdist}, expected {base}.tar.gz")
    with tarfile.open(os.path.join(scratch, "dist", sdist)) as tar:
        names = set(tar.getnames())
    for needed in ("PKG-INFO", "pyproject.toml", "CMakeLists.txt", "python/bindings.cpp"):
        if f"{base}/{needed}" not in names:
            fail(f"{needed} is missing from the sdist")
    print(f"check_pip_install: ok: {dist_info} in {target}; __version__ {lines[0]}; usage.py: {out[0]}")


if __name__ == "__main__":
    main()
