"""One version, from Cargo.toml: the extension, the package and `mcgip --version` show the same string."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mcgip_fast
from mcgip_fast import _core
from mcgip_fast.cli.main import main

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def cargo_version() -> str:
    with open(ROOT / "Cargo.toml", "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def test_the_extension_and_the_package_show_the_cargo_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", cargo_version())
    assert _core.__version__ == cargo_version()
    assert mcgip_fast.__version__ == cargo_version()


def test_cli_version_shows_the_cargo_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcgip {cargo_version()}"


def test_pyproject_takes_the_version_from_cargo():
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    assert "version" not in project, "a static version in pyproject.toml would be a second source"
    assert "version" in project["dynamic"]
    # the bindings crate maturin builds inherits the workspace version
    with open(ROOT / "rust/python/Cargo.toml", "rb") as f:
        assert tomllib.load(f)["package"]["version"] == {"workspace": True}
