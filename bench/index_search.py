"""Approximate (HNSW) against exact (flat) faiss search in the teacher space's dimension, at 10k and 100k.

    python bench/index_search.py [--sizes 10000,100000] [--queries 500]

Items: synthetic unit vectors in D = 256 (the shared space), drawn around 20 class centres like the
teacher's report embeddings (there are not 100k real reports to index; the figure is about the index, not
the model). Queries: held-out draws from the same mixture. Recall@10 of HNSW = overlap of its top 10 with the
exact top 10; latency = mean ms per query, one query at a time, 2 threads.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save


def mixture(n: int, centres, rng, spread: float = 0.6):  # type: ignore[no-untyped-def]
    import numpy as np

    x = centres[rng.integers(len(centres), size=n)] + spread * rng.standard_normal((n, centres.shape[1]))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def main() -> None:
    import faiss
    import numpy as np

    from cmkd_med.index import make_index

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    faiss.omp_set_num_threads(2)
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 256)) / np.sqrt(256) * 4
    queries = mixture(args.queries, centres, rng)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        items = mixture(n, centres, rng)
        row: dict = {"items": n}
        found = {}
        for kind in ("flat", "hnsw"):
            t = time.perf_counter()
            index = make_index(items, kind)
            row[f"{kind}_build_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            found[kind] = np.stack([index.search(q[None], 10)[1][0] for q in queries])
            row[f"{kind}_ms_per_query"] = round(1000 * (time.perf_counter() - t) / len(queries), 3)
        overlap = [len(set(a) & set(e)) / 10 for a, e in zip(found["hnsw"], found["flat"], strict=True)]
        row["hnsw_recall_at_10_vs_exact"] = round(float(np.mean(overlap)), 4)
        row["hnsw_speedup"] = round(row["flat_ms_per_query"] / row["hnsw_ms_per_query"], 2)
        rows.append(row)
        print(row, flush=True)
    save("index_search.json", {"dim": 256, "queries": args.queries, "results": rows})


if __name__ == "__main__":
    main()
