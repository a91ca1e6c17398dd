"""README.md's examples and every `mcgip <command> --help` example run as written (issue 16).

What runs, each example in a fresh temporary folder (in-process, as the `mcgip` script would):
  * every fenced ```python block of README.md;
  * every `mcgip ...` line of README.md's shell blocks (fences with no language, sh, bash, shell,
    console), and every `mcgip ...` line in the "Example(s):" section of each subcommand's --help.
    Subcommands come from `mcgip_fast.cli.main.build_parser()`, so new ones are covered once merged;
  * `torchrun ... -m mcgip_fast.cli.main ARGS` lines: ARGS are parsed (flags, values), not run.

Placeholders. File names in examples are real files this test makes from a tiny kit (a synthetic
archive of 40 images of 32 px (more than the README's largest batch, 32), its gaze table, pairs mined from it, an encoder trained on it for
2 steps). PLACEHOLDERS maps each name an example reads to a kit file (None: the example only
writes it). A path-like argument (a data-file suffix or a "/") that is not in PLACEHOLDERS and is
not the value of an output option (OUTPUT_OPTIONS) fails, naming its README line: map it there.

Small runs. SMALL_RUN adds options to a command only where the example leaves them at their
default (`mcgip train` as written would train a 224 px ResNet-18 for 100 epochs), so it runs in
seconds; options the example sets are kept as written. PARSE_ONLY names subcommands whose examples
are parsed but not run, and why.

Marker. A README block that cannot run here (a Dask cluster, several hosts) carries a line
    # not run by tests/test_readme.py: <why>
Its `mcgip` lines are still parsed and checked for placeholders; the test reports the block as
skipped with <why> (`pytest -ra` lists skips). Every failure names the README line
("README.md:42") or the help text ("mcgip train --help, example 2") it comes from.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import doctest
import importlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcgip_fast.cli.main import build_parser, main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# ---- the one table to extend when an example names a new file -------------------------------------
#: file name in an example -> kit file the test copies there (None: the example only writes it).
PLACEHOLDERS: dict[str, str | None] = {
    "fixations.parquet": "fixations.parquet",     # fixation table: image_id, reader, viewer, x, y, duration, onset
    "images.csv": "images.csv",                   # manifest: image_id, path (absolute), width, height, label
    "labels.csv": "labels.csv",                   # image_id, label, class_name
    "pairs.parquet": "pairs.parquet",             # pairs mined from the kit's gaze (ids = images.csv's)
    "pairs.npz": "pairs.npz",
    "encoder.pt": "run/encoder.pt",               # a kit file in a folder brings its folder (encoder.json)
    "run/encoder.pt": "run/encoder.pt",
    "runs/train/encoder.pt": "run/encoder.pt",
    "cache/": "cache",
    "fixations.csv": "fixations.csv",             # the fixation table as CSV (the real-archive section)
    "crowd/fixations.csv": "fixations.csv",
    "crowd/manifest.csv": "images.csv",
    "crowd_labels.csv": "labels.csv",
    "big.parquet": "fixations.parquet",           # "a large archive": the kit's table stands in
    "shuffled.parquet": "pairs.parquet",          # a shuffled control is a pairs file of the same archive                            # `mcgip prepare` cache of images.csv (a folder)
}
#: options whose value is a path the command writes (no placeholder needed).
OUTPUT_OPTIONS = {"--out", "--out-dir", "--workdir", "--work", "--summary", "--plot"}
#: options added to a subcommand's examples unless the example sets them (see the module docstring).
SMALL_RUN = {
    "train": ["--max-steps", "2", "--image-size", "32", "--width", "4", "--batch-size", "8", "--queue-size", "64",
              "--no-progress", "--device", "cpu"],
    "mine": ["--no-progress"],
}
#: subcommands whose --help examples are parsed, not run.
PARSE_ONLY = {
    "demo": "runs for minutes (the whole job; --quick about a minute); tests/test_demo.py runs --quick and "
            "tests/test_cli_demo.py runs --real-only",
}
TORCHRUN_WHY = ("torchrun starts fresh processes that each import torch; tests/test_ddp.py runs "
                "train() under DDP with 2 gloo processes")
# ------------------------------------------------------------------------------------------------------

SKIP_MARKER = re.compile(r"#\s*not run by tests/test_readme\.py:\s*(?P<why>.+?)\s*$")
SHELL_LANGS = {"", "sh", "bash", "shell", "console"}
FENCE = re.compile(r"^\s*(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
DATA_SUFFIXES = {"parquet", "csv", "tsv", "npz", "npy", "pt", "pth", "json", "jsonl", "png", "jpg", "jpeg", "txt",
                 "h5", "hdf5", "edf", "asc", "dcm", "yaml", "yml", "zip", "gz", "pkl", "feather", "arrow", "md"}
INLINE_COMMAND = re.compile(r"`(mcgip \w+ [^`]*--[^`]*)`")  # with at least one option
EXAMPLES_HEADING = re.compile(r"^examples?:\s*$", re.IGNORECASE)
CLI_MODULE = "-m mcgip_fast.cli.main"


class ExampleFailed(AssertionError):
    """An example does not run as written; the message starts with where it is."""


@dataclass(frozen=True)
class Example:
    where: str          # "README.md:42" or "mcgip train --help, example 2"
    kind: str           # "python" (run the block), "run" / "parse" (an mcgip command), "flags" (an inline
                        # fragment: flags checked), "skip", "missing"
    text: str           # the block's code or the command line
    line: int = 0       # python: README line of the block's first code line
    why: str = ""       # parse / skip: why it is not run

    @property
    def id(self) -> str:
        return f"{self.where} {self.text.split(chr(10))[0][:40]}".strip()


# ---- finding examples -------------------------------------------------------------------------------

def fenced_blocks(text: str):
    """Yield (language, line number of the first code line, code lines) for each fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start, j = m.group("fence"), i + 2, i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        yield m.group("lang").lower(), start, lines[i + 1 : j]
        i = j + 1


