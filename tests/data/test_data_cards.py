"""Data cards and the dataset registry: every dataset has a complete card whose row counts match the data."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import yaml

from cmkd_med.config import PROJECT_ROOT, data_dir
from cmkd_med.data.cli import register
from cmkd_med.data.registry import DATASETS, count_obo_terms, count_ok_pairs, count_oncotree_nodes, count_rows
from cmkd_med.errors import DataFormatError, DataNotFoundError

CARDS = PROJECT_ROOT / "data_cards"
REQUIRED_KEYS = ("license", "language", "pretty_name", "source", "source_commit")
REQUIRED_HEADINGS = (
    "# Dataset Card for",
    "## Dataset Description",
    "## Dataset Structure",
    "### Row counts",
    "## Dataset Creation",
    "### Source Data",
    "### Provenance",
    "## Considerations for Using the Data",
    "### Personal and Sensitive Information",
    "### Out-of-Scope Use",
    "### Known Limitations",
    "## Licensing Information",
    "## Citation",
)
_COUNT_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|\s*([\d,]+)\s*\|\s*$")


def _split_card(name: str) -> tuple[dict[str, object], str]:
    text = (CARDS / DATASETS[name].card).read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n(.*)$", text, flags=re.DOTALL)
    assert match, f"{name}: the card must start with YAML front matter between '---' lines"
    front = yaml.safe_load(match.group(1))
    assert isinstance(front, dict), f"{name}: front matter is not a mapping"
    return front, match.group(2)


def _section(body: str, heading: str) -> str:
    """The text under the first heading that starts with ``heading``, up to the next as high or higher."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = body.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(heading)), None)
    if start is None:
        return ""
    section = []
    for line in lines[start + 1 :]:
        hashes = len(line) - len(line.lstrip("#"))
        if 0 < hashes <= level and line[hashes : hashes + 1] == " ":
            break
        section.append(line)
    return "\n".join(section)


def _card_counts(body: str) -> dict[str, int]:
    rows = (_COUNT_ROW.match(line) for line in _section(body, "### Row counts").splitlines())
    return {m.group(1): int(m.group(2).replace(",", "")) for m in rows if m}


# --- cards, without the data ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_card_front_matter_and_headings(name: str) -> None:
    dataset = DATASETS[name]
    assert (CARDS / dataset.card).is_file(), f"no card data_cards/{dataset.card} for dataset {name!r}"
    front, body = _split_card(name)

    missing = [key for key in REQUIRED_KEYS if key not in front]
    assert not missing, f"{name}: front matter lacks {missing}"
    assert front.get("task_categories") or front.get("tags"), f"{name}: needs task_categories or tags"
    assert front["license"] == dataset.licence
    assert front["language"] == list(dataset.languages)
    assert isinstance(front["pretty_name"], str) and front["pretty_name"].strip()
    assert str(front["source"]).startswith("https://github.com/")
    assert re.fullmatch(r"[0-9a-f]{7,40}", str(front["source_commit"])), front["source_commit"]
    # The provenance section must name the same commit as the front matter.
    assert str(front["source_commit"]) in _section(body, "### Provenance")

    for heading in REQUIRED_HEADINGS:
        assert any(line.startswith(heading) for line in body.splitlines()), f"{name}: no heading {heading!r}"
        text = "\n".join(line for line in _section(body, heading).splitlines() if not line.startswith("#"))
        assert text.strip(), f"{name}: section {heading!r} is empty"
    assert "cmkd-med data stats" in _section(body, "### Row counts"), (
        f"{name}: row counts must name the command"
    )
    assert _card_counts(body), f"{name}: no `key` | count rows in the Row counts table"


def test_every_card_is_registered_and_indexed() -> None:
    cards = {path.name for path in CARDS.glob("*.md")} - {"README.md"}
    assert cards == {dataset.card for dataset in DATASETS.values()}
    index = (CARDS / "README.md").read_text(encoding="utf-8")
    for dataset in DATASETS.values():
        assert f"({dataset.card})" in index, f"data_cards/README.md does not link {dataset.card}"


# --- row counts on the real data ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DATASETS))
def test_card_counts_match_the_data(name: str) -> None:
    root = data_dir()
    if not root.is_dir():
        pytest.skip(f"data directory {root} is absent (set CMKD_DATA_DIR to the shared data folder)")
    _, body = _split_card(name)
    assert _card_counts(body) == count_rows(name), (
        f"{name}: card counts differ; rerun `cmkd-med data stats {name}`"
    )


@pytest.mark.slow
def test_readme_totals_of_the_data_readme_hold() -> None:
    # Figures the data README states, cross-checked by independent counting functions.
    root = data_dir()
    if not root.is_dir():
        pytest.skip(f"data directory {root} is absent (set CMKD_DATA_DIR to the shared data folder)")
    assert count_rows("tcga_reports") == {"train": 4589, "dev": 612}
    assert count_rows("tico19") == {"sentences": 993}
    doid = count_rows("doid")
    assert (doid["DO_cancer_slim"], doid["DO_cancer_slim_with_umls"]) == (729, 513)
    assert count_rows("oncotree")["nodes_with_umls"] == 692
    assert count_rows("mondo")["mondo_exactmatch_umls"] == 21660


# --- unit tests on tiny fixtures -------------------------------------------------------------------


