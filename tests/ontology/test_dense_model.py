"""The shipped name adapter on the real multilingual-e5-small (built at set-up): it loads, refuses damaged
weights, and links what character n-grams cannot."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cmkd_med.errors import AdapterFormatError
from cmkd_med.ontology.dense import (
    ADAPTER_FILE,
    CONFIG_FILE,
    NameEncoder,
    default_adapter_dir,
    dense_available,
)
from cmkd_med.ontology.kb import KnowledgeBase
from cmkd_med.ontology.linker import ConceptLinker

pytestmark = pytest.mark.skipif(not dense_available(), reason="name adapter or bundled e5 not built")


def test_the_adapter_loads_and_changes_the_base_model() -> None:
    tuned, base = NameEncoder.load(), NameEncoder.load(Path("/nonexistent-adapter-folder"))
    assert tuned.adapter_sha and base.adapter_sha is None
    vectors = tuned.encode(["chondrosarcoma", "condrossarcoma", "kondrosakoma"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(vectors, base.encode(["chondrosarcoma", "condrossarcoma", "kondrosakoma"]))


def test_damaged_adapter_weights_are_refused_clearly(tmp_path: Path) -> None:
    folder = tmp_path / "linker"
    shutil.copytree(default_adapter_dir(), folder)
    (folder / ADAPTER_FILE).write_bytes((folder / ADAPTER_FILE).read_bytes()[:1000])
    with pytest.raises(AdapterFormatError, match="truncated or garbled"):
        NameEncoder.load(folder)
    assert (folder / CONFIG_FILE).is_file()


def test_mentions_reach_concepts_with_english_names_only() -> None:
    kb = KnowledgeBase.load()
    hi = ConceptLinker(kb, "hi")
    assert hi.dense is not None
    assert kb[hi.lookup("कॉन्ड्रोसारकोमा")[0].cui].preferred("en") == "chondrosarcoma"
    sw = ConceptLinker(kb, "sw")
    top = sw.lookup("kasinoma ya seli bapa ya zoloto")[0]  # squamous cell carcinoma of the larynx
    assert kb[top.cui].preferred("en") == "laryngeal squamous cell carcinoma"


def test_running_text_false_positives_are_not_linked() -> None:
    kb = KnowledgeBase.load()
    pt = ConceptLinker(kb, "pt")
    found = {
        m.text: m.cui for m in pt.link("Este texto não é paciente real; carcinoma urotelial papilífero.")
    }
    assert "paciente real" not in found  # not the renal pelvis
    assert kb[found["carcinoma urotelial papilífero"]].tcga_code is None  # not papillary renal cell carcinoma
    en = ConceptLinker(kb, "en")
    assert all(
        kb[m.cui].preferred("en") != "perineurioma" for m in en.link("Perineural invasion is present.")
    )