def shell_lines(lines: list[str], first: int):
    """Yield (line number, command) for each command line; a trailing backslash continues a line."""
    pending, at = "", 0
    for n, raw in enumerate(lines, start=first):
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not pending and (not line or line.startswith("#")):
            continue
        if not pending:
            at = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield at, pending + line
        pending = ""
    if pending:
        yield at, pending


def command_example(where: str, line: str, not_run_why: str | None = None) -> Example:
    """Classify one shell line: an mcgip command (run or parse only), a torchrun launch, or other."""
    if line.startswith("mcgip "):
        try:
            subcommand = shlex.split(line, comments=True)[1]
        except (ValueError, IndexError):
            subcommand = ""
        why = not_run_why or PARSE_ONLY.get(subcommand)
        return Example(where, "parse" if why else "run", line, why=why or "")
    if CLI_MODULE in line:
        return Example(where, "parse", line, why=not_run_why or TORCHRUN_WHY)
    return Example(where, "skip", line, why=not_run_why or "not an mcgip command")


def inline_commands(text: str, name: str) -> list[Example]:
    """`mcgip ...` code spans in the prose (often fragments): their flags and choices are checked."""
    lines = text.splitlines()
    for _, first, block in fenced_blocks(text):
        for n in range(first - 2, min(first + len(block), len(lines))):  # the fences and the code
            lines[n] = ""
    prose = "\n".join(lines)
    return [Example(f"{name}:{prose.count(chr(10), 0, m.start()) + 1}", "flags", " ".join(m.group(1).split()),
                    why="an inline command in the prose: flags and choices checked")
            for m in INLINE_COMMAND.finditer(prose)]


