"""Build ClipDesk's bundle and installer for this OS with one command.

    python packaging/build.py [--model-dir DIR] [--bundle-model DIR]

1. draws the icon set from resources/clipdesk.svg (packaging/icons.py) into build/icons;
2. runs PyInstaller on packaging/clipdesk.spec (one-folder bundle in dist/, no torch);
3. smoke-tests the frozen program: ``--version``, ``selftest`` on a model folder (which must
   say it ran on ONNX Runtime), ``index --int8`` (ONNX Runtime's quantizer and onnx) of two
   JPEGs, a DNG, a HEIC and a one-second video per container (packaging/smoke_media.py: LibRaw,
   libheif and FFmpeg in the bundle), ``search`` finding each of them, and the window coming up
   (offscreen); a tiny random ONNX model is made for it by packaging/smoke_model.py unless
   ``--model-dir`` names one (no network, no torch);
4. makes this OS's installers in dist/: Linux ``.deb`` + ``.tar.gz`` (+ AppImage when
   ``appimagetool`` is on the PATH), Windows Inno Setup ``.exe``, macOS ``.dmg``.

``--bundle-model DIR`` ships an ONNX-layout model folder (``config.json``, ``visual/``,
``textual/``) inside the bundle: the offline edition, which never downloads. The build runs
with the interpreter that runs this script, in an environment with ClipDesk and its build
extra but without torch (the spec refuses to freeze it)::

    python -m venv build-venv
    build-venv/bin/pip install -c packaging/constraints.txt -e ".[build]"
    build-venv/bin/python packaging/build.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import buildinfo  # noqa: E402
from buildinfo import APP_NAME, EXE_NAME, ROOT  # noqa: E402

PACKAGING = ROOT / "packaging"
BUILD = ROOT / "build"
DIST = ROOT / "dist"
SPEC = PACKAGING / "clipdesk.spec"

# Top-level folders of the bundle's data folder that would mean the torch stack got in
# (the spec refuses them; this checks what came out)
TORCH_STACK = ("torch", "torchvision", "open_clip", "triton", "nvidia", "safetensors",
               "transformers", "timm", "sympy")


# ---------------------------------------------------------------------------- layout


def bundle_dir(system: str = sys.platform) -> Path:
    """What PyInstaller leaves in dist/: the folder (Linux, Windows) or the .app (macOS)."""
    return DIST / (f"{APP_NAME}.app" if system == "darwin" else APP_NAME)


def frozen_cli(system: str = sys.platform) -> Path:
    """The frozen program that prints: the one on Linux, the console twin on Windows."""
    if system == "win32":
        return bundle_dir(system) / "clipdesk-cli.exe"
    if system == "darwin":
        return bundle_dir(system) / "Contents" / "MacOS" / EXE_NAME
    return bundle_dir(system) / EXE_NAME


def deb_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def tree_size(path: Path) -> int:
    """Bytes in the files under ``path`` (links not followed, not counted twice)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def largest(bundle: Path, n: int = 25) -> list[tuple[int, str]]:
    """The ``n`` biggest entries of the bundle's data folder (``du -s _internal/*``)."""
    data = next((d for d in (bundle / "_internal", bundle / "Contents" / "Frameworks")
                 if d.is_dir()), bundle)
    sizes = [(0 if p.is_symlink() else tree_size(p), p.name) for p in data.iterdir()]
    return sorted(sizes, reverse=True)[:n]


def torch_in_bundle(bundle: Path) -> list[str]:
    """Paths in the bundle that belong to the torch stack (none, in a good build)."""
    found = []
    for path in bundle.rglob("*"):
        name = path.name.split(".", 1)[0].split("-", 1)[0]
        if (path.is_dir() and name in TORCH_STACK) or path.name.startswith(("libtorch", "libc10",
                                                                             "libcudnn")):
            found.append(str(path.relative_to(bundle)))
    return found


