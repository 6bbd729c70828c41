"""``cmkd-med distill --lang L``: one student per language, from the committed teacher."""

from __future__ import annotations

import argparse
from pathlib import Path

from cmkd_med.config import DEFAULT_TEACHER_DIR, PROJECT_ROOT, adapters_dir

DEV_NOTES = PROJECT_ROOT / "examples" / "dev_notes"


def cmd_distill(args: argparse.Namespace) -> int:
    from dataclasses import replace

    import torch

    from cmkd_med.languages import normalize_lang
    from cmkd_med.models.providers import resolve
    from cmkd_med.training.distill import DistillConfig, init_distributed
    from cmkd_med.training.student import StudentJob, distill_student

    lang = normalize_lang(args.lang)
    if lang == "en":
        from cmkd_med.errors import InvalidInputError

        raise InvalidInputError("English is the teacher's language: train it with `cmkd-med train-teacher`")
    resolve(args.base_model)  # fail before any work on a model that is not there
    if args.threads:
        torch.set_num_threads(args.threads)
    distributed = init_distributed()
    dev = Path(args.dev) if args.dev else DEV_NOTES / f"{lang}.jsonl"
    job = StudentJob(
        lang=lang,
        out=Path(args.out) if args.out else adapters_dir() / lang,
        teacher_dir=Path(args.teacher),
        base_model=args.base_model,
        data_root=args.data_dir,
        dev=dev if args.dev != "none" and dev.exists() else None,
        entity_attention=not args.no_entity_attention,
        n_reports=args.n_reports,
        n_parallel=args.n_parallel,
        calibrate=not args.no_calibrate,
        fresh=args.fresh,
        max_items=args.max_items,
        n_calibration=args.n_calibration,
    )
    config = DistillConfig(
        batch_size=args.batch_size,
        seed=args.seed,
        quantum=not args.no_quantum,
        gating=not args.no_gating,
        max_steps=args.max_steps,
        **_loss_weights(args.loss_weights),  # type: ignore[arg-type]  # float weights only
    )
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    try:
        report = distill_student(job, config)
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    if report.get("processes", 1) and job.out:
        print(f"[distill] saved the {lang} student to {job.out}")
    return 0


def _loss_weights(spec: str | None) -> dict[str, float]:
    """``"nce=2,mse=1"`` → ``{"w_nce": 2.0, "w_mse": 1.0}``; names as in :class:`DistillConfig`."""
    from cmkd_med.errors import InvalidInputError

    names = ("mse", "nce", "kl", "ce", "quantum")
    weights = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        try:
            if name.strip() not in names:
                raise ValueError
            weights[f"w_{name.strip()}"] = float(value)
        except ValueError:
            expected = f"NAME=NUMBER with NAME in {', '.join(names)}"
            raise InvalidInputError(f"--loss-weights: expected {expected}, got {part!r}") from None
    return weights


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "distill",
        help="distil the English teacher into a pt/hi/sw student (also under torchrun --nproc_per_node N)",
    )
    p.add_argument("--lang", required=True, help="student language: pt, hi or sw")
    p.add_argument("--out", default=None, help="output folder (default: adapters/<lang>)")
    p.add_argument(
        "--teacher", default=str(DEFAULT_TEACHER_DIR), help="teacher folder (default: adapters/en)"
    )
    p.add_argument(
        "--base-model", default="bundled:e5-small", help="student base: bundled:e5-small, hf:<id> or a folder"
    )
    p.add_argument(
        "--data-dir", default=None, help="public data folder (default: $CMKD_DATA_DIR or ../shared/data)"
    )
    p.add_argument(
        "--dev",
        default=None,
        help="labelled notes picking the best epoch (default: examples/dev_notes/<lang>.jsonl; 'none': skip)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="passes over the distillation corpus (default 5, DistillConfig's; the dev notes pick the best)",
    )
    p.add_argument(
        "--batch-size", type=int, default=32, help="global batch, split across processes (default 32)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (quick trials)")
    p.add_argument(
        "--n-reports", type=int, default=800, help="English training reports sampled (default 800)"
    )
    p.add_argument(
        "--n-parallel", type=int, default=1500, help="WMT en-pt pairs sampled for pt (default 1500)"
    )
    p.add_argument("--max-items", type=int, default=None, help="subsample the corpus (quick trials)")
    p.add_argument(
        "--n-calibration", type=int, default=300, help="held-out report windows for calibration (default 300)"
    )
    p.add_argument("--seed", type=int, default=13, help="random seed (deterministic on CPU)")
    p.add_argument(
        "--loss-weights",
        default=None,
        help="override loss weights, e.g. 'nce=1' (mse, nce, kl, ce, quantum; defaults 1, .5, 1, .5, .5)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: torch's)")
    p.add_argument("--no-quantum", action="store_true", help="ablation: without the quantum fidelity loss")
    p.add_argument("--no-gating", action="store_true", help="ablation: without uncertainty gating")
    p.add_argument(
        "--no-entity-attention", action="store_true", help="ablation: without entity-aware attention"
    )
    p.add_argument(
        "--no-calibrate", action="store_true", help="skip temperature scaling and the abstention threshold"
    )
    p.add_argument("--fresh", action="store_true", help="ignore a checkpoint of an interrupted run")
    p.set_defaults(func=cmd_distill)
