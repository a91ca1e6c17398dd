"""Smoke test of a built wheel (or sdist), as a user on a cluster would meet it.

    python .ci/wheel_smoke.py 'dist/mcgip_fast-*.whl' [--extras gaze,distributed,dicom]
    python .ci/wheel_smoke.py 'dist/mcgip_fast-*.tar.gz' --extras ''

1. makes a fresh venv in a temporary folder (stdlib `venv`, any OS);
2. installs the wheel (base dependencies only) with no Rust toolchain on PATH and no PYTHONPATH;
3. runs `.ci/wheel_checks.py --stage base` with the venv's Python from a folder outside the source
   tree, so only the installed package can be imported: versions, the stubs' names, `__all__`,
   every module, the embedded data files, `mcgip mine` and `mcgip inspect`;
4. installs the light extras into the same venv and runs `--stage extras`.

`train` (torch) is not installed here (gigabytes); its requirements are checked in the wheel's
metadata, and stage "base" fails if any module imports a package that no requirement declares.
An sdist instead is built from scratch by pip (needs Rust): the crates are fetched once with
`cargo fetch --locked` into an empty CARGO_HOME, then pip builds with cargo offline and `--locked`,
so the sdist's Cargo.lock alone pins them. Then the same checks run.

Needs only the standard library, so it runs before anything is installed. Exit code 0 = passed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "python" / "mcgip_fast" / "data"
RUST_TOOLS = ("cargo", "rustc", "rustup")


def cargo_version() -> str:
    """[workspace.package] version from Cargo.toml (a line parser: tomllib is 3.11+)."""
    section = None
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[workspace.package]" and line.startswith("version"):
            return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("Cargo.toml: no [workspace.package] version")


def embedded_data_files() -> list[str]:
    """Every file under python/mcgip_fast/data, relative to the package (what the wheel must carry)."""
    files = [p for p in DATA.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return sorted(p.relative_to(DATA.parent).as_posix() for p in files)


def env_without_rust() -> dict[str, str]:
    """This environment with no Rust toolchain on PATH and nothing from the source tree on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    keep = []
    for entry in env.get("PATH", "").split(os.pathsep):
        if entry and not any(shutil.which(tool, path=entry) for tool in RUST_TOOLS):
            keep.append(entry)
    env["PATH"] = os.pathsep.join(keep)
    found = [tool for tool in RUST_TOOLS if shutil.which(tool, path=env["PATH"])]
    if found:
        raise SystemExit(f"could not remove {found} from PATH")
    return env


def env_for_offline_sdist_build(sdist: Path, tmp: Path) -> dict[str, str]:
    """Fetch the sdist's locked crates into a fresh CARGO_HOME; the returned environment builds offline."""
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        for needed in ("Cargo.lock", "Cargo.toml", "pyproject.toml"):
            if f"{top}/{needed}" not in names:
                raise SystemExit(f"{sdist.name}: no {needed}")
        tar.extractall(tmp / "sdist", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CARGO_TARGET_DIR")}
    env["CARGO_HOME"] = str(tmp / "cargo-home")
    run(["cargo", "fetch", "--locked", "--manifest-path", tmp / "sdist" / top / "Cargo.toml"], env, tmp)
    env["CARGO_NET_OFFLINE"] = "true"
    env["MATURIN_PEP517_ARGS"] = "--locked"
    return env


def venv_python(home: Path) -> Path:
    return home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list, env: dict, cwd: Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    rc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd).returncode
    if rc != 0:
        raise SystemExit(f"smoke test FAILED (exit {rc}): {' '.join(str(c) for c in cmd)}")


def default_workdir() -> Path:
    """A fixed folder outside the tree, one per checkout: the next run clears it, so a finished run
    leaves its venv and outputs to look at and costs no slow delete of a venv."""
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"mcgip-wheel-smoke-{tag}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("wheel", help="the wheel or sdist to test (a glob is expanded; it must match one file)")
    p.add_argument("--extras", default="gaze,distributed,dicom", help="extras for stage 2 ('' skips it; default: %(default)s)")
    p.add_argument("--workdir", type=Path, default=default_workdir(), help="venv and outputs; cleared first (default: %(default)s)")
    args = p.parse_args(argv)

    wheels = sorted(glob.glob(args.wheel))
    if len(wheels) != 1:
        raise SystemExit(f"{args.wheel}: expected one file, found {wheels}")
    wheel = Path(wheels[0]).resolve()
    version = cargo_version()
    if f"-{version}-" not in wheel.name and not wheel.name.endswith(f"-{version}.tar.gz"):
        raise SystemExit(f"{wheel.name}: not version {version} (Cargo.toml)")

    tmp = args.workdir.resolve()
    if tmp.is_relative_to(ROOT):
        raise SystemExit(f"--workdir {tmp}: must lie outside the source tree {ROOT}")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    home, work = tmp / "venv", tmp / "work"
    work.mkdir(parents=True)
    print(f"smoke test of {wheel.name} in {tmp}", flush=True)
    is_wheel = wheel.suffix == ".whl"
    env = env_without_rust() if is_wheel else env_for_offline_sdist_build(wheel, tmp)
    venv.create(home, with_pip=True)
    py = venv_python(home)
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # The checks run from `work`, a copy: running them from .ci/ would put .ci/ on sys.path.
    checks = work / "wheel_checks.py"
    shutil.copy(ROOT / ".ci" / "wheel_checks.py", checks)
    (work / "expected.json").write_text(json.dumps({"version": version, "data_files": embedded_data_files()}))
    check = [py, checks, "--expected", work / "expected.json", "--out", work / "out"]

    t_install = time.perf_counter()
    run(pip + [wheel], env, work)
    print(f"installed in {time.perf_counter() - t_install:.0f} s", flush=True)
    run(check + ["--stage", "base"], env, work)
    if args.extras:
        run(pip + [f"{wheel}[{args.extras}]"], env, work)
        run(check + ["--stage", "extras", "--extras", args.extras], env, work)
    print(f"smoke test passed: {wheel.name} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
