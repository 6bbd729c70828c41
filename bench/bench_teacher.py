"""Teacher throughput on 2 CPU cores: base-encoder chunks/s, head-training reports/s, inference notes/s.

    python bench/bench_teacher.py [--notes 64] [--teacher adapters/en]

Inference is end to end (chunking, frozen encoder, heads with MC dropout) on TCGA dev reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from cmkd_med.config import DEFAULT_TEACHER_DIR
from cmkd_med.data.tcga import load_tcga


def main() -> None:
    import numpy as np
    import torch

    from cmkd_med.models.teacher import MultimodalTeacher
    from cmkd_med.models.teacher_runtime import Teacher
    from cmkd_med.training.embed_cache import embed_split
    from cmkd_med.training.teacher import TeacherTrainer, TrainConfig

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notes", type=int, default=64, help="dev reports for the inference timing")
    parser.add_argument("--teacher", default=str(DEFAULT_TEACHER_DIR))
    args = parser.parse_args()
    reports = load_tcga("dev")[: args.notes]
    texts = [r.text for r in reports]
    teacher = Teacher.load(args.teacher)
    teacher.predict(texts[:2])  # warm-up: first-call allocations and lazy loading are not throughput

    start = time.perf_counter()
    chunks = teacher.encoder.encode(texts)
    encode_s = time.perf_counter() - start
    n_chunks = sum(len(c) for c in chunks)

    start = time.perf_counter()
    pred = teacher.predict(texts)
    predict_s = time.perf_counter() - start

    train = embed_split(teacher.heads.config.base_model, "train", progress=False)
    trainer = TeacherTrainer(teacher.heads.config, TrainConfig(epochs=1))
    trainer.model = MultimodalTeacher(teacher.heads.config)
    trainer.optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=1e-3)
    rows = np.arange(len(train.ids))
    start = time.perf_counter()
    trainer.train_epoch(train, rows)
    epoch_s = time.perf_counter() - start
    save(
        "teacher.json",
        {
            "data": "tcga_reports/dev.tsv (inference), train.tsv (head training)",
            "base_model": teacher.heads.config.base_model,
            "encoder_chunks_per_s": round(n_chunks / encode_s, 1),
            "inference_notes_per_s": round(len(texts) / predict_s, 2),
            "inference_notes": len(texts),
            "mean_chunks_per_note": round(n_chunks / len(texts), 2),
            "head_training_reports_per_s": round(len(rows) / epoch_s, 1),
            "head_epoch_s": round(epoch_s, 2),
            "abstained": int(pred.abstained.sum()),
        },
    )


if __name__ == "__main__":
    main()
