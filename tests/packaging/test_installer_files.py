"""The installers' inputs: icons drawn from the one SVG, the desktop entry, the .deb tree."""

from __future__ import annotations

import configparser
import email.parser
import os
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

import clipdesk

# not imported from conftest: with tests/ui's conftest also loaded, the name is ambiguous
PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def test_version_comes_from_the_package(buildinfo):
    assert buildinfo.version() == clipdesk.__version__


def test_windows_version_resource_carries_the_package_version(buildinfo):
    assert buildinfo.version_numbers("0.1.0") == (0, 1, 0, 0)
    assert buildinfo.version_numbers("1.2.3rc1") == (1, 2, 3, 0)
    assert buildinfo.version_numbers("2") == (2, 0, 0, 0)
    # (the resource itself is built only on Windows, where PyInstaller brings pefile)


def test_icon_set_has_every_size_the_desktop_ico_and_icns_need(buildinfo, icon_set):
    for side in buildinfo.HICOLOR_SIZES:
        png = icon_set / "hicolor" / f"{side}x{side}" / "apps" / "clipdesk.png"
        with Image.open(png) as im:
            assert im.size == (side, side) and im.mode == "RGBA"
            # drawn, not blank: the corner is transparent, the middle is painted
            assert im.getpixel((0, 0))[3] == 0 and im.getpixel((side // 2, side // 2))[3] == 255
    svg = icon_set / "hicolor" / "scalable" / "apps" / "clipdesk.svg"
    assert svg.read_bytes() == buildinfo.SVG.read_bytes()
    with Image.open(icon_set / "clipdesk.ico") as ico:
        assert sorted(ico.ico.sizes()) == [(s, s) for s in buildinfo.ICO_SIZES]
    with Image.open(icon_set / "clipdesk.icns") as icns:
        assert icns.format == "ICNS"
        assert {size[0] for size in icns.info["sizes"]} >= {16, 32, 128, 256, 512}


def test_desktop_entry_launches_the_command_the_deb_puts_on_the_path(buildinfo):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / "linux" / "clipdesk.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"] == buildinfo.APP_NAME
    assert entry["Exec"].split()[0] == buildinfo.EXE_NAME == entry["TryExec"]
    assert entry["Icon"] == "clipdesk" and entry["Terminal"] == "false"
    # the desktop-entry spec: lists end with ';', and only registered main categories
    assert entry["Categories"].endswith(";") and "Graphics" in entry["Categories"].split(";")
    assert entry["Keywords"].endswith(";")
    validate = shutil.which("desktop-file-validate")  # desktop-file-utils, where installed
    if validate:
        done = subprocess.run([validate, PACKAGING / "linux" / "clipdesk.desktop"],
                              capture_output=True, text=True)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_deb_tree_installs_into_opt_with_the_command_icons_and_menu_entry(
        build_script, buildinfo, icon_set, tmp_path):
    bundle = tmp_path / "ClipDesk"
    (bundle / "_internal").mkdir(parents=True)
    program = bundle / "clipdesk"
    program.write_text("#!/bin/sh\necho frozen\n")
    program.chmod(0o700)
    (bundle / "_internal" / "data.txt").write_text("x")
    (bundle / "_internal" / "data.txt").chmod(0o600)

    stage = build_script.stage_deb(bundle, icon_set, "1.2.3", "amd64", out=tmp_path / "deb")

    opt = stage / "opt" / "clipdesk"
    assert (opt / "clipdesk").is_file() and (opt / "_internal" / "data.txt").is_file()
    if os.name == "posix":  # the .deb is made on Linux; the release workflow runs this everywhere
        assert (opt / "clipdesk").stat().st_mode & 0o777 == 0o755
        assert (opt / "_internal" / "data.txt").stat().st_mode & 0o777 == 0o644  # readable by all
    assert os.readlink(stage / "usr" / "bin" / "clipdesk") == "/opt/clipdesk/clipdesk"
    assert (stage / "usr/share/applications/clipdesk.desktop").is_file()
    for side in buildinfo.HICOLOR_SIZES:
        assert (stage / f"usr/share/icons/hicolor/{side}x{side}/apps/clipdesk.png").is_file()
    control = email.parser.Parser().parsestr((stage / "DEBIAN" / "control").read_text())
    assert control["Package"] == "clipdesk" and control["Version"] == "1.2.3"
    assert control["Architecture"] == "amd64"
    assert int(control["Installed-Size"]) >= 1
    assert "libxcb-cursor0" in control["Depends"]  # Qt 6.5+ needs it for the xcb platform
    assert not re.search(r"@\w+@", (stage / "DEBIAN" / "control").read_text())


def test_windows_script_installs_per_user_the_program_the_spec_makes(buildinfo):
    iss = (PACKAGING / "windows" / "clipdesk.iss").read_text()
    spec = (PACKAGING / "clipdesk.spec").read_text()
    assert "PrivilegesRequired=lowest" in iss  # no administrator rights
    assert re.search(r'^Name: "desktopicon".*Flags: unchecked', iss, re.M)  # optional
    assert re.search(r'^Name: "\{group\}\\Uninstall ClipDesk"; Filename: "\{uninstallexe\}"', iss,
                     re.M)
    # the Start-menu entry runs the windowed program the spec names after the app
    assert f'{{app}}\\{buildinfo.APP_NAME}.exe' in iss
    assert "name=buildinfo.APP_NAME if sys.platform == \"win32\"" in spec
    compile(spec, "clipdesk.spec", "exec")
