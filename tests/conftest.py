"""Shared helpers for the tests: run scenarios through the real stack.

Runs use the real mosaik world, the real pandapower/lightsim2grid power flow
and real files; nothing is mocked. Fixtures that run a scenario are
module-scoped and hand out read-only results (paths and parsed JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
TWIN = [sys.executable, "-m", "adapters.cli"]


@dataclass(frozen=True)
class RunFiles:
    out: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.out / "summary.json").read_text())

    def table(self, columns: list[str] | None = None):
        return pq.read_table(self.out / "timeseries.parquet", columns=columns)


def run_cli(args: list[str], timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(TWIN + args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)


def twin_run(scenario: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> RunFiles:
    p = run_cli(["run", str(scenario), "--out", str(out), "--no-progress", *extra], env=env)
    return RunFiles(out=out, returncode=p.returncode, stdout=p.stdout, stderr=p.stderr)


def write_scenario(tmp: Path, name: str, text: str) -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")
