"""How an error message names the option that fixes it: as the interface the user called spells it.

From Python an option is a keyword (``off_screen='clip'``); from the command line it is a flag
(``--off-screen clip``). Messages are built with `option` / `one_of`; the `mcgip` command switches
the spelling with `cli_spelling()` around the whole run, so the data layer needs no CLI knowledge.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Iterator, Sequence

_SPELLING: ContextVar[str] = ContextVar("mcgip_option_spelling", default="python")


@contextlib.contextmanager
def cli_spelling() -> Iterator[None]:
    """Within this block, messages name options as command-line flags."""
    token = _SPELLING.set("cli")
    try:
        yield
    finally:
        _SPELLING.reset(token)


def option(name: str, value: object = None) -> str:
    """``name=value`` (Python) or ``--name value`` (CLI); without a value, the bare option name."""
    if _SPELLING.get() == "cli":
        flag = "--" + name.replace("_", "-")
        return flag if value is None else f"{flag} {value}"
    if value is None:
        return f"{name}=..."
    return f"{name}={value!r}"


def one_of(name: str, values: Sequence[object]) -> str:
    """``off_screen='clip', 'drop' or 'keep'`` / ``--off-screen clip, drop or keep``."""
    if _SPELLING.get() == "cli":
        shown = [str(v) for v in values]
        head = "--" + name.replace("_", "-") + " "
    else:
        shown = [repr(v) for v in values]
        head = f"{name}="
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return head + listed
