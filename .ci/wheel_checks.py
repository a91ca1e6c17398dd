"""Checks of an installed mcgip_fast, run by `.ci/wheel_smoke.py` with the test venv's Python.

Runs from a folder outside the source tree, so `import mcgip_fast` finds only the installed wheel.
Stage "base" (wheel installed without extras): the package comes from site-packages; the versions
agree with Cargo.toml; every runtime name of `_core.pyi` and `mcgip_fast.__all__` imports; every
module imports, or fails only on a package that an extra declares; every embedded data file is
installed; `mcgip mine` and `mcgip inspect` run on the embedded studyforrest sample. Stage "extras": each extra's requirements are installed and the code that needs them
runs (pymovements fixation detection, mining on a Dask LocalCluster equal to local mining).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.metadata as md
import json
import pkgutil
import re
import shutil
import subprocess
import sys
import sysconfig
import traceback
from pathlib import Path

#: Import names that differ from the distribution that provides them.
DIST_OF_IMPORT = {"cv2": "opencv-python-headless", "sklearn": "scikit-learn", "PIL": "pillow", "yaml": "pyyaml"}


class CheckFailed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_by_extra() -> dict[str | None, set[str]]:
    """The wheel's Requires-Dist names, keyed by extra (None = base dependencies)."""
    out: dict[str | None, set[str]] = {}
    for req in md.requires("mcgip_fast") or []:
        name = normalise(re.match(r"[A-Za-z0-9_.\-]+", req).group(0))
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        out.setdefault(extra.group(1) if extra else None, set()).add(name)
    return out


def run_mcgip(*args: str) -> subprocess.CompletedProcess:
    """Run the installed `mcgip` console script (not `python -m`: the entry point is part of the test)."""
    exe = shutil.which("mcgip", path=str(Path(sys.executable).parent))
    check(exe is not None, f"no `mcgip` console script next to {sys.executable}")
    print("  $ mcgip", " ".join(args), flush=True)
    return subprocess.run([exe, *args], capture_output=True, text=True)


def mcgip(*args: str) -> str:
    proc = run_mcgip(*args)
    check(proc.returncode == 0, f"`mcgip {' '.join(args)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


# ---------------------------------------------------------------- stage "base"

def check_installed_location():
    import mcgip_fast

    where = Path(mcgip_fast.__file__).resolve()
    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    check(any(where.is_relative_to(s) for s in site), f"mcgip_fast imported from {where}, not from the venv's site-packages {site}")
    print(f"  mcgip_fast from {where.parent}")


def check_versions(expected: str):
    import mcgip_fast
    from mcgip_fast import _core

    found = {
        "Cargo.toml": expected,
        "dist metadata": md.version("mcgip_fast"),
        "mcgip_fast.__version__": mcgip_fast.__version__,
        "_core.__version__": _core.__version__,
        "mcgip --version": mcgip("--version").strip().removeprefix("mcgip "),
    }
    check(len(set(found.values())) == 1, f"versions disagree: {found}")
    print(f"  version {expected} everywhere")


def stub_runtime_names(stub: str) -> set[str]:
    """Names `_core.pyi` declares as runtime attributes: functions and bare annotations
    (`__version__: str`). Type aliases and Protocol classes exist only for type checkers."""
    names = set()
    for node in ast.parse(stub).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and node.value is None and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ClassDef) and not any(getattr(b, "id", None) == "Protocol" for b in node.bases):
            names.add(node.name)
    return names


def check_stubs_and_all():
    import mcgip_fast
    from mcgip_fast import _core

    pkg = Path(mcgip_fast.__file__).parent
    for shipped in ("_core.pyi", "py.typed"):
        check((pkg / shipped).is_file(), f"{shipped} is not in the installed package")
    declared = stub_runtime_names((pkg / "_core.pyi").read_text())
    missing = sorted(n for n in declared if not hasattr(_core, n))
    check(not missing, f"_core.pyi declares names the extension lacks: {missing}")
    undocumented = sorted(n for n in dir(_core) if not n.startswith("__") and n not in declared)
    check(not undocumented, f"the extension has names _core.pyi does not declare: {undocumented}")
    missing = [n for n in mcgip_fast.__all__ if not hasattr(mcgip_fast, n)]
    check(not missing, f"mcgip_fast.__all__ names that do not import: {missing}")
    namespace: dict = {}
    exec("from mcgip_fast import *", namespace)
    check(set(mcgip_fast.__all__) <= set(namespace), "`from mcgip_fast import *` misses names of __all__")
    print(f"  {len(declared)} stub names, {len(mcgip_fast.__all__)} names of __all__")


def check_every_module(installed_extras: set[str]) -> None:
    """Import every module; a module may fail only on a package an extra that is not installed declares."""
    import mcgip_fast

    # `dev` holds test tools and parity references: no module of the package may need it.
    by_extra = {x: reqs for x, reqs in requirements_by_extra().items() if x != "dev"}
    ok, needs_extra, errors = 0, {}, []
    for info in pkgutil.walk_packages(mcgip_fast.__path__, "mcgip_fast."):
        try:
            importlib.import_module(info.name)
            ok += 1
        except ModuleNotFoundError as e:
            top = (e.name or "").split(".")[0]
            dist = normalise(DIST_OF_IMPORT.get(top, top))
            extras = sorted(x for x, reqs in by_extra.items() if x is not None and dist in reqs)
            if not extras:
                errors.append(f"{info.name}: imports {e.name!r}, which no requirement or extra declares")
            elif set(extras) & installed_extras:
                errors.append(f"{info.name}: {e.name!r} missing although extra {extras} is installed")
            else:
                needs_extra.setdefault("/".join(extras), []).append(info.name)
        except Exception:  # noqa: BLE001 - any other failure is a broken module
            errors.append(f"{info.name}:\n{traceback.format_exc()}")
    check(not errors, "modules that do not import:\n" + "\n".join(errors))
    print(f"  {ok} modules import; need an extra not installed here: "
          + (", ".join(f"{x}: {len(m)}" for x, m in needs_extra.items()) or "none"))


