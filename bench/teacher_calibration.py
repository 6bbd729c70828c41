"""Teacher ECE on TCGA dev before (T = 1) and after temperature scaling (T fitted on the calibration split).

    python bench/teacher_calibration.py [--teacher adapters/en]

Uses the cached dev chunk embeddings (`cmkd_med.training.embed_cache`), MC-dropout seed 0, and the
teacher's lexical expert on the dev texts (pooled as in `Teacher.predict`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save

from cmkd_med.config import DEFAULT_TEACHER_DIR


def main() -> None:
    import numpy as np
    import torch

    from cmkd_med.data.tcga import load_tcga
    from cmkd_med.evaluation.metrics import classification_metrics
    from cmkd_med.models.lexical import LexicalExpert, pool
    from cmkd_med.models.teacher import TeacherEnsemble, TeacherInputs, pad_chunks
    from cmkd_med.training.embed_cache import embed_split

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teacher", default=str(DEFAULT_TEACHER_DIR))
    args = parser.parse_args()
    model = TeacherEnsemble.load(args.teacher)
    fitted = (model.config.temperature, model.config.pool_temperature)
    dev = embed_split(model.config.base_model, "dev", progress=False)
    weight = model.config.lexical_weight
    lexical = None
    if weight > 0:
        texts = {r.report_id: r.text for r in load_tcga("dev")}
        lexical = LexicalExpert.load(Path(args.teacher)).predict_proba([texts[i] for i in dev.ids])
    out = {}
    for name, (t, t_pool) in (("before_T1", (1.0, 1.0)), ("after", fitted)):
        model.config.temperature = t
        torch.manual_seed(0)
        probs = []
        for start in range(0, len(dev.ids), 64):
            chunks, mask = pad_chunks(dev.chunks[start : start + 64])
            probs.append(model.predict_proba(TeacherInputs(chunks, mask)))
        p = pool(torch.cat(probs).numpy(), lexical, weight, t_pool)
        abstain = (1 - p.max(1)) > model.config.abstain_threshold
        metrics = classification_metrics(dev.labels, p, model.config.classes, np.asarray(abstain))
        out[name] = {
            "temperature": round(t, 4),
            "pool_temperature": round(t_pool, 4),
            **{k: metrics[k] for k in ("accuracy", "macro_f1", "ece", "abstain_rate", "selective_accuracy")},
        }
    data = "tcga_reports/dev.tsv (cached chunk embeddings; lexical expert on the texts)"
    save("teacher_calibration.json", {"data": data, "lexical_weight": weight, **out})


if __name__ == "__main__":
    main()