def readme_examples(text: str, name: str = "README.md") -> list[Example]:
    """Every example of a README text: fenced blocks in order, then inline `mcgip ...` spans."""
    out = []
    for lang, first, lines in fenced_blocks(text):
        marker = next((m for m in map(SKIP_MARKER.search, lines) if m), None)
        why = marker.group("why") if marker else None
        if lang == "python":
            code = "\n".join(lines)
            out.append(Example(f"{name}:{first}", "skip" if why else "python", code, line=first, why=why or ""))
        elif lang in SHELL_LANGS:
            out += [command_example(f"{name}:{n}", cmd, why) for n, cmd in shell_lines(lines, first)]
    return out + inline_commands(text, name)


def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    unique = {}
    for p in sub.choices.values():  # aliases map to the same parser
        unique[p.prog.split()[-1]] = p
    return unique


def examples_section(help_text: str) -> list[str] | None:
    """The lines under an "Example:"/"examples:" heading (up to the next unindented line), or None."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        if EXAMPLES_HEADING.match(line.strip()) and not line.startswith(" "):
            body = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and not nxt[0].isspace():
                    break
                body.append(nxt)
            return body
    return None


def help_examples(parser: argparse.ArgumentParser) -> list[Example]:
    out = []
    for name, sub in subcommand_parsers(parser).items():
        body = examples_section(sub.format_help())
        if body is None:
            out.append(Example(f"mcgip {name} --help", "missing", ""))
            continue
        for k, (_, cmd) in enumerate(shell_lines(body, 1), start=1):
            out.append(command_example(f"mcgip {name} --help, example {k}", cmd))
    return out


# ---- the kit of small real files --------------------------------------------------------------------

class Kit:
    """Small real files for the placeholders, made on first use and shared by all examples."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, name: str) -> Path:
        path = self.root / name
        if not path.exists():
            self._build(name)
        return path

    def _build(self, name: str) -> None:
        if name in ("fixations.parquet", "fixations.csv", "images.csv", "labels.csv"):
            self._archive()
        elif name in ("pairs.parquet", "pairs.npz"):
            self._pairs()
        elif name.startswith("run/"):
            self._encoder()
        elif name == "cache":
            self._cache()
        else:
            raise KeyError(f"the kit has no {name!r}: add a builder to Kit in tests/test_readme.py")

    def _archive(self) -> None:
        from mcgip_fast.synth import SynthConfig, generate

        arch = generate(self.root / "archive", SynthConfig(n_images=40, size=32, seed=0))
        fixations = arch.fixations()
        fixations = fixations.assign(viewer=fixations["reader"])
        fixations.to_parquet(self.root / "fixations.parquet")
        fixations.to_csv(self.root / "fixations.csv", index=False)
        # `crowd_level` stands for the crowd data's label column in the real-archive examples.
        labels = arch.labels().assign(crowd_level=lambda t: t["label"])
        labels.to_csv(self.root / "labels.csv", index=False)
        manifest = arch.manifest().merge(labels[["image_id", "label"]], on="image_id")
        manifest["path"] = [str((arch.root / p).resolve()) for p in manifest["path"]]
        manifest.to_csv(self.root / "images.csv", index=False)
        self.archive = arch

    def _pairs(self) -> None:
        from mcgip_fast.mining import mine
        from mcgip_fast.synth import SynthArchive

        self.get("images.csv")
        pairs = mine(SynthArchive.open(self.root / "archive").gaze(), scheme="multimatch", rule="topk", k=3)
        pairs.save(self.root / "pairs.parquet")
        pairs.save(self.root / "pairs.npz")

    def _encoder(self) -> None:
        pytest.importorskip("torch")
        argv = ["train", "--manifest", str(self.get("images.csv")), "--pairs", str(self.get("pairs.parquet")),
                "--out-dir", str(self.root / "run"), *SMALL_RUN["train"]]
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0, f"could not train the kit's encoder: mcgip {' '.join(argv)}"

    def _cache(self) -> None:
        from mcgip_fast.train.cache import prepare_cache

        prepare_cache(self.get("images.csv"), self.root / "cache", size=40, workers=1, progress=False)

    def materialize(self, example_name: str, kit_name: str, folder: Path) -> None:
        """Copy a kit file to `folder/example_name`; a kit file in a subfolder brings its siblings."""
        source, dest = self.get(kit_name), folder / example_name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, dirs_exist_ok=True)
            return
        if source.parent != self.root:
            for sibling in source.parent.iterdir():
                if sibling.is_file() and sibling != source:
                    shutil.copy(sibling, dest.parent / sibling.name)
        shutil.copy(source, dest)