@contextmanager
def timed(times: dict[str, float], step: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        times[step] = time.perf_counter() - started


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    started = time.perf_counter()
    done = subprocess.run([str(c) for c in cmd], check=True, **kw)
    print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    return done


# ---------------------------------------------------------------------------- steps


def make_smoke_model(folder: Path) -> Path:
    """A tiny random CLIP in the ONNX layout (``local-dir``), made without torch
    (packaging/smoke_model.py)."""
    from smoke_model import make_smoke_model as make

    return make(folder)


def pyinstaller(icons: Path, bundle_model: Path | None) -> None:
    cmd = [sys.executable, "-m", "PyInstaller", SPEC, "--noconfirm", "--clean",
           "--distpath", DIST, "--workpath", BUILD / "pyinstaller", "--", "--icons", icons]
    if bundle_model:
        cmd += ["--bundle-model", bundle_model]
    run(cmd)


def smoke_test(model_dir: Path | None) -> str:
    """Run the frozen program as a user would, in a throwaway home; returns what it printed."""
    exe = frozen_cli()
    transcript = []
    with tempfile.TemporaryDirectory(prefix="clipdesk-smoke-") as tmp:
        env = dict(os.environ, CLIPDESK_LIBRARY=f"{tmp}/library", CLIPDESK_CONFIG_DIR=f"{tmp}/config",
                   CLIPDESK_LOG_DIR=f"{tmp}/log", HF_HOME=f"{tmp}/hf", HF_HUB_OFFLINE="1",
                   QT_QPA_PLATFORM="offscreen")
        env.pop("CLIPDESK_MODEL", None)
        env.pop("CLIPDESK_RUNTIME", None)
        model = ["--model", f"local-dir:{model_dir}"] if model_dir else []  # else the bundled one
        photos = Path(tmp) / "photos"
        photos.mkdir()
        from PIL import Image
        from smoke_media import write_media

        for i, colour in enumerate(("red", "blue")):
            Image.new("RGB", (64, 48), colour).save(photos / f"{i}-{colour}.jpg")
        # a DNG (rawpy, LibRaw), a HEIC (pi-heif, libheif) and a video per container (PyAV,
        # FFmpeg): each must be embedded and found, so a native library missing from the
        # bundle fails here
        media = write_media(photos)
        listed = [p.name if p.suffix in (".dng", ".heic") else f"{p.name}\tt=" for p in media]
        for args, extra_env, expects in (
            (["--version"], {}, [buildinfo.version()]),
            # selftest names the runtime: "64-d, onnx on cpu"
            (["selftest", *model], {}, ["selftest passed", ", onnx on "]),
            # int8 runs ONNX Runtime's quantizer, which needs onnx in the bundle
            (["index", "--int8", *model, str(photos)], {},
             [f"{2 + len(media)} embedded", "0 failed"]),
            # every file comes back; a video with its moment (score<TAB>path<TAB>t=M:SS)
            (["search", "a red disc", *model, "--cutoff", "none", "-n", "50"], {}, listed),
            ([], {"CLIPDESK_STARTUP_PROBE": "shown"}, ["CLIPDESK-SHOWN"]),  # the window comes up
        ):
            started = time.perf_counter()
            done = subprocess.run([str(exe), *args], env={**env, **extra_env}, capture_output=True,
                                  text=True, timeout=600)
            seconds = time.perf_counter() - started
            out = (done.stdout + done.stderr).strip()
            transcript.append(f"$ {exe.name} {' '.join(args)}  ({seconds:.1f} s, exit {done.returncode})"
                              f"\n{out}")
            print(transcript[-1], flush=True)
            missing = [e for e in expects if e not in out]
            if done.returncode != 0 or missing:
                raise SystemExit(f"smoke test failed: `{exe.name} {' '.join(args)}` "
                                 f"(exit {done.returncode}; expected {missing} in its output)")
    return "\n".join(transcript)


def stage_deb(bundle: Path, icons: Path, version: str, arch: str, out: Path = BUILD / "deb") -> Path:
    """The .deb's file tree: /opt/clipdesk, /usr/bin/clipdesk, the desktop entry, hicolor icons."""
    stage = out / f"clipdesk_{version}_{arch}"
    if stage.exists():
        shutil.rmtree(stage)
    opt = stage / "opt" / "clipdesk"
    shutil.copytree(bundle, opt, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / EXE_NAME).symlink_to(f"/opt/clipdesk/{EXE_NAME}")
    apps = stage / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "linux" / "clipdesk.desktop", apps / "clipdesk.desktop")
    shutil.copytree(icons / "hicolor", stage / "usr" / "share" / "icons" / "hicolor")
    doc = stage / "usr" / "share" / "doc" / "clipdesk"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("ClipDesk, MIT licence. The bundled libraries keep their own "
                                   "licences (ONNX Runtime: MIT, its notices in /opt/clipdesk/"
                                   "_internal/onnxruntime; Qt for Python: LGPLv3).\n")
    for path in [stage, *stage.rglob("*")]:  # root-owned, world-readable, like any package
        if path.is_symlink():
            continue
        executable = path.is_dir() or os.access(path, os.X_OK)
        path.chmod(0o755 if executable else 0o644)
    control = (PACKAGING / "linux" / "control.in").read_text()
    control = (control.replace("@VERSION@", version).replace("@ARCH@", arch)
               .replace("@SIZE_KB@", str(tree_size(stage) // 1024)))
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN" / "control").write_text(control)
    return stage


# zstd's level for the .deb: measured on the 361 MiB bundle, level 3 (dpkg's default) gives
# 130 MiB in 2 s, 9 gives 119 MiB in 8-16 s, 19 gives 105 MiB in 4 minutes
DEB_ZSTD_LEVEL = 9


def linux_installers(icons: Path, version: str, compression: str,
                     times: dict[str, float] | None = None) -> list[Path]:
    bundle, arch = bundle_dir(), deb_arch()
    times = {} if times is None else times
    made = []
    level = [f"-z{DEB_ZSTD_LEVEL}"] if compression == "zstd" else []
    with timed(times, ".deb"):
        stage = stage_deb(bundle, icons, version, arch)
        deb = DIST / f"clipdesk_{version}_{arch}.deb"
        run(["dpkg-deb", "--root-owner-group", f"-Z{compression}", *level, "--build", stage,
             deb])
    made.append(deb)

    tarball = DIST / f"clipdesk-{version}-linux-{platform.machine()}.tar.gz"
    gzip = "pigz" if shutil.which("pigz") else "gzip"
    with timed(times, ".tar.gz"):
        run(["tar", "-I", gzip, "-C", DIST, "-cf", tarball, bundle.name])
    made.append(tarball)

    appimagetool = shutil.which("appimagetool")
    if appimagetool:
        appdir = BUILD / f"{APP_NAME}.AppDir"
        if appdir.exists():
            shutil.rmtree(appdir)
        shutil.copytree(bundle, appdir, symlinks=True)
        shutil.copyfile(PACKAGING / "linux" / "clipdesk.desktop", appdir / "clipdesk.desktop")
        shutil.copyfile(icons / "hicolor" / "256x256" / "apps" / "clipdesk.png",
                        appdir / "clipdesk.png")
        (appdir / "AppRun").write_text('#!/bin/sh\nexec "$(dirname "$(readlink -f "$0")")/'
                                       f'{EXE_NAME}" "$@"\n')
        (appdir / "AppRun").chmod(0o755)
        image = DIST / f"{APP_NAME}-{version}-{platform.machine()}.AppImage"
        run([appimagetool, appdir, image], env=dict(os.environ, ARCH=platform.machine()))
        made.append(image)
    else:
        print("appimagetool is not on the PATH: no AppImage (the .deb and .tar.gz are made)")
    return made


def windows_installer(icons: Path, version: str) -> list[Path]:
    iscc = shutil.which("iscc") or next(
        (p for p in (Path(os.environ.get(v, "")) / "Inno Setup 6" / "ISCC.exe"
                     for v in ("ProgramFiles(x86)", "ProgramFiles", "LOCALAPPDATA"))
         if p.is_file()), None)
    if not iscc:
        raise SystemExit("Inno Setup 6 (ISCC.exe) not found: choco install innosetup")
    run([iscc, f"/DAppVersion={version}", f"/DSourceDir={bundle_dir()}", f"/DOutputDir={DIST}",
         f"/DIconFile={icons / 'clipdesk.ico'}", PACKAGING / "windows" / "clipdesk.iss"])
    return [DIST / f"ClipDesk-{version}-setup.exe"]


def macos_installer(version: str) -> list[Path]:
    app = bundle_dir()
    # Signing and notarisation: set CODESIGN_IDENTITY ("Developer ID Application: ...") and,
    # for notarisation, NOTARY_PROFILE (made once with `xcrun notarytool store-credentials`).
    identity = os.environ.get("CODESIGN_IDENTITY")
    if identity:
        run(["codesign", "--force", "--deep", "--options", "runtime", "--timestamp",
             "--entitlements", PACKAGING / "macos" / "entitlements.plist", "--sign", identity, app])
    stage = BUILD / "dmg"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    shutil.copytree(app, stage / app.name, symlinks=True)
    (stage / "Applications").symlink_to("/Applications")
    dmg = DIST / f"ClipDesk-{version}-macos-{platform.machine()}.dmg"
    dmg.unlink(missing_ok=True)
    run(["hdiutil", "create", "-volname", APP_NAME, "-srcfolder", stage, "-fs", "HFS+",
         "-format", "UDZO", "-ov", dmg])
    if identity:
        run(["codesign", "--sign", identity, "--timestamp", dmg])
        profile = os.environ.get("NOTARY_PROFILE")
        if profile:
            run(["xcrun", "notarytool", "submit", dmg, "--keychain-profile", profile, "--wait"])
            run(["xcrun", "stapler", "staple", dmg])
    return [dmg]


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="local-dir model for the smoke test, "
                        "in the ONNX layout (default: a tiny random model made here, "
                        "packaging/smoke_model.py)")
    parser.add_argument("--bundle-model", type=Path, metavar="DIR", help="ship this ONNX-layout "
                        "model folder (config.json, visual/, textual/) inside the bundle "
                        "(offline edition); the smoke test then uses it")
    parser.add_argument("--deb-compression", default="zstd", choices=["zstd", "gzip", "xz"],
                        help="dpkg-deb compressor (default zstd, at level 9: xz is slow on a "
                        "bundle this big)")
    parser.add_argument("--skip-pyinstaller", action="store_true",
                        help="reuse the bundle already in dist/ (installer work only)")
    parser.add_argument("--skip-installer", action="store_true", help="bundle and smoke test only")
    args = parser.parse_args(argv)

    version = buildinfo.version()
    times: dict[str, float] = {}
    started = time.perf_counter()

    from icons import make_icons

    icons = BUILD / "icons"
    with timed(times, "icons"):
        make_icons(icons)
    if not args.skip_pyinstaller:
        with timed(times, "pyinstaller"):
            pyinstaller(icons, args.bundle_model)
    stray = torch_in_bundle(bundle_dir())
    if stray:
        raise SystemExit("the bundle carries the torch stack: " + ", ".join(stray[:10]))

    model_dir = args.model_dir
    if model_dir is None and args.bundle_model is None:
        with timed(times, "smoke model"):
            model_dir = make_smoke_model(BUILD / "smoke-model")
    with timed(times, "smoke test"):
        transcript = smoke_test(model_dir.resolve() if model_dir else None)

    made: list[Path] = []
    if not args.skip_installer:
        with timed(times, "installers"):
            if sys.platform.startswith("linux"):
                made = linux_installers(icons, version, args.deb_compression, times)
            elif sys.platform == "win32":
                made = windows_installer(icons, version)
            elif sys.platform == "darwin":
                made = macos_installer(version)
    times["total"] = time.perf_counter() - started

    summary = [f"ClipDesk {version} for {sys.platform} ({platform.machine()}), no torch",
               f"bundle {bundle_dir()}: {mib(tree_size(bundle_dir()))}"]
    summary += [f"{path.name}: {mib(path.stat().st_size)}" for path in made]
    summary += [f"time, {step}: {seconds:.0f} s" for step, seconds in times.items()]
    summary += ["largest in the bundle:"]
    summary += [f"  {mib(size):>12s}  {name}" for size, name in largest(bundle_dir())]
    (DIST / "build-summary.txt").write_text("\n".join(summary) + "\n\nsmoke test\n" + transcript
                                            + "\n")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
