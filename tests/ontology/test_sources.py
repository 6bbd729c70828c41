from __future__ import annotations

from pathlib import Path

from cmkd_med.ontology.sources import read_obo


def test_obo_reader_keeps_exact_synonyms_xrefs_and_drops_obsolete(tmp_path: Path) -> None:
    path = tmp_path / "t.obo"
    path.write_text(
        "format-version: 1.2\n\n[Term]\nid: DOID:4467\nname: clear cell renal cell carcinoma\n"
        'def: "A renal cell carcinoma with clear cytoplasm." [url:x]\n'
        'synonym: "conventional (clear cell) renal cell carcinoma" EXACT []\n'
        'synonym: "renal carcinoma" RELATED []\nxref: UMLS_CUI:C0279702\nxref: NCI:C4033\n'
        "is_a: DOID:4450 ! renal cell carcinoma\n\n[Term]\nid: DOID:1\nname: old\nis_obsolete: true\n\n"
        "[Typedef]\nid: part_of\nname: part of\n",
        encoding="utf-8",
    )
    terms = read_obo(path)
    assert [t.id for t in terms] == ["DOID:4467"]
    term = terms[0]
    assert term.xref_values("UMLS_CUI") == ["C0279702"] and term.xref_values("NCI") == ["C4033"]
    assert ("conventional (clear cell) renal cell carcinoma", "EXACT") in term.synonyms
    assert term.parents == ["DOID:4450"] and term.definition.startswith("A renal cell")
