"""Shared fixtures: the real data beside the project, and small generated products."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not (SHARED_DATA / "README.md").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA} (the project expects ../shared beside it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def small_product(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated product of 3,000 users over a year (a few seconds)."""
    from churnml.generator import GeneratorConfig, generate

    out = tmp_path_factory.mktemp("product")
    return generate(out, GeneratorConfig(users=3_000, days=365, seed=11, chunk_size=1_000))
