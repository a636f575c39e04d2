"""mnv2.train: the library's trainer from Python, equal to `mnv2 train`, with progress events and
a way to stop."""

import numpy as np
import pytest

import mnv2
from conftest import SHARED, run_cli

FLOWERS = SHARED / "datasets" / "flowers"
SETTINGS = {"width": 0.35, "resolution": 64, "epochs": 2, "batch": 8, "seed": 7, "threads": 2}


@pytest.fixture(scope="module")
def small_flowers(tmp_path_factory):
    """10 training and 4 validation images of each of the 5 classes (links to the shared files)."""
    root = tmp_path_factory.mktemp("flowers")
    for split, n in (("train", 10), ("val", 4)):
        for cls in sorted((FLOWERS / split).iterdir()):
            (root / split / cls.name).mkdir(parents=True)
            for f in sorted(cls.iterdir())[:n]:
                (root / split / cls.name / f.name).symlink_to(f)
    return root


def test_train_equals_cli_and_reports_progress(small_flowers, tmp_path):
    events = []
    summary = mnv2.train(small_flowers / "train", small_flowers / "val", tmp_path / "py.safetensors",
                         progress=events.append, **SETTINGS)
    assert summary and "after 2 epochs" in summary
    args = [f"--{k}={v}" for k, v in SETTINGS.items()]
    run_cli("train", "--data", str(small_flowers / "train"), "--val", str(small_flowers / "val"),
            "-o", str(tmp_path / "cli.safetensors"), *args)
    assert (tmp_path / "py.safetensors").read_bytes() == (tmp_path / "cli.safetensors").read_bytes()

    kinds = [e["event"] for e in events]
    starts = [e for e in events if e["event"] == "start"]
    assert [s["what"] for s in starts if s["what"].startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert starts[0]["total"] == 50 // 8
    assert kinds.count("advance") >= 2 * (50 // 8) and "finish" in kinds
    assert any(e["event"] == "note" and e["line"].startswith("epoch 2:") for e in events)

    trained = mnv2.Classifier(tmp_path / "py.safetensors", threads=1)
    assert trained.classes == 5 and trained.input_size == 64
    assert sorted(trained.labels) == ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    probs = trained.probabilities(trained.preprocess(str(next((FLOWERS / "val" / "roses").iterdir()))))
    assert probs.shape == (1, 5) and np.isclose(probs.sum(), 1.0, atol=1e-4)


def test_callback_exception_stops_training(small_flowers, tmp_path):
    seen = []

    def stop_at_third_step(event):
        seen.append(event)
        if sum(e["event"] == "advance" for e in seen) == 3:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough"):
        mnv2.train(small_flowers / "train", small_flowers / "val", tmp_path / "m.safetensors",
                   progress=stop_at_third_step, **SETTINGS)
    assert sum(e["event"] == "advance" for e in seen) == 3  # nothing called after the error


def test_training_errors_are_exceptions(tmp_path):
    with pytest.raises(mnv2.Error):
        mnv2.train(tmp_path / "none", tmp_path / "none", tmp_path / "m.safetensors", epochs=1)
    with pytest.raises(mnv2.Error, match="optimizer|adam"):
        mnv2.train(FLOWERS / "train", FLOWERS / "val", tmp_path / "m.safetensors", optimizer="lion", epochs=1)
    with pytest.raises(mnv2.Error, match="crop area"):
        mnv2.train(FLOWERS / "train", FLOWERS / "val", tmp_path / "m.safetensors", min_crop_area=0.0, epochs=1)