def check_embedded_data(expected_files: list[str]):
    import mcgip_fast
    from mcgip_fast.data import load_studyforrest

    pkg = Path(mcgip_fast.__file__).parent
    missing = [f for f in expected_files if not (pkg / f).is_file()]
    check(not missing, f"{len(missing)} embedded data files are not installed, e.g. {missing[:5]}")
    scanpath_files = [f for f in expected_files if re.search(r"/fixvectors/segment_\d+_sub-\d+\.tsv$", f)]
    archive = load_studyforrest()
    check(len(archive) == len(scanpath_files) > 0, f"load_studyforrest(): {len(archive)} scanpaths, {len(scanpath_files)} files")
    print(f"  {len(expected_files)} data files installed; studyforrest: {len(archive)} scanpaths")


def check_cli(out: Path):
    from mcgip_fast.mining import PositivePairs

    mcgip("--help")
    for scheme, name in (("multimatch", "pairs.parquet"), ("dhash", "pairs_dhash.npz")):
        target = out / name
        mcgip("mine", "--gaze", "studyforrest", "--scheme", scheme, "--rule", "topk", "--k", "3",
              "--out", str(target), "--no-progress")
        pairs = PositivePairs.load(target)
        check(pairs.n_edges > 0, f"{target}: no pairs")
        for side in (target.with_suffix(".summary.json"), target.with_suffix(".scores.png")):
            check(side.is_file() and side.stat().st_size > 0, f"mcgip mine wrote no {side.name}")
    # candidate mining fits its block weights with scipy: a base-install dependency
    target = out / "pairs_ann.parquet"
    mcgip("mine", "--gaze", "studyforrest", "--scheme", "multimatch", "--rule", "topk", "--k", "3", "--candidates", "ann",
          "--aggregate", "none", "--out", str(target), "--no-progress")
    check(PositivePairs.load(target).n_edges > 0, f"{target}: no pairs")
    inspect_dir = out / "inspect"
    mcgip("inspect", "--gaze", "studyforrest", "--out", str(inspect_dir))
    check(inspect_dir.is_dir() and any(inspect_dir.iterdir()), f"mcgip inspect wrote nothing to {inspect_dir}")


# ---------------------------------------------------------------- stage "extras"

def check_extras_installed(extras: set[str]):
    by_extra = requirements_by_extra()
    for extra in sorted(extras):
        check(extra in by_extra, f"the wheel declares no extra {extra!r} (has {sorted(x for x in by_extra if x)})")
        for dist in sorted(by_extra[extra]):
            try:
                md.distribution(dist)
            except md.PackageNotFoundError:
                raise CheckFailed(f"extra {extra!r}: {dist} is not installed") from None
    print(f"  extras installed: {sorted(extras)}")


def check_gaze_extra():
    """pymovements' I-DT on synthetic samples: two images, each with two still periods."""
    import numpy as np
    import pandas as pd

    from mcgip_fast import fixations_from_samples

    rows = []
    for image in ("a", "b"):
        t = np.arange(0, 1000, 4.0)  # 250 Hz, 1 s
        x = np.where(t < 500, 300.0, 700.0)
        rows.append(pd.DataFrame({"image_id": image, "t": t, "x": x, "y": 200.0}))
    archive = fixations_from_samples(pd.concat(rows, ignore_index=True), "idt", screen=(1024, 768))
    counts = [len(archive[i]) for i in range(len(archive))]
    check(counts == [2, 2], f"I-DT found {counts} fixations per image, expected [2, 2]")
    print("  gaze: pymovements I-DT ran")


def check_distributed_extra():
    """Mining on a Dask LocalCluster gives the same pairs as local mining."""
    import logging

    from distributed import Client, LocalCluster

    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.mining import mine

    logging.getLogger("distributed").setLevel(logging.WARNING)
    archive = load_studyforrest()
    local = mine(archive, "multimatch", "topk", k=3, tile_rows=16)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        on_dask = mine(archive, "multimatch", "topk", k=3, tile_rows=16, engine="dask", scheduler=client)
    check(on_dask == local, "mining on Dask differs from local mining")
    print(f"  distributed: {local.n_edges} edges, same on Dask as locally")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--stage", choices=("base", "extras"), required=True)
    p.add_argument("--extras", default="", help="comma-separated extras installed (stage extras)")
    p.add_argument("--expected", type=Path, required=True, help="JSON: version, data_files")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    expected = json.loads(args.expected.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    extras = {x for x in args.extras.split(",") if x}

    print(f"stage {args.stage} (python {sys.version.split()[0]}, {sys.executable})")
    check_installed_location()
    if args.stage == "base":
        check_versions(expected["version"])
        check_stubs_and_all()
        check_every_module(installed_extras=set())
        check_embedded_data(expected["data_files"])
        check_cli(args.out)
    else:
        check_extras_installed(extras)
        check_every_module(installed_extras=extras)
        if "gaze" in extras:
            check_gaze_extra()
        if "distributed" in extras:
            check_distributed_extra()
    print(f"stage {args.stage}: all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckFailed as e:
        print(f"WHEEL CHECK FAILED: {e}", file=sys.stderr)
        sys.exit(1)
