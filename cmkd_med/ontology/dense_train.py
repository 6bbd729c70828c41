"""Training the dense name encoder on the KB's synonym sets (``cmkd-med ontology train-encoder``).

SapBERT-style (Liu et al. 2021): a batch holds one (anchor, positive) pair of names from each of B
different concepts, plus for each anchor a *hard negative*, the most similar name of another concept by
character 3-gram TF-IDF (what the lexical generator would confuse it with). InfoNCE over the 2B
candidates pulls the pair together and pushes the look-alikes apart. A third of the positives are the
anchor with random character edits (OCR slips, spelling variants), not a rule list of spellings.

Concepts are split once by a fixed seed on the CUI (:func:`concept_split`): ``train`` (75 %) is all the
encoder sees; ``fusion`` (10 %) fits the dense/lexical fusion weight; ``heldout`` (15 %) is never trained
or tuned on and gives the figure that says the encoder generalises to concepts it has not seen.
Only the LoRA weights are trained (embeddings and base weights frozen) and saved (fp16, ~2 MB).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.translit import has_devanagari, latin_form

SPLIT_SEED = "cmkd-dense-linker-2026"
LANGS = ("en", "pt", "hi", "sw")


def concept_split(cui: str) -> str:
    """``train`` / ``fusion`` / ``heldout`` for a concept, fixed by a seeded hash of its CUI."""
    bucket = int(hashlib.sha256(f"{SPLIT_SEED}:{cui}".encode()).hexdigest(), 16) % 100
    return "heldout" if bucket < 15 else "fusion" if bucket < 25 else "train"


def concept_names(kb: KnowledgeBase) -> dict[str, list[str]]:
    """CUI → its distinct alias keys over the four languages, plus Latin forms of Devanagari ones."""
    names: dict[str, list[str]] = {}
    for lang in LANGS:
        for key, cuis in kb.aliases(lang).items():
            for cui in cuis:
                names.setdefault(cui, []).append(key)
                if has_devanagari(key):
                    names[cui].append(latin_form(key))
    return {cui: sorted(set(keys)) for cui, keys in names.items()}


def _english_keys(kb: KnowledgeBase, cui: str) -> list[str]:
    return [key for key, cuis in kb.aliases("en").items() if cui in cuis]


def noisy(text: str, rng: random.Random) -> str:
    """One or two random character edits (delete, swap, substitute, double) inside a word."""
    chars = list(text)
    for _ in range(rng.choice((1, 1, 2))):
        letters = [i for i, ch in enumerate(chars) if ch.isalpha()]
        if len(letters) < 4:
            break
        i = rng.choice(letters)
        op = rng.random()
        if op < 0.3:
            del chars[i]
        elif op < 0.55 and i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op < 0.8:
            chars[i] = chars[rng.choice(letters)]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def hard_negatives(names: dict[str, list[str]], cuis: list[str]) -> dict[str, str]:
    """For each name of ``cuis``, the nearest name of another concept by character 3-gram TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.neighbors import NearestNeighbors

    flat = [(name, cui) for cui in cuis for name in names[cui]]
    vectors = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3)).fit_transform([n for n, _ in flat])
    nn = NearestNeighbors(n_neighbors=min(8, len(flat)), metric="cosine").fit(vectors)
    _, ids = nn.kneighbors(vectors)
    out: dict[str, str] = {}
    for (name, cui), row in zip(flat, ids, strict=True):
        other = next((flat[j][0] for j in row if flat[j][1] != cui), None)
        if other is not None:
            out[name] = other
    return out


@dataclass
class TrainConfig:
    steps: int = 600
    batch_concepts: int = 32
    lr: float = 5e-4
    temperature: float = 0.05
    noise_share: float = 0.33
    cross_share: float = 0.5  # pairs drawn as (pt/hi/sw name, English name) when the concept has both
    rank: int = 16
    alpha: int = 32
    seed: int = 13


