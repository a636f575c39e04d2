"""Where the tests find their data and the CLI they compare with.

`../shared` beside the repository (or $MNV2_SHARED) holds the models, images and reference
outputs; the `mnv2` CLI is $MNV2_CLI or the release build in the cargo target folder.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("MNV2_SHARED", REPO.parent / "shared"))
MODELS = SHARED / "models"
IMAGES = SHARED / "images"
REFERENCE = SHARED / "reference"
QUANT = MODELS / "mobilenet_v2_1.0_224_quant.tflite"
PTQ = MODELS / "tf2_mobilenet_v2_1.0_224_ptq.tflite"
FLOAT = MODELS / "keras_mobilenet_v2_1.0_224_random_f32.tflite"


def cli_path() -> Path:
    if "MNV2_CLI" in os.environ:
        return Path(os.environ["MNV2_CLI"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "mnv2"


def run_cli(*args: str) -> str:
    """The CLI's standard output (its errors fail the test)."""
    out = subprocess.run([str(cli_path()), *args], capture_output=True, text=True)
    assert out.returncode == 0, f"mnv2 {' '.join(args)} failed: {out.stderr}"
    return out.stdout


def cli_json_lines(*args: str) -> list:
    return [json.loads(line) for line in run_cli(*args).splitlines() if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def shared_data_present():
    assert QUANT.exists(), f"the models are missing: {MODELS} (../shared beside the repository, or $MNV2_SHARED)"
    assert cli_path().exists(), f"no mnv2 CLI at {cli_path()}: cargo build --release -p mnv2-cli (or set MNV2_CLI)"
