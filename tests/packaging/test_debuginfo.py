"""The Linux bundle's libraries lose their debug information and nothing else
(packaging/debuginfo.py), on real libraries from the installed wheels."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import rawpy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="ELF libraries: the Linux bundle only")


def _wheel_lib(package, pattern: str) -> Path:
    site = Path(package.__file__).resolve().parent.parent
    found = sorted(site.glob(pattern))
    assert found, pattern
    return found[0]


def test_a_library_with_debug_information_loses_it_and_still_works(debuginfo, tmp_path):
    # rawpy's wheel ships Little CMS with its DWARF sections
    lcms = _wheel_lib(rawpy, "rawpy.libs/liblcms2*.so*")
    assert debuginfo.elf_facts(lcms) == debuginfo.ElfFacts(debug=True, aligned=True)

    out = tmp_path / "lib" / lcms.name
    assert debuginfo.strip_debug(lcms, out)
    assert debuginfo.elf_facts(out) == debuginfo.ElfFacts(debug=False, aligned=True)
    assert out.stat().st_size < 0.8 * lcms.stat().st_size
    # it loads and answers as before
    before, after = ctypes.CDLL(str(lcms)), ctypes.CDLL(str(out))
    assert after.cmsGetEncodedCMMversion() == before.cmsGetEncodedCMMversion() > 2000


def test_alignment_check_agrees_with_the_loader_on_a_fully_stripped_patched_library(
        debuginfo, tmp_path):
    """A full `strip` of NumPy's OpenBLAS (patched by auditwheel) is what broke a build:
    whatever this binutils makes of it, elf_facts calls it aligned exactly when it loads."""
    blas = _wheel_lib(numpy, "numpy.libs/*openblas*.so*")
    assert debuginfo.strip_debug(blas, tmp_path / "x.so") is False  # no DWARF: left alone
    assert not (tmp_path / "x.so").exists()
    full = tmp_path / blas.name
    shutil.copyfile(blas, full)
    subprocess.run(["strip", str(full)], check=True)
    loads = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(full)!r})"],
                           capture_output=True).returncode == 0
    assert debuginfo.elf_facts(full).aligned == loads


def test_only_libraries_with_debug_information_are_replaced_in_the_toc(debuginfo, tmp_path):
    lcms = _wheel_lib(rawpy, "rawpy.libs/liblcms2*.so*")
    blas = _wheel_lib(numpy, "numpy.libs/*openblas*.so*")
    data = tmp_path / "notes.txt"
    data.write_text("not a library")
    toc = [("rawpy.libs/" + lcms.name, str(lcms), "BINARY"),
           ("numpy.libs/" + blas.name, str(blas), "BINARY"),
           ("notes.txt", str(data), "BINARY"),
           ("libfoo.so", "libfoo.so.1", "SYMLINK")]

    new, saved, kept = debuginfo.strip_binaries(toc, tmp_path / "stripped")

    assert new[0] == (toc[0][0], str(tmp_path / "stripped" / toc[0][0]), "BINARY")
    assert saved == lcms.stat().st_size - Path(new[0][1]).stat().st_size > 0
    assert new[1:] == toc[1:] and kept == []