# ---- checking and running ---------------------------------------------------------------------------

@contextlib.contextmanager
def inside(folder: Path):
    """Run in `folder` (contextlib.chdir needs Python 3.11; the package supports 3.10)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def looks_like_path(token: str) -> bool:
    if token.startswith("-") or "://" in token or " " in token or not token:
        return False
    return "/" in token or ("." in token and token.rsplit(".", 1)[-1].lower() in DATA_SUFFIXES)


def placeholders_of(where: str, names: list[str]) -> dict[str, str]:
    """Example file name -> kit file, for the inputs among `names`; unknown names fail naming `where`."""
    unknown = [n for n in names if n not in PLACEHOLDERS]
    if unknown:
        raise ExampleFailed(f"{where}: {', '.join(map(repr, unknown))} is not in PLACEHOLDERS at the top of "
                            f"tests/test_readme.py: map it to a kit file the test makes (or None if the example writes it)")
    return {n: PLACEHOLDERS[n] for n in names if PLACEHOLDERS[n] is not None}


def command_paths(argv: list[str]) -> list[str]:
    """Path-like arguments of a command, less the values of output options."""
    paths, previous = [], ""
    for token in argv:
        option, _, value = token.partition("=") if token.startswith("--") else ("", "", token)
        if option:
            previous = option
            token = value
        if token and previous not in OUTPUT_OPTIONS and looks_like_path(token):
            paths.append(token)
        if not option:
            previous = ""
    return paths


def python_paths(code: str, where: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        raise ExampleFailed(f"{where}: the block is not valid Python: {e}") from None
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and looks_like_path(n.value)]


def command_argv(ex: Example) -> list[str]:
    try:
        tokens = shlex.split(ex.text, comments=True)
    except ValueError as e:
        raise ExampleFailed(f"{ex.where}: cannot split `{ex.text}`: {e}") from None
    if tokens[0] == "mcgip":
        return tokens[1:]
    return tokens[tokens.index("mcgip_fast.cli.main") + 1 :]


def parse_command(ex: Example, argv: list[str]) -> argparse.Namespace:
    """Parse with the real parser: unknown flags, bad values and missing options fail here."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv)
    except SystemExit:
        raise ExampleFailed(f"{ex.where}: `{ex.text}` does not parse:\n{err.getvalue().strip()}") from None


def check_flags(ex: Example) -> None:
    """A fragment such as `mcgip train --pool max`: the subcommand, each flag and each choice exist."""
    tokens = command_argv(ex)
    parsers = subcommand_parsers(build_parser())
    if not tokens or tokens[0] not in parsers:
        raise ExampleFailed(f"{ex.where}: `{ex.text}`: no such subcommand (have: {', '.join(parsers)})")
    actions = parsers[tokens[0]]._option_string_actions
    for i, token in enumerate(tokens[1:], start=1):
        if not token.startswith("-"):
            continue
        flag, eq, value = token.partition("=")
        action = actions.get(flag)
        if action is None:
            raise ExampleFailed(f"{ex.where}: `{ex.text}`: mcgip {tokens[0]} has no option {flag}")
        value = value if eq else (tokens[i + 1] if i + 1 < len(tokens) else None)
        if action.choices and value not in action.choices and value not in (None, "..."):
            raise ExampleFailed(f"{ex.where}: `{ex.text}`: {flag} {value!r} is not one of {list(action.choices)}")


