"""``cmkd-med scope fit``: fit the out-of-distribution score of the scope decision.

1. Class means and the shared covariance of the teacher-space embeddings of **excerpts of TCGA training
   reports** (the patients of the train split; seeded, ``per_class`` a class), so the score knows what the 20
   types look like in the way notes arrive (excerpts, OCR noise kept).
2. Two thresholds a language, from the **supported notes of the tuning part** of
   ``examples/scope_dev/<lang>.jsonl`` (held-out calibration notes; the sealed part is never read here): the
   ``quantile`` of their distances and the ``1 - quantile`` quantile of their top probabilities. The default
   (0.8, and the model alone may read a note that asserts nothing either way when it is within both
   thresholds) is the setting ``bench/scope_sweep.py`` chose on the tuning notes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.config import DEFAULT_TEACHER_DIR, PROJECT_ROOT
from cmkd_med.languages import SUPPORTED_LANGUAGES
from cmkd_med.models.ood import MahalanobisOOD

SCOPE_DEV = PROJECT_ROOT / "examples" / "scope_dev"


def fit_class_space(
    per_class: int = 40,
    seed: int = 13,
    data_root: str | Path | None = None,
    progress: bool = True,
    shrinkage: float = 0.5,
) -> MahalanobisOOD:
    from cmkd_med.data.excerpts import excerpt
    from cmkd_med.data.tcga import load_tcga
    from cmkd_med.models.teacher_runtime import Teacher

    rng = random.Random(seed)
    by_class: dict[str, list[str]] = defaultdict(list)
    for report in load_tcga("train", data_root):
        by_class[report.label].append(report.text)
    texts, labels = [], []
    for label in sorted(by_class):
        chosen = rng.sample(by_class[label], min(per_class, len(by_class[label])))
        texts += [excerpt(t, rng) for t in chosen]
        labels += [label] * len(chosen)
    teacher = Teacher.load()
    vectors = teacher.encoder.encode(texts, progress=progress)
    embeddings = teacher._embed_vectors(vectors, 32)
    ood = MahalanobisOOD.fit(embeddings, labels, shrinkage)
    ood.provenance = {
        "class_space": f"teacher embeddings of {len(texts)} excerpts (60-300 words) of TCGA train reports, "
        f"{per_class} a class, seed {seed}",
    }
    return ood


def tuning_supported(lang: str) -> list[str]:
    import json

    from cmkd_med.evaluation.scope import part_of

    path = SCOPE_DEV / f"{lang}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows if r.get("label") and part_of(str(r["id"])) == "tuning"]


def fit_thresholds(
    ood: MahalanobisOOD, quantile: float = 0.8, nlp: Any = None
) -> dict[str, dict[str, float]]:
    from cmkd_med import pipeline

    nlp = nlp or pipeline("auto")
    out = {}
    for lang in SUPPORTED_LANGUAGES:
        texts = tuning_supported(lang)
        prediction = nlp.model(lang).predict(texts)
        out[lang] = {
            "distance": round(float(np.quantile(ood.score(prediction.embeddings), quantile)), 3),
            "probability": round(float(np.quantile(prediction.probs.max(1), 1 - quantile)), 4),
        }
    ood.thresholds = out
    ood.provenance["thresholds"] = (
        f"{quantile} quantile of the distances and {1 - quantile:.2f} quantile of the top probabilities of "
        "the supported notes of the tuning part of examples/scope_dev/<lang>.jsonl (the sealed part unread)"
    )
    return out


def cmd_fit(args: Any) -> int:
    from cmkd_med.errors import InvalidInputError

    if not 0.5 <= args.quantile < 1:
        raise InvalidInputError(f"--quantile must be in [0.5, 1), got {args.quantile}")
    if args.thresholds_only:
        ood = MahalanobisOOD.load(args.out)
        if ood is None:
            raise InvalidInputError(f"no fitted class space in {args.out}: run without --thresholds-only")
    else:
        ood = fit_class_space(args.per_class, args.seed, args.data_dir)
    thresholds = fit_thresholds(ood, args.quantile)
    ood.model_alone = not args.no_model_alone
    ood.provenance["setting"] = (
        f"quantile {args.quantile}, model_alone {ood.model_alone} (chosen by bench/scope_sweep.py on the "
        "tuning notes)"
    )
    ood.save(args.out)
    print(f"[scope] out-of-distribution score saved to {args.out}; thresholds {thresholds}")
    return 0


def register(subparsers: Any) -> None:
    scope = subparsers.add_parser("scope", help="the open-world scope decision's fitted parts")
    sub = scope.add_subparsers(dest="scope_command", metavar="TASK")
    sub.required = True
    fit = sub.add_parser(
        "fit",
        help="fit the out-of-distribution score: class means on TCGA train excerpts, a threshold a language "
        "on the tuning part of examples/scope_dev (a few minutes on 2 cores)",
    )
    fit.add_argument("--per-class", type=int, default=40, help="training-report excerpts a class (40)")
    fit.add_argument("--quantile", type=float, default=0.8, help="of in-scope tuning scores (0.8)")
    fit.add_argument(
        "--no-model-alone",
        action="store_true",
        help="a note that asserts nothing either way is unclear, however the model reads it",
    )
    fit.add_argument(
        "--thresholds-only", action="store_true", help="reuse the class space in --out; refit the thresholds"
    )
    fit.add_argument("--seed", type=int, default=13, help="excerpt sampling seed (13)")
    fit.add_argument("--data-dir", default=None, help="public data folder (default: $CMKD_DATA_DIR)")
    fit.add_argument("--out", default=str(DEFAULT_TEACHER_DIR), help="folder for ood.* (adapters/en)")
    fit.set_defaults(func=cmd_fit)
