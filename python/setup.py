"""Builds libllv.so for the package: `pip install ./python` compiles the
library from this repository (CMake, the library target only) and puts it
inside the package, so the installed package needs nothing else at run
time. LLV_LIBRARY=/path/to/libllv.so.N skips the build and bundles that file
instead (the tests use the library they just built)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def version() -> str:
    h = (ROOT / "include" / "llv.h").read_text()
    parts = [re.search(rf"#define LLV_VERSION_{k} +(\d+)", h).group(1) for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def build_library(tmp: Path) -> Path:
    given = os.environ.get("LLV_LIBRARY")
    if given:
        return Path(given).resolve()
    if not (ROOT / "CMakeLists.txt").exists():
        raise SystemExit("llv: build the package from the llv repository (pip install ./python), or set LLV_LIBRARY")
    build = tmp / "libllv-build"
    jobs = str(os.cpu_count() or 2)
    subprocess.check_call(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                           "-DLLV_BUILD_TESTS=OFF", "-DLLV_BUILD_BENCH=OFF", "-DLLV_BUILD_SERVER=OFF"])
    subprocess.check_call(["cmake", "--build", str(build), "--target", "llv_shared", "-j", jobs])
    libs = sorted((build / "lib").glob("libllv.so.*"), key=lambda p: len(p.name))
    if not libs:
        raise SystemExit("llv: the build produced no libllv.so")
    return libs[0]  # libllv.so.<ABI>: the soname


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        lib = build_library(Path(self.build_lib).resolve().parent / "llv-tmp")
        dest = Path(self.build_lib) / "llv"
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob("libllv.so*"):
            old.unlink()
        shutil.copy2(lib, dest / "libllv.so")


setup(version=version(), cmdclass={"build_py": BuildWithLibrary})
