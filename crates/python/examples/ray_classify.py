"""Classify a folder of images on a Ray cluster and write the results as Parquet.

    python ray_classify.py IMAGES OUT [--model PATH] [--workers N] [--cpus-per-worker C]

It joins the cluster named by RAY_ADDRESS (or --address); without one it starts a local Ray.
The same script runs on a laptop, on a cluster made with `ray start`, or on KubeRay (submit it
with `ray job submit -- python ray_classify.py ...`): only the address changes. The model and the
images must be readable from every node (a shared file system or object store path).
"""

import argparse
import time

import pyarrow.parquet as pq
import ray

import mnv2.ray


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", help="folder of images (read recursively)")
    ap.add_argument("out", help="folder for the Parquet files")
    ap.add_argument("--model", default=None, help="model file (default: the ImageNet int8 model)")
    ap.add_argument("--workers", type=int, default=1, help="classifier actors")
    ap.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs (engine threads) per actor")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or a local Ray)")
    a = ap.parse_args()

    ray.init(address=a.address, logging_level="ERROR", log_to_driver=False)
    started = time.perf_counter()
    files = mnv2.ray.read_files(a.images)
    results = mnv2.ray.classify(files, a.model, top=a.top, workers=a.workers,
                                cpus_per_worker=a.cpus_per_worker, batch_size=a.batch_size)
    results.write_parquet(a.out)
    seconds = time.perf_counter() - started
    n = pq.read_table(a.out).num_rows
    print(f"{n} images in {seconds:.1f} s: {n / seconds:.1f} images/s with {a.workers} workers -> {a.out}")


if __name__ == "__main__":
    main()
