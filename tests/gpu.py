"""GPU tests run where an NVIDIA GPU answers ``nvidia-smi``, and skip cleanly everywhere else (CI has none)."""

from __future__ import annotations

import subprocess

import pytest


def _cuda_available() -> bool:
    try:
        return subprocess.run(["nvidia-smi"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


requires_cuda = pytest.mark.skipif(not _cuda_available(), reason="no NVIDIA GPU on this machine")
