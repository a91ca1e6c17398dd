"""Shared benchmark fixtures: the real sample data and machine facts printed with each result."""

import os
import platform
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "studyforrest"
EMBEDDED = Path(__file__).resolve().parents[1] / "python" / "mcgip_fast" / "data" / "studyforrest"


@pytest.fixture(scope="session")
def studyforrest_dir() -> Path:
    return SHARED if SHARED.exists() else EMBEDDED


def machine_line() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
