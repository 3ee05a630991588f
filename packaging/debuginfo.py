"""Strip debug information from the Linux bundle's shared libraries, and only that.

Many wheels ship their libraries with DWARF debug information that nothing reads at run time:
measured on the Linux bundle (PyInstaller 6.22), 101 MiB of its 457 MiB of ELF files: numkong
40, PyAV's Cython modules 25 (a 3.9 MB module is 0.5 MB without), libpython 16, usearch 7.

PyInstaller's own ``strip=True`` runs a full ``strip`` on every library, and that breaks
libraries that auditwheel's patchelf rewrote: binutils 2.40 lays their segments out again
misaligned, and NumPy's OpenBLAS then fails to load ("ELF load command address/offset not
page-aligned"; seen in a build). So here only files that carry ``.debug*`` sections go
through ``strip --strip-debug`` (symbol tables kept), and a result whose loadable segments are
not aligned as the loader needs is thrown away: that library ships as it came. Used by
packaging/clipdesk.spec on Linux; the build's smoke test then runs the stripped bundle.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

_PT_LOAD = 1


@dataclass(frozen=True)
class ElfFacts:
    debug: bool  # carries .debug* sections
    aligned: bool  # every loadable segment's file offset agrees with its address (mod align)


def elf_facts(path: Path) -> ElfFacts | None:
    """What matters about a 64-bit little-endian ELF file; None for anything else."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            phoff, shoff = struct.unpack_from("<QQ", head, 0x20)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", head,
                                                                              0x36)
            aligned = True
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                kind, _, offset, vaddr, _, _, _, align = struct.unpack_from(
                    "<IIQQQQQQ", table, i * phentsize)
                if kind == _PT_LOAD and align > 1 and (offset - vaddr) % align:
                    aligned = False
            debug = False
            if shoff and shnum and shstrndx < shnum:
                f.seek(shoff)
                sections = f.read(shentsize * shnum)
                names_at, names_size = struct.unpack_from("<QQ", sections,
                                                          shstrndx * shentsize + 0x18)
                f.seek(names_at)
                names = f.read(names_size)
                for i in range(shnum):
                    (name,) = struct.unpack_from("<I", sections, i * shentsize)
                    if names[name:name + 6] == b".debug":
                        debug = True
                        break
            return ElfFacts(debug, aligned)
    except (OSError, struct.error):
        return None


def strip_debug(src: Path, out: Path) -> bool:
    """``out``: ``src`` without its debug information. False (and no ``out``) when ``src``
    has none, is no ELF file, or stripping would leave it unloadable."""
    facts = elf_facts(src)
    if facts is None or not facts.debug or not facts.aligned:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["strip", "--strip-debug", "-o", str(out), str(src)],
                          capture_output=True, text=True)
    stripped = elf_facts(out) if done.returncode == 0 else None
    if stripped is None or stripped.debug or not stripped.aligned:
        out.unlink(missing_ok=True)
        return False
    return True


def strip_binaries(binaries: list, workdir: Path) -> tuple[list, int, list[str]]:
    """PyInstaller's binaries TOC (``(dest, src, typecode)``) with each library that carries
    debug information replaced by a stripped copy under ``workdir``; returns the new TOC, the
    bytes saved and the libraries kept as they were because stripping would misalign them."""
    if shutil.which("strip") is None:
        print("debuginfo: no `strip` on the PATH (binutils): libraries ship as they came")
        return list(binaries), 0, []
    out, saved, kept = [], 0, []
    for entry in binaries:
        dest, src, kind = entry[0], entry[1], entry[2]
        if kind in ("BINARY", "EXTENSION") and Path(src).is_file():
            target = workdir / dest
            if strip_debug(Path(src), target):
                saved += Path(src).stat().st_size - target.stat().st_size
                out.append((dest, str(target), kind))
                continue
            facts = elf_facts(Path(src))
            if facts is not None and facts.debug:
                kept.append(dest)
        out.append(entry)
    return out, saved, kept