def small_run_options(subcommand: str, argv: list[str]) -> list[str]:
    """The SMALL_RUN options of `subcommand` that `argv` does not set (either spelling of a flag counts)."""
    parser = subcommand_parsers(build_parser())[subcommand]
    given = {t.partition("=")[0] for t in argv if t.startswith("-")}
    extra, pending = [], SMALL_RUN.get(subcommand, [])
    i = 0
    while i < len(pending):
        flag, values = pending[i], []
        i += 1
        while i < len(pending) and not pending[i].startswith("--"):
            values.append(pending[i])
            i += 1
        action = parser._option_string_actions.get(flag)
        if action is None:
            raise KeyError(f"SMALL_RUN[{subcommand!r}] names {flag}, which `mcgip {subcommand}` does not have")
        if not given & set(action.option_strings):
            extra += [flag, *values]
    return extra


def run_example(ex: Example, kit: Kit | None, folder: Path) -> str:
    """Run (or parse) one example in `folder`; raise ExampleFailed naming its line. Returns its output."""
    if ex.kind == "missing":
        raise ExampleFailed(f"{ex.where} has no 'examples:' section (every command documents examples)")
    if ex.kind == "skip":
        return ""
    if ex.kind == "python":
        return _run_python(ex, kit, folder)
    if ex.kind == "flags":
        return check_flags(ex) or ""
    argv = command_argv(ex)
    parse_command(ex, argv)
    inputs = placeholders_of(ex.where, command_paths(argv))
    if ex.kind == "parse":
        return ""
    for name, kit_name in inputs.items():
        kit.materialize(name, kit_name, folder)
    argv = argv + small_run_options(argv[0], argv)
    out, err = io.StringIO(), io.StringIO()
    with inside(folder), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
        except Exception:  # noqa: BLE001 - reported with the example's line
            rc, _ = 1, err.write(traceback.format_exc())
    if rc:
        tail = "\n".join((out.getvalue() + err.getvalue()).strip().splitlines()[-15:])
        raise ExampleFailed(f"{ex.where}: `{ex.text}` failed (exit {rc}; ran as mcgip {' '.join(argv)}):\n{tail}")
    return out.getvalue()


def _run_python(ex: Example, kit: Kit | None, folder: Path) -> str:
    """Run a block: a script, or a ``>>>`` session (checked as a doctest, outputs included)."""
    name = ex.where.rsplit(":", 1)[0]
    session = ex.text.lstrip().startswith(">>>")
    sources = [e.source for e in doctest.DocTestParser().get_examples(ex.text)] if session else [ex.text]
    for file, kit_name in placeholders_of(ex.where, [p for src in sources for p in python_paths(src, ex.where)]).items():
        kit.materialize(file, kit_name, folder)
    out = io.StringIO()
    with inside(folder), contextlib.redirect_stdout(out):
        if session:
            _run_session(ex, name)
            return out.getvalue()
        code = compile("\n" * (ex.line - 1) + ex.text, name, "exec")  # tracebacks carry README line numbers
        try:
            exec(code, {"__name__": "__readme__"})
        except Exception as e:  # noqa: BLE001 - reported with the failing line
            line = next((f.lineno for f in reversed(traceback.extract_tb(e.__traceback__)) if f.filename == name), ex.line)
            raise ExampleFailed(f"{name}:{line}: {type(e).__name__}: {e}") from e
    return out.getvalue()


def _run_session(ex: Example, name: str) -> None:
    test = doctest.DocTestParser().get_doctest(ex.text, {"__name__": "__readme__"}, name, name, ex.line - 1)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=report.write)
    if runner.failures:
        line = re.search(r"line (\d+)", report.getvalue())
        raise ExampleFailed(f"{name}:{line.group(1) if line else ex.line}: the session's output differs or it raised:\n"
                            f"{report.getvalue()}")


