"""``cmkd-med train-teacher``."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cmkd_med.config import DEFAULT_TEACHER_DIR, cache_dir

if TYPE_CHECKING:
    import torch

    from cmkd_med.models.text_encoder import ChunkedTextEncoder


def _log(message: str) -> None:
    print(f"[train-teacher] {message}", file=sys.stderr)


def cmd_train_teacher(args: argparse.Namespace) -> int:
    import torch

    from cmkd_med.config import data_path
    from cmkd_med.data.histo import TISSUE_DESCRIPTIONS, load_histolearn, stratified_split
    from cmkd_med.data.tcga import load_tcga
    from cmkd_med.data.variants import load_variant_catalog
    from cmkd_med.errors import InvalidInputError
    from cmkd_med.models.providers import resolve
    from cmkd_med.models.teacher import UNK, TeacherConfig
    from cmkd_med.models.text_encoder import ChunkedTextEncoder
    from cmkd_med.training.embed_cache import embed_split
    from cmkd_med.training.teacher import TrainConfig, seed_everything, train_teacher

    if not 0.0 <= args.lexical_weight < 1.0:
        raise InvalidInputError(f"--lexical-weight must be in [0, 1), got {args.lexical_weight}")
    resolve(args.base_model)  # fail before any work on a model that is not there
    data_path("tcga_reports", "train.tsv", data_root=args.data_dir)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    seed_everything(args.seed)
    _log(f"embedding the training reports with the frozen {args.base_model} (cached, resumable)")
    train = embed_split(args.base_model, "train", data_root=args.data_dir, progress=True)
    catalog = load_variant_catalog(args.data_dir)
    encoder = ChunkedTextEncoder.from_spec(args.base_model)
    features, tissues = load_histolearn(args.data_dir)
    keep, _ = stratified_split(tissues, test_size=0.25, seed=0)  # the test quarter scores the image branch
    names = sorted(TISSUE_DESCRIPTIONS)
    descriptions = torch.stack([c[0] for c in encoder.encode([TISSUE_DESCRIPTIONS[n] for n in names])])
    histo = (
        torch.as_tensor(features[keep]),
        torch.tensor([names.index(tissues[i]) for i in keep]),
        descriptions,
    )
    text_dim = int(train.chunks[0].shape[1])
    model_config = TeacherConfig(
        base_model=args.base_model,
        text_dim=text_dim,
        shared_dim=text_dim,  # the locked sphere projection keeps the base's width
        variant_vocab=[UNK, *catalog.vocabulary],
        n_members=args.members,
    )
    pairs = translation_pairs(encoder, args.data_dir) if model_config.text_space == "mlp" else None
    config = TrainConfig(epochs=args.epochs, seed=args.seed, lexical_weight=args.lexical_weight)
    # a checkpoint resumes only the run that wrote it: same base model, heads, members and training settings
    heads = [model_config.shared_dim, model_config.text_space, model_config.classifier_hidden]
    settings_json = json.dumps([config.training_settings(), args.members, heads])
    settings = hashlib.sha256(settings_json.encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{args.base_model}_{settings}")
    checkpoint = cache_dir() / "checkpoints" / f"teacher_{slug}.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    if args.fresh and checkpoint.exists():
        checkpoint.unlink()
    out = Path(args.out)
    texts = {r.report_id: r.text for r in load_tcga("train", data_root=args.data_dir)}
    report = train_teacher(
        train, out, model_config, config, catalog, histo, checkpoint, pairs,
        texts=[texts[i] for i in train.ids], progress=True, log=_log,
    )  # fmt: skip
    _log(
        f"saved to {out} (best epoch {report['best_epoch']}, T={report['temperature']}, "
        f"abstain above uncertainty {report['abstain_threshold']})"
    )
    return 0


def translation_pairs(encoder: ChunkedTextEncoder, data_dir: str | None) -> torch.Tensor:
    """(M, 2, H) base-encoder vectors of TICO-19 dev English sentences and their pt/hi/sw translations
    (held-out documents excluded), for the teacher's translation-pair loss."""
    import torch

    from cmkd_med.languages import SUPPORTED_LANGUAGES
    from cmkd_med.training.distill_data import read_tico

    def vectors(texts: list[str]) -> torch.Tensor:
        return torch.stack([c.mean(0) for c in encoder.encode(texts, progress=True)])

    rows = {lang: read_tico(lang, data_root=data_dir) for lang in SUPPORTED_LANGUAGES[1:]}
    english = list(dict.fromkeys(en for pairs in rows.values() for en, _ in pairs))  # the same side for all
    _log(f"embedding {len(english)} TICO-19 dev English sentences and their translations (pair loss)")
    en_vectors = dict(zip(english, vectors(english), strict=True))
    blocks = [
        torch.stack([torch.stack([en_vectors[en] for en, _ in pairs]), vectors([t for _, t in pairs])], 1)
        for pairs in rows.values()
    ]
    return torch.cat(blocks)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train-teacher", help="train the English multimodal teacher's heads")
    p.add_argument(
        "--data-dir", default=None, help="public data folder (default: $CMKD_DATA_DIR or ../shared/data)"
    )
    p.add_argument("--out", default=str(DEFAULT_TEACHER_DIR), help="output folder (default: adapters/en)")
    p.add_argument(
        "--base-model",
        default="bundled:e5-small",
        help="frozen text encoder (provider spec; default e5-small)",
    )
    p.add_argument("--epochs", type=int, default=30, help="training epochs (early stopping keeps the best)")
    p.add_argument("--seed", type=int, default=13, help="random seed (deterministic on CPU)")
    p.add_argument("--members", type=int, default=5, help="deep-ensemble members (default 5)")
    p.add_argument(
        "--lexical-weight",
        type=float,
        default=0.5,
        help="weight of the TF-IDF lexical expert in the class-probability pool (default 0.5; 0: none)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    p.add_argument("--fresh", action="store_true", help="ignore a checkpoint of an interrupted run")
    p.set_defaults(func=cmd_train_teacher)
