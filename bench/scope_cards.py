"""Write the "Open world" section of each model card from the scope and assertion results in bench/results.

    python bench/scope_cards.py

Reads ``scope_sealed_<lang>.json``, ``scope_dev_notes_<lang>.json`` and ``assertion_sealed_<lang>.json``
(written by ``cmkd-med evaluate scope|assertion ... --out``, the commands the section names) and replaces the
block between the markers below in ``adapters/<lang>/MODEL_CARD.md`` (appended when absent).
``bench/student_cards.py`` calls it after rewriting a student card, so the section survives.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- open world: bench/scope_cards.py -->", "<!-- /open world -->"


def section(lang: str) -> str | None:
    names = ("scope_sealed", "scope_dev_notes", "assertion_sealed")
    paths = [RESULTS / f"{name}_{lang}.json" for name in names]
    if not all(p.is_file() for p in paths):
        return None
    sealed, dev, assertion = (json.loads(p.read_text(encoding="utf-8")) for p in paths)
    neg = assertion["negation"]
    data = f"examples/scope_dev/{lang}.jsonl"
    return f"""{START}
## Open world (scope and assertion)

Measured on the **sealed part** of our independently written open-world notes (`{data}`, split once by a
fixed seed on each row's id; rules and thresholds were chosen on the tuning part only):
`cmkd-med evaluate scope --lang {lang} --data {data} --part sealed` ({sealed["n"]} notes,
{sealed["n_out_of_scope"]} out of scope): out-of-scope notes given a supported type and not abstained
**{sealed["false_supported_rate"]:.3f}** (target ≤ 0.05); supported notes kept as supported and not abstained
**{sealed["supported_kept_rate"]:.3f}** (target ≥ 0.85); label accuracy of those kept
{sealed["label_accuracy_of_kept"]:.3f}. `cmkd-med evaluate assertion --lang {lang} --data
examples/assertion_dev/{lang}.jsonl --part sealed` ({assertion["n"]} cases): negation precision
**{neg["precision"]:.2f}**, recall **{neg["recall"]:.2f}** (target ≥ 0.9 each); all five statuses accuracy
{assertion["accuracy"]:.2f}.

On the 60 dev notes of this card
(`cmkd-med evaluate scope --lang {lang} --data examples/dev_notes/{lang}.jsonl`):
{dev["supported_kept_rate"]:.3f} kept as supported and not abstained; macro-F1 counting a note sent out of
scope as wrong {dev["supported_macro_f1_with_scope"]:.3f}, against
{dev["supported_macro_f1_closed_world"]:.3f} in the closed world of the same run (the figures above this
section are closed-world figures).
{END}"""


def apply(lang: str) -> bool:
    text = section(lang)
    path = ROOT / "adapters" / lang / "MODEL_CARD.md"
    if text is None or not path.is_file():
        return False
    card = path.read_text(encoding="utf-8")
    if START in card and END in card:
        card = card[: card.index(START)] + text + card[card.index(END) + len(END) :]
    else:
        card = card.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(card, encoding="utf-8")
    return True


if __name__ == "__main__":
    for code in ("en", "pt", "hi", "sw"):
        print(code, "written" if apply(code) else "no results")
