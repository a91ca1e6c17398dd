"""Shared test fixtures."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "studyforrest"
EMBEDDED = REPO / "python" / "mcgip_fast" / "data" / "studyforrest"


@pytest.fixture(scope="session")
def studyforrest_dir() -> Path:
    """The real studyforrest data: ../shared/data when present, else the copy embedded in the package."""
    return SHARED if SHARED.exists() else EMBEDDED