def test_count_ok_pairs_reads_both_layouts_and_joins_the_mapping(tmp_path: Path) -> None:
    mapping = tmp_path / "pten_mapping.txt"
    mapping.write_text("111\tdoc1\n222\tdoc2\n", encoding="utf-8")
    new = tmp_path / "pt-en_align_validation.tsv"
    new.write_text(
        "OK\t111\t1\t1\n"
        "NO_ALIGNMENT\t111\t2\tomitted\n"
        "OK\t222\t1,2\t3\n"
        "OK\t999\t1\t1\n"  # PMID absent from the mapping: no text to pair, not counted
        "OVERLAP\t222\t3\t4\n",
        encoding="utf-8",
    )
    old = tmp_path / "align_validation_pt_en.txt"  # 2019 layout: pmid, "x <=> en", label
    old.write_text(
        "111\tomitted <=> 1\tNO_ALIGNMENT\n111\t1 <=> 2\tOK\n222\t2 <=> 3,4\tOK\n", encoding="utf-8"
    )
    assert count_ok_pairs(new, mapping) == 2
    assert count_ok_pairs(old, mapping) == 2

    bad = tmp_path / "bad.tsv"
    bad.write_text("OK 111 1 1\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.tsv:1"):
        count_ok_pairs(bad, mapping)


def test_count_obo_terms_skips_obsolete_and_typedefs(tmp_path: Path) -> None:
    obo = tmp_path / "mini.obo"
    obo.write_text(
        "format-version: 1.2\n\n"
        "[Term]\nid: DOID:1\nname: a\nxref: UMLS_CUI:C0000001\n\n"
        "[Term]\nid: DOID:2\nname: b\nis_obsolete: true\nxref: UMLS_CUI:C0000002\n\n"
        "[Typedef]\nid: part_of\nxref: UMLS_CUI:C0000003\n\n"
        "[Term]\nid: DOID:3\nname: c\nxref: NCI:C1\n",  # last stanza, no trailing blank line
        encoding="utf-8",
    )
    assert count_obo_terms(obo) == (2, 1)


def test_count_oncotree_nodes_walks_nested_children(tmp_path: Path) -> None:
    tree = {
        "TISSUE": {
            "code": "TISSUE",
            "externalReferences": {"UMLS": ["C0040300"], "NCI": ["C12801"]},
            "children": {
                "LUNG": {
                    "code": "LUNG",
                    "externalReferences": {},
                    "children": {
                        "LUAD": {"code": "LUAD", "externalReferences": {"UMLS": ["C0152013"]}, "children": {}}
                    },
                },
            },
        }
    }
    path = tmp_path / "oncotree.json"
    path.write_text(json.dumps(tree), encoding="utf-8")
    assert count_oncotree_nodes(path) == {"nodes": 3, "nodes_with_umls": 2, "nodes_with_nci": 1}

    path.write_text(json.dumps({"ROOT": {}}), encoding="utf-8")
    with pytest.raises(DataFormatError, match="TISSUE"):
        count_oncotree_nodes(path)


def test_cid10_is_read_as_latin1_with_literal_quotes(tmp_path: Path) -> None:
    folder = tmp_path / "labels" / "cid10_ptbr"
    folder.mkdir(parents=True)
    rows = {
        "CID-10-CAPITULOS.CSV": "NUMCAP;CATINIC;CATFIM;DESCRICAO;DESCRABREV;\n1;A00;B99;Cólera;Colera;\n",
        "CID-10-GRUPOS.CSV": "CATINIC;CATFIM;DESCRICAO;DESCRABREV;\n",
        "CID-10-CATEGORIAS.CSV": "CAT;CLASSIF;DESCRICAO;DESCRABREV;REFER;EXCLUIDOS;\n",
        # An unbalanced literal quote must not swallow the next line.
        "CID-10-SUBCATEGORIAS.CSV": 'SUBCAT;DESCRICAO;\nP121;"Chignon devido;\nP122;Outra;\n',
        "CID-O-GRUPOS.CSV": "CATINIC;CATFIM;DESCRICAO;REFER;\n",
        "CID-O-CATEGORIAS.CSV": "CAT;DESCRICAO;REFER;\nM8140/3;Adenocarcinoma SOE;;\n",
    }
    for name, text in rows.items():
        (folder / name).write_bytes(text.encode("iso-8859-1"))
    counts = count_rows("cid10_ptbr", data_root=tmp_path)
    assert counts["CID-10-CAPITULOS"] == 1
    assert counts["CID-10-SUBCATEGORIAS"] == 2
    assert counts["CID-O-CATEGORIAS"] == 1
    assert counts["CID-10-GRUPOS"] == 0


def test_unknown_dataset_name_lists_the_valid_ones() -> None:
    with pytest.raises(DataFormatError) as info:
        count_rows("tcga")
    assert "'tcga'" in str(info.value)
    assert all(name in str(info.value) for name in DATASETS)


def test_missing_folder_or_file_raises_data_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError):
        count_rows("hotspots", data_root=tmp_path)
    folder = tmp_path / "histo" / "histolearn"
    folder.mkdir(parents=True)
    (folder / "subset_labels.csv").write_text("label_name\nADI\n", encoding="utf-8")
    with pytest.raises(DataNotFoundError, match=r"subset_embeddings\.csv"):
        count_rows("histolearn", data_root=tmp_path)


# --- the CLI hook ----------------------------------------------------------------------------------


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cmkd-med")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_data_stats_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "variants" / "hotspots"
    folder.mkdir(parents=True)
    (folder / "publication_hotspots.tsv").write_text(
        "Hugo Symbol\tCodon\tTumor Count\nBRAF\tV600\t558\nKRAS\tG12\t736\n", encoding="utf-8"
    )
    args = _parse("data", "stats", "hotspots", "--data-dir", str(tmp_path), "--json")
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == {"hotspots": {"hotspots": 2}}

    # A missing dataset is reported, the others still counted, and the exit code says so.
    args = _parse("data", "stats", "hotspots", "histolearn", "--data-dir", str(tmp_path))
    assert args.func(args) == 1
    captured = capsys.readouterr()
    assert "hotspots" in captured.out and "error" in captured.out
    assert "histolearn" in captured.err