def train_encoder(
    out_dir: Path, kb: KnowledgeBase | None = None, config: TrainConfig | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train the name adapter on the ``train`` concepts and write it to ``out_dir``; returns the report."""
    import torch
    import torch.nn.functional as F
    from peft import get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file
    from tqdm import tqdm

    from cmkd_med.models.providers import DEFAULT_STUDENT, load_encoder, resolve
    from cmkd_med.ontology.dense import ADAPTER_FILE, CONFIG_FILE, MAX_LENGTH, PREFIX, lora_config, mean_pool

    cfg = config or TrainConfig()
    kb = kb or KnowledgeBase.load()
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    names = concept_names(kb)
    english = {cui: set(_english_keys(kb, cui)) for cui in names}
    train_cuis = sorted(c for c in names if concept_split(c) == "train")
    hard = hard_negatives(names, train_cuis)
    anchors = [c for c in train_cuis if names[c]]

    base, tokenizer, _ = load_encoder(resolve(DEFAULT_STUDENT, build=True))
    model = get_peft_model(base, lora_config(cfg.rank, cfg.alpha))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)

    def embed(texts: list[str]) -> torch.Tensor:
        batch = tokenizer(
            [PREFIX + t for t in texts],
            padding=True,
            truncation=True,
            max_length=MAX_LENGTH,
            return_tensors="pt",
        )
        return mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])

    losses: list[float] = []
    start = time.perf_counter()
    for _step in tqdm(range(cfg.steps), desc="training name encoder", disable=not progress):
        batch_cuis = rng.sample(anchors, cfg.batch_concepts)
        left, right, negs = [], [], []
        for cui in batch_cuis:
            pool = names[cui]
            native = [n for n in pool if n not in english[cui]]
            if native and english[cui] and rng.random() < cfg.cross_share:
                # the case that matters: a Portuguese, Hindi or Swahili name reaching an English one
                anchor, positive = rng.choice(native), rng.choice(sorted(english[cui]))
            else:
                anchor = rng.choice(pool)
                others = [n for n in pool if n != anchor]
                positive = (
                    noisy(anchor, rng) if not others or rng.random() < cfg.noise_share else rng.choice(others)
                )
            left.append(anchor)
            right.append(positive)
            negs.append(hard.get(anchor, rng.choice(names[rng.choice(anchors)])))
        a = embed(left)
        b = embed(right + negs)
        logits = a @ b.T / cfg.temperature
        # a name's own concept may also appear among the hard negatives of others: mask those out
        target = torch.arange(len(left))
        for i, cui in enumerate(batch_cuis):
            for j, neg in enumerate(negs):
                if neg in names[cui] and neg != right[i]:
                    logits[i, len(right) + j] = -1e4
        loss = F.cross_entropy(logits, target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - start

    state = {
        k: v.detach().to(torch.float16).contiguous() for k, v in get_peft_model_state_dict(model).items()
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / ADAPTER_FILE))
    report = {
        "base": DEFAULT_STUDENT,
        "lora": {"r": cfg.rank, "alpha": cfg.alpha, "target_modules": ["query", "key", "value", "dense"]},
        "train": {
            "steps": cfg.steps, "batch_concepts": cfg.batch_concepts, "lr": cfg.lr,
            "temperature": cfg.temperature, "noise_share": cfg.noise_share, "cross_share": cfg.cross_share,
            "seed": cfg.seed,
            "concepts": len(train_cuis), "names": sum(len(names[c]) for c in train_cuis),
            "loss_first_20": round(float(np.mean(losses[:20])), 4),
            "loss_last_20": round(float(np.mean(losses[-20:])), 4), "seconds": round(seconds, 1),
        },
        "split": {
            "seed": SPLIT_SEED,
            **{s: sum(concept_split(c) == s for c in names) for s in ("train", "fusion", "heldout")},
        },
    }  # fmt: skip
    (out_dir / CONFIG_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
