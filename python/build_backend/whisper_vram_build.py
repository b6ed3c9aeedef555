"""An in-tree PEP 517 build backend for whisper-vram: ``pip install .`` with nothing downloaded.

CI and the build machines have no PyPI, and Debian's setuptools is invisible to other interpreters
(pyenv's), so this backend needs only the standard library, ``cmake`` (and ``ninja`` when present)
on PATH and the Debian packages CMake finds (pybind11-dev, fmt…). It configures the project with the
tests and benchmarks off, builds the ``whisper_vram_python`` target for the interpreter running pip,
and writes the wheel itself (METADATA, WHEEL, RECORD with sha256).

The version and the summary are read from ``project(... VERSION ... DESCRIPTION ...)`` in the
top-level CMakeLists.txt, the one place they are written; pyproject.toml declares them dynamic.

The CMake build folder is kept between builds (``build/pip`` in the source tree, or
``--config-settings build-dir=PATH``, or ``WHISPER_VRAM_BUILD_DIR``), so a rebuild is incremental;
ccache is used when it is on PATH. The build type is Release (``build-type=...`` or
``WHISPER_VRAM_BUILD_TYPE`` to change it).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from typing import Dict, List, Optional, Tuple

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE = "whisper_vram"
PACKAGE_SOURCE = os.path.join(SOURCE_DIR, "python", PACKAGE)
# The files of the package besides the compiled _core (python/CMakeLists.txt globs the same).
PACKAGE_FILE = re.compile(r"^(.*\.pyi?|py\.typed)$")

__all__ = ["build_wheel", "build_sdist", "prepare_metadata_for_build_wheel",
           "get_requires_for_build_wheel", "get_requires_for_build_sdist"]


# ---- metadata ----------------------------------------------------------------------------------

def _cmake_project() -> Tuple[str, str]:
    """(version, description) from project() in the top-level CMakeLists.txt."""
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"project\s*\(([^)]*)\)", text)
    if not match:
        raise RuntimeError("whisper_vram_build: no project(...) in CMakeLists.txt")
    args = match.group(1)
    version = re.search(r"\bVERSION\s+([0-9]+(?:\.[0-9]+)*)", args)
    if not version:
        raise RuntimeError(f"whisper_vram_build: project({args.strip()}) in CMakeLists.txt has no VERSION")
    description = re.search(r'\bDESCRIPTION\s+"([^"]*)"', args)
    return version.group(1), description.group(1) if description else ""


def _pyproject() -> Dict[str, object]:
    """The [project] table of pyproject.toml."""
    path = os.path.join(SOURCE_DIR, "pyproject.toml")
    with open(path, "rb") as f:
        data = f.read()
    try:
        import tomllib  # Python 3.11+
        return tomllib.loads(data.decode("utf-8")).get("project", {})
    except ImportError:
        pass
    # Older interpreters: the flat `key = "value"` lines of [project] are all this backend reads.
    project: Dict[str, object] = {}
    section = None
    for line in data.decode("utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "project":
            m = re.match(r'^([A-Za-z0-9_-]+)\s*=\s*"([^"]*)"', line)
            if m:
                project[m.group(1)] = m.group(2)
    return project


def _metadata() -> Tuple[str, str, str]:
    """(distribution name, version, METADATA text)."""
    project = _pyproject()
    name = str(project.get("name", "whisper-vram"))
    version, description = _cmake_project()
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    summary = str(project.get("description", description))
    if summary:
        lines.append(f"Summary: {summary}")
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    license_ = project.get("license")
    if isinstance(license_, dict) and license_.get("text"):
        lines.append(f"License: {license_['text']}")
    return name, version, "\n".join(lines) + "\n"


def _dist_name(name: str) -> str:
    """The distribution name as file names spell it (PEP 427: runs of -_. become _)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_tag() -> str:
    """interpreter-abi-platform of the running interpreter, e.g. cp311-cp311-linux_x86_64."""
    impl = {"cpython": "cp", "pypy": "pp"}.get(sys.implementation.name, sys.implementation.name)
    interpreter = f"{impl}{sys.version_info[0]}{sys.version_info[1]}"
    soabi = sysconfig.get_config_var("SOABI") or ""
    parts = soabi.split("-")
    abi = f"cp{parts[1]}" if soabi.startswith("cpython-") and len(parts) > 1 else "none"
    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return f"{interpreter}-{abi}-{platform}"


def _wheel_file(tag: str) -> str:
    return (f"Wheel-Version: 1.0\nGenerator: whisper_vram_build\nRoot-Is-Purelib: false\nTag: {tag}\n")


# ---- the CMake build ---------------------------------------------------------------------------

def _setting(config_settings: Optional[Dict[str, object]], key: str, variable: str) -> Optional[str]:
    """--config-settings KEY=VALUE, else the environment variable, else None."""
    value = (config_settings or {}).get(key) or os.environ.get(variable)
    return str(value) if value else None


def _build_dir(config_settings: Optional[Dict[str, object]]) -> str:
    configured = _setting(config_settings, "build-dir", "WHISPER_VRAM_BUILD_DIR")
    return os.path.abspath(configured) if configured else os.path.join(SOURCE_DIR, "build", "pip")


def _run(command: List[str]) -> None:
    # The build's output goes to stderr: pip shows it with -v, and on failure.
    print("whisper_vram_build: " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"whisper_vram_build: `{' '.join(command)}` exited {result.returncode}")