# ---- the tests ----------------------------------------------------------------------------------------

EXAMPLES = readme_examples(README.read_text(encoding="utf-8")) + help_examples(build_parser())


@pytest.fixture(scope="session")
def kit(tmp_path_factory) -> Kit:
    try:  # tiny models: one torch thread avoids OpenMP spinning on a shared, busy machine
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    return Kit(tmp_path_factory.mktemp("readme_kit"))


@pytest.mark.parametrize("ex", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs_as_written(ex, kit, tmp_path):
    if ex.kind == "run" and ex.text.split()[1] in ("train", "eval"):
        pytest.importorskip("torch")
    run_example(ex, kit, tmp_path)
    if ex.kind in ("skip", "parse", "flags"):
        pytest.skip(f"{ex.where}: {'parsed, ' if ex.kind == 'parse' else ''}not run: {ex.why}")


def test_the_readme_and_every_subcommand_have_examples():
    kinds = [e.kind for e in EXAMPLES if e.where.startswith("README.md")]
    assert kinds.count("python") >= 1 and kinds.count("run") >= 3, kinds
    documented = {e.where.split()[1] for e in EXAMPLES if e.where.startswith("mcgip ") and e.kind != "missing"}
    assert documented == set(subcommand_parsers(build_parser())), "a subcommand has no examples in its --help"


FAKE_README = """\
# Fake

```python
import mcgip_fast as mf
archive = mf.data.load_studyforrest()
mf.multimatch_pairs(archive, [[0, 99]])
```

```
make demo
mcgip mine --gaze studyforrest --scheme multimatch --rule topk --kk 5 --out pairs.npz
mcgip mine --gaze studyforrest --rule threshold --threshold 7 \\
    --out pairs.npz
mcgip mine --gaze gaze_folder/ --out pairs.npz
mcgip mine --gaze my_fixations.h5 --out pairs.npz
```

```
# not run by tests/test_readme.py: needs a Dask cluster
mcgip mine --gaze studyforrest --engine dask --scheduler tcp://hostA:8786 --out pairs.npz
mcgip mine --gaze studyforrest --engine dask --schedular tcp://hostA:8786 --out pairs.npz
```

For small images, `mcgip train --stem small-pool --pool max
--loss-average batch` (see `mcgip mine`), not `mcgip train --pool maximum`.
"""


def test_a_broken_example_fails_and_names_its_line(tmp_path):
    examples = readme_examples(FAKE_README, "FAKE.md")
    assert [(e.where, e.kind) for e in examples] == [
        ("FAKE.md:4", "python"), ("FAKE.md:10", "skip"), ("FAKE.md:11", "run"), ("FAKE.md:12", "run"),
        ("FAKE.md:14", "run"), ("FAKE.md:15", "run"), ("FAKE.md:20", "parse"), ("FAKE.md:21", "parse"),
        ("FAKE.md:24", "flags"), ("FAKE.md:25", "flags")]
    python, make, wrong_flag, bad_value, folder, suffix, marked, marked_wrong, fragment, wrong_choice = examples
    session = Example("FAKE.md:30", "python", ">>> 1 + 1\n2\n>>> 'x' * 3\n'xxy'", line=30)
    expected = {
        python: r"^FAKE\.md:6: ValueError: .*99",                          # the failing statement's line
        wrong_flag: r"^FAKE\.md:11: .*does not parse:.*unrecognized arguments: --kk 5",
        bad_value: r"^FAKE\.md:12: .*failed \(exit 2.*threshold",           # a run-time error, continued line
        folder: r"^FAKE\.md:14: 'gaze_folder/' is not in PLACEHOLDERS",
        suffix: r"^FAKE\.md:15: 'my_fixations\.h5' is not in PLACEHOLDERS",
        marked_wrong: r"^FAKE\.md:21: .*does not parse:.*--schedular",       # marked blocks are still parsed
        wrong_choice: r"^FAKE\.md:25: .*--pool 'maximum' is not one of",    # inline fragments: flags checked
        session: r"^FAKE\.md:32: the session's output differs.*'xxy'",      # a >>> block is a doctest
    }
    for ex, pattern in expected.items():
        with pytest.raises(ExampleFailed, match=re.compile(pattern, re.DOTALL)):
            run_example(ex, None, tmp_path)
    assert marked.why == "needs a Dask cluster" and make.why == "not an mcgip command"
    run_example(marked, None, tmp_path)  # parses: not run
    run_example(fragment, None, tmp_path)  # a fragment spanning two lines, with valid flags


def test_help_examples_are_found_and_a_missing_section_is_reported():
    parser = argparse.ArgumentParser(prog="mcgip")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("good", epilog="examples:\n  mcgip good --x 1\n  torchrun -m mcgip_fast.cli.main good\n",
                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub.add_parser("bare")
    found = [(e.where, e.kind, e.text) for e in help_examples(parser)]
    assert found == [("mcgip good --help, example 1", "run", "mcgip good --x 1"),
                     ("mcgip good --help, example 2", "parse", "torchrun -m mcgip_fast.cli.main good"),
                     ("mcgip bare --help", "missing", "")]
    with pytest.raises(ExampleFailed, match="mcgip bare --help has no 'examples:' section"):
        run_example(Example("mcgip bare --help", "missing", ""), None, Path("."))


def test_small_run_keeps_what_the_example_sets():
    extra = small_run_options("train", ["train", "--manifest", "m.csv", "--image-size=64", "--progress", "--epochs", "1"])
    assert "--image-size" not in extra and "--no-progress" not in extra
    assert extra[extra.index("--max-steps") + 1] == "2"


def test_import_is_light_and_subpackages_are_attributes():
    """`import mcgip_fast as mf; mf.data.load_studyforrest()` works and loads no torch (the README's promise)."""
    code = ("import sys, mcgip_fast as mf\n"
            "archive = mf.data.load_studyforrest()\n"
            "assert callable(mf.mining.mine) and callable(mf.synth.generate) and mf.train.TrainConfig\n"
            "assert {'data', 'mining', 'train'} <= set(dir(mf))\n"
            "print(len(archive), 'torch' in sys.modules)\n"
            "mf.no_such_thing\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["60", "False"], r.stderr
    assert "module 'mcgip_fast' has no attribute 'no_such_thing'" in r.stderr


# ---- docstring examples -----------------------------------------------------------------------------

def _public_modules() -> list[str]:
    """Modules whose docstrings document the public API (those of mcgip_fast.__all__, and the mining
    and train entry points) and hold examples (found in the source, so collection imports no torch)."""
    import mcgip_fast

    names = {"mcgip_fast", "mcgip_fast.mining", "mcgip_fast.mining.mine", "mcgip_fast.train",
             "mcgip_fast.train.config", "mcgip_fast.train.loop"}
    names |= {getattr(getattr(mcgip_fast, n), "__module__", None) or "mcgip_fast" for n in mcgip_fast.__all__}
    names = {n for n in names if n.startswith("mcgip_fast.") or n == "mcgip_fast"}
    with_examples = {n for n in names if ">>>" in Path(importlib.util.find_spec(n).origin).read_text(encoding="utf-8")}
    return sorted(with_examples | set(MUST_HAVE_DOCTESTS))


#: modules that must keep a docstring example (the README's entry points).
MUST_HAVE_DOCTESTS = ("mcgip_fast", "mcgip_fast.mining.mine", "mcgip_fast.train")


@pytest.mark.parametrize("module_name", _public_modules())
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    if module_name.startswith("mcgip_fast.train"):
        pytest.importorskip("torch")
    module = importlib.import_module(module_name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module) if t.examples]
    assert tests, f"{module_name} has no docstring example"
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for t in tests:
        runner.run(t, out=out.write)
    assert runner.failures == 0, out.getvalue()
