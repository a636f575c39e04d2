"""The Ray Data pipeline (examples/ray_classify.py) on a local two-node Ray cluster: every
result equals `mnv2 classify --json`'s."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mnv2.ray
from conftest import IMAGES, QUANT, SHARED, cli_json_lines

pq = pytest.importorskip("pyarrow.parquet")
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ray_classify.py"
PEDESTRIANS = SHARED / "datasets" / "PennFudanPed" / "Images"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A head node and a second node on loopback, one CPU each; its address."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"
    # Token authentication with a token of our own (Ray 2.60 no longer makes one by itself).
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"]
    subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True)
    try:
        subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--include-dashboard=false", *common],
                       env=env, check=True, capture_output=True)
        subprocess.run([ray_cli, "start", f"--address=127.0.0.1:{port}", *common], env=env, check=True, capture_output=True)
        yield f"127.0.0.1:{port}", env
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True)


def run_pipeline(address, env, out: Path, workers: int) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), str(PEDESTRIANS), str(out), "--model", str(QUANT), "--workers", str(workers)],
        env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_two_node_pipeline_equals_cli(cluster, tmp_path):
    address, env = cluster
    nodes = subprocess.run(
        [sys.executable, "-c", "import ray; ray.init(logging_level='ERROR'); "
         "print(sum(n['Alive'] for n in ray.nodes()), int(ray.cluster_resources()['CPU']))"],
        env={**env, "RAY_ADDRESS": address}, capture_output=True, text=True, check=True,
    ).stdout.split()
    assert nodes == ["2", "2"], nodes  # two nodes of one CPU: two one-CPU workers use both

    cli = {Path(r["path"]).name: r["top"] for r in cli_json_lines("classify", "--json", "--model", str(QUANT), str(PEDESTRIANS))}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        print(f"\n{run_pipeline(address, env, out, workers)}")
        rows = pq.read_table(out).to_pylist()
        assert len(rows) == len(cli) == len(list(PEDESTRIANS.iterdir())) == 142
        for row in rows:
            theirs = cli[Path(row["path"]).name]
            assert row["top_indices"] == [p["index"] for p in theirs], row["path"]
            assert row["top_labels"] == [p["label"] for p in theirs], row["path"]
            assert np.array_equal(np.float32(row["top_scores"]), np.float32([p["score"] for p in theirs])), row["path"]
            assert (row["label"], row["index"]) == (theirs[0]["label"], theirs[0]["index"])


def test_actor_takes_bytes_or_pixels():
    """Without Ray: the actor's batches from read_binary_files (bytes) and read_images (pixels)."""
    from PIL import Image

    actor = mnv2.ray.ClassifierActor(str(QUANT), top=3, threads=1)
    cat = IMAGES / "cat.bmp"
    by_bytes = actor({"bytes": np.array([cat.read_bytes()], dtype=object), "path": np.array([str(cat)])}).to_pylist()
    by_pixels = actor({"image": np.stack([np.asarray(Image.open(cat).convert("RGB"))])}).to_pylist()
    assert by_bytes[0]["label"] == by_pixels[0]["label"] == "Egyptian cat"
    assert by_bytes[0]["path"] == str(cat) and len(by_bytes[0]["top_indices"]) == 3
    assert actor({"bytes": np.array([], dtype=object)}).num_rows == 0
    with pytest.raises(KeyError, match="bytes"):
        actor({"text": np.array(["x"])})
