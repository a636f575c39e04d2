"""Batch inference over a Ray Data dataset with an mnv2 classifier.

>>> import ray, mnv2.ray
>>> ds = mnv2.ray.read_files("images/")
>>> mnv2.ray.classify(ds, "mobilenet_v2_1.0_224_quant.tflite", workers=2).write_parquet("out/")

Each worker is a Ray actor that loads the model once and classifies the batches it is given
with as many engine threads as Ray gave it CPUs. Give it encoded files (``read_binary_files``:
a ``bytes`` column, decoded by mnv2 exactly as ``mnv2 classify`` decodes them) or decoded
pixels (``read_images``: an ``image`` column, decoded by PIL, whose JPEG decoder differs from
mnv2's by a few levels in some pixels, so scores can differ slightly from the CLI's). The model
path must be readable on every node (a shared file system, or the same path on each machine).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ._native import Classifier


class ClassifierActor:
    """A callable class for ``Dataset.map_batches``: one classifier per worker.

    Each output row has the top-1 ``label``, ``index`` and ``score``, the top ``top`` of each
    (``top_labels``, ``top_indices``, ``top_scores``), and the input's ``path`` when it has one.
    """

    def __init__(self, model: Optional[str] = None, *, top: int = 5, precision: str = "auto",
                 threads: Optional[int] = None) -> None:
        if threads is None:
            threads = assigned_cpus()
        self.classifier = Classifier(model, threads=threads, precision=precision)
        self.top = top

    def __call__(self, batch: Dict[str, np.ndarray]) -> Any:
        if "bytes" in batch:
            images = [bytes(b) for b in batch["bytes"]]
        elif "image" in batch:
            images = [np.asarray(a, dtype=np.uint8) for a in batch["image"]]
        else:
            raise KeyError(f"expected a 'bytes' column (read_binary_files) or an 'image' column "
                           f"(read_images); the batch has {sorted(batch)}")
        import pyarrow as pa

        results = self.classifier.classify(images, top=self.top) if images else []
        columns = {
            "label": pa.array([r[0]["label"] for r in results], pa.string()),
            "index": pa.array([r[0]["index"] for r in results], pa.int64()),
            "score": pa.array([r[0]["score"] for r in results], pa.float32()),
            "top_labels": pa.array([[p["label"] for p in r] for r in results], pa.list_(pa.string())),
            "top_indices": pa.array([[p["index"] for p in r] for r in results], pa.list_(pa.int64())),
            "top_scores": pa.array([[p["score"] for p in r] for r in results], pa.list_(pa.float32())),
        }
        if "path" in batch:
            columns["path"] = pa.array(list(batch["path"]), pa.string())
        return pa.table(columns)


def assigned_cpus() -> int:
    """The CPUs Ray assigned to the calling actor or task (0, meaning all cores, outside Ray)."""
    try:
        import ray

        if ray.is_initialized():
            cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
            if cpus:
                return max(1, int(cpus))
    except ImportError:
        pass
    return 0


def read_files(paths: Any, *, readers: int = 2, **kwargs: Any) -> Any:
    """``ray.data.read_binary_files(paths, include_paths=True)`` tuned for classification: the
    read tasks reserve no CPU (they only move bytes; the classifier actors hold the CPUs, and
    reads waiting for a free CPU would wait forever once every CPU runs an actor), and at most
    ``readers`` run at once (each is a Python worker process; unbounded, dozens of them start and
    starve the actors of CPU on a small machine)."""
    import ray.data

    remote_args = {"num_cpus": 0, **kwargs.pop("ray_remote_args", {})}
    return ray.data.read_binary_files(
        paths, include_paths=True, ray_remote_args=remote_args, concurrency=readers, **kwargs
    )


def classify(dataset: Any, model: Optional[str] = None, *, top: int = 5, precision: str = "auto",
             workers: int = 1, cpus_per_worker: int = 1, batch_size: int = 16) -> Any:
    """``dataset`` (with a ``bytes`` or ``image`` column) classified by ``workers`` actors of
    ``cpus_per_worker`` CPUs each (engine threads = CPUs), ``batch_size`` images per call."""
    return dataset.map_batches(
        ClassifierActor,
        fn_constructor_kwargs={"model": model, "top": top, "precision": precision},
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=workers,
        num_cpus=cpus_per_worker,
    )