def _build_extension(build_dir: str, build_type: str) -> str:
    """Configures and builds the whisper_vram_python target; returns the path of _core*.so."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise RuntimeError("whisper_vram_build: cmake is not on PATH (Debian: apt-get install cmake)")
    configure = [cmake, "-S", SOURCE_DIR, "-B", build_dir, f"-DCMAKE_BUILD_TYPE={build_type}",
                 "-DWHISPER_VRAM_BUILD_TESTS=OFF", "-DWHISPER_VRAM_BUILD_BENCH=OFF",
                 "-DWHISPER_VRAM_BUILD_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"]
    if not os.path.exists(os.path.join(build_dir, "CMakeCache.txt")) and shutil.which("ninja"):
        configure += ["-G", "Ninja"]  # a generator is chosen once, when the folder is new
    if shutil.which("ccache"):
        configure += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
    _run(configure)
    build = [cmake, "--build", build_dir, "--target", "whisper_vram_python"]
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
    _run(build + ["--parallel", jobs])
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    extension = os.path.join(build_dir, "python", PACKAGE, "_core" + suffix)
    if not os.path.exists(extension):
        raise RuntimeError(f"whisper_vram_build: the build made no {extension} (is CMake's Python "
                           f"the interpreter running pip, {sys.executable}?)")
    return extension


def _package_files() -> List[str]:
    """The pure-Python files of the package (names relative to python/whisper_vram)."""
    return sorted(f for f in os.listdir(PACKAGE_SOURCE)
                  if PACKAGE_FILE.match(f) and os.path.isfile(os.path.join(PACKAGE_SOURCE, f)))


# ---- PEP 517 hooks -----------------------------------------------------------------------------

def get_requires_for_build_wheel(config_settings: Optional[Dict[str, object]] = None) -> List[str]:
    """Nothing from PyPI: cmake, a C++ compiler and pybind11 come from the system."""
    return []


def get_requires_for_build_sdist(config_settings: Optional[Dict[str, object]] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str,
                                     config_settings: Optional[Dict[str, object]] = None) -> str:
    name, version, metadata = _metadata()
    dist_info = f"{_dist_name(name)}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(metadata)
    with open(os.path.join(metadata_directory, dist_info, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(_wheel_file(_wheel_tag()))
    return dist_info


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(wheel_directory: str, config_settings: Optional[Dict[str, object]] = None,
                metadata_directory: Optional[str] = None) -> str:
    """Builds the extension with CMake and writes <name>-<version>-<tag>.whl into wheel_directory."""
    name, version, metadata = _metadata()
    build_type = _setting(config_settings, "build-type", "WHISPER_VRAM_BUILD_TYPE") or "Release"
    extension = _build_extension(_build_dir(config_settings), build_type)
    tag = _wheel_tag()
    dist = _dist_name(name)
    dist_info = f"{dist}-{version}.dist-info"
    contents: List[Tuple[str, bytes, int]] = []  # (path in the wheel, bytes, unix mode)
    for file in _package_files():
        with open(os.path.join(PACKAGE_SOURCE, file), "rb") as f:
            contents.append((f"{PACKAGE}/{file}", f.read(), 0o644))
    with open(extension, "rb") as f:
        contents.append((f"{PACKAGE}/{os.path.basename(extension)}", f.read(), 0o755))
    contents.append((f"{dist_info}/METADATA", metadata.encode("utf-8"), 0o644))
    contents.append((f"{dist_info}/WHEEL", _wheel_file(tag).encode("utf-8"), 0o644))
    record = [_record_line(path, data) for path, data, _ in contents] + [f"{dist_info}/RECORD,,"]
    contents.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode("utf-8"), 0o644))

    wheel_name = f"{dist}-{version}-{tag}.whl"
    os.makedirs(wheel_directory, exist_ok=True)
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as wheel:
        for path, data, mode in contents:
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name


def _sdist_files() -> List[str]:
    """The files git tracks or would (not ignored): the source tree without builds; without git, every
    file but build and hidden folders."""
    try:
        listed = subprocess.run(["git", "-C", SOURCE_DIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                capture_output=True, check=True)
        files = [f for f in listed.stdout.decode("utf-8").split("\0") if f]
        return sorted(f for f in files if os.path.isfile(os.path.join(SOURCE_DIR, f)))
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for root, dirs, names in os.walk(SOURCE_DIR):
        dirs[:] = [d for d in dirs if not (d.startswith(".") or d.startswith("build") or d == "__pycache__")]
        files += [os.path.relpath(os.path.join(root, n), SOURCE_DIR) for n in names]
    return sorted(files)


def build_sdist(sdist_directory: str, config_settings: Optional[Dict[str, object]] = None) -> str:
    """<name>-<version>.tar.gz: the source tree (git's files) with PKG-INFO at its top."""
    name, version, metadata = _metadata()
    base = f"{_dist_name(name)}-{version}"
    os.makedirs(sdist_directory, exist_ok=True)
    with tarfile.open(os.path.join(sdist_directory, base + ".tar.gz"), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for file in _sdist_files():
            tar.add(os.path.join(SOURCE_DIR, file), arcname=f"{base}/{file}", recursive=False)
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = metadata.encode("utf-8")
        info.size = len(data)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return base + ".tar.gz"
