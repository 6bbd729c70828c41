"""Cross-modal retrieval in the trained teacher's space (figures for the model card).

    python bench/teacher_crossmodal.py [--teacher adapters/en] [--k 10]

* text ↔ variant set, TCGA dev: each report is paired with a variant set sampled (seeded) from its cancer
  type's distribution — pairing by class, not by patient — and retrieval is scored by class;
* image → text, HistoLearn held-out quarter (never seen in training): each patch's features against the 9
  tissue descriptions; top-1 accuracy.
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
    import torch.nn.functional as F

    from cmkd_med.data.histo import TISSUE_DESCRIPTIONS, load_histolearn, stratified_split
    from cmkd_med.data.variants import load_variant_catalog
    from cmkd_med.evaluation.crossmodal import recall_by_class
    from cmkd_med.models.teacher import TeacherEnsemble, pad_chunks
    from cmkd_med.models.text_encoder import ChunkedTextEncoder
    from cmkd_med.training.embed_cache import embed_split

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--teacher", default=str(DEFAULT_TEACHER_DIR))
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    heads = TeacherEnsemble.load(args.teacher)
    dev = embed_split(heads.config.base_model, "dev", progress=False)
    catalog = load_variant_catalog()
    rng = np.random.default_rng(0)
    sets = [tuple(catalog.sample(label, rng, int(rng.integers(1, 5)))) for label in dev.labels]
    rows = [i for i, s in enumerate(sets) if s]
    with torch.no_grad():
        chunks, mask = pad_chunks([dev.chunks[i] for i in rows])
        text_z = F.normalize(heads.embed_text(chunks, mask), dim=-1).numpy()
        ids, offsets, _ = heads.variant_tensors([sets[i] for i in rows])
        var_z = F.normalize(heads.embed_variants(ids, offsets), dim=-1).numpy()
    labels = [dev.labels[i] for i in rows]
    result = {
        "text_to_variants": recall_by_class(text_z, var_z, labels, labels, args.k),
        "variants_to_text": recall_by_class(var_z, text_z, labels, labels, args.k),
    }
    features, tissues = load_histolearn()
    _, test = stratified_split(tissues, test_size=0.25, seed=0)
    names = sorted(TISSUE_DESCRIPTIONS)
    encoder = ChunkedTextEncoder.from_spec(heads.config.base_model)
    desc = [c for c in encoder.encode([TISSUE_DESCRIPTIONS[n] for n in names])]
    with torch.no_grad():
        chunks, mask = pad_chunks(desc)
        desc_z = F.normalize(heads.embed_text(chunks, mask), dim=-1)
        img_z = F.normalize(heads.embed_image(torch.as_tensor(features[test])), dim=-1)
    top1 = (img_z @ desc_z.T).argmax(1).numpy()
    truth = np.array([names.index(tissues[i]) for i in test])
    result["image_to_tissue_description"] = {
        "top1_accuracy": round(float((top1 == truth).mean()), 4),
        "n_test_patches": len(test),
        "chance": round(1 / len(names), 4),
    }
    save("teacher_crossmodal.json", {"data": "tcga_reports/dev.tsv; histolearn held-out quarter", **result})


if __name__ == "__main__":
    main()
