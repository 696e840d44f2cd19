#!/usr/bin/env python3
"""scikit-learn's KMeans on an engine benchmark matrix, for comparison with `engine-bench kmeans`.

Matrix format: int32 rows, int32 cols (little-endian), then rows x cols float32, row-major.
Runs lloyd and elkan (k-means++, n_init=1) with the given thread count and prints one JSON object with each
algorithm's seconds and inertia and the best of the two. Debian: apt-get install python3-sklearn.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--matrix", required=True)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    with open(a.matrix, "rb") as f:
        rows, cols = np.frombuffer(f.read(8), dtype="<i4")
        x = np.frombuffer(f.read(), dtype="<f4").reshape(rows, cols)
    results = {}
    with threadpool_limits(limits=a.threads):
        for algorithm in ("lloyd", "elkan"):
            km = KMeans(n_clusters=a.k, init="k-means++", n_init=1, algorithm=algorithm, random_state=a.seed)
            t = time.perf_counter()
            km.fit(x)
            seconds = time.perf_counter() - t
            # Inertia recomputed in double the same way the engine's bench does.
            d = ((x.astype(np.float64)[:, None, :] - km.cluster_centers_[None, :, :]) ** 2).sum(axis=2) if rows <= 200_000 else None
            inertia = float(d.min(axis=1).sum()) if d is not None else float(km.inertia_)
            results[algorithm] = {"seconds": round(seconds, 4), "inertia": inertia, "iterations": int(km.n_iter_)}
    best = min(results.values(), key=lambda r: r["seconds"])
    print(json.dumps({"benchmark": "sklearn-kmeans", "n": int(rows), "d": int(cols), "k": a.k, "threads": a.threads,
                      **results, "best_seconds": best["seconds"], "best_inertia": best["inertia"]}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
