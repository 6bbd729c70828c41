"""Issue 17 (hardening), files side: every file of an index folder and of a copied tiny adapter folder damaged
byte-wise (truncated, garbled, emptied, wrong dimension or shape, bad config values) fails at load with the
project's own error — one line and exit code 2 through the CLI — and no NaN ever passes for an answer.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cmkd_med.cli import main
from cmkd_med.errors import AdapterFormatError, DataFormatError, IndexFormatError, ModelOutputError
from cmkd_med.index import RetrievalIndex, build_index, parse_item
from tests.test_index import FakeTeacher


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


def garble(path: Path) -> None:
    """0xFF over a stretch in the middle: invalid UTF-8 in text, a NaN in float16/float32 data."""
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start : start + 64] = b"\xff" * min(64, len(data) - start)
    path.write_bytes(bytes(data))


def garble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:40] = b"\xff" * 32  # inside a safetensors file's JSON header
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


DAMAGE: dict[str, Callable[[Path], None]] = {"truncated": truncate, "garbled": garble, "empty": empty}


# --- index folders ---------------------------------------------------------------------------------
@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    rows = [
        {"id": "r1", "text": "clear cell renal cell carcinoma", "label": "KIRC"},
        {"id": "r2", "text": "lung adenocarcinoma", "label": "LUAD"},
        {"id": "v1", "variants": ["EGFR L858R"], "label": "LUAD"},
        {"id": "i1", "image": [0.1, 0.2, 0.3, 0.4]},
    ]
    items = [parse_item(r, n) for n, r in enumerate(rows, 1)]
    build_index(items, tmp_path / "idx", FakeTeacher(), progress=False)
    return tmp_path / "idx"


INDEX_FILES = ["index.json", "text.faiss", "variants.faiss", "image.faiss", "items.jsonl"]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", INDEX_FILES)
def test_every_damaged_index_file_is_an_index_format_error(index_dir: Path, name: str, damage: str) -> None:
    # issue 17: all 15 corrupted-index cases raised a traceback
    RetrievalIndex(index_dir)  # sound before the damage
    DAMAGE[damage](index_dir / name)
    with pytest.raises(IndexFormatError, match=name.replace(".", r"\.")):
        RetrievalIndex(index_dir)


@pytest.mark.parametrize(("name", "damage"), [("index.json", "garbled"), ("text.faiss", "truncated")])
def test_a_damaged_index_through_the_cli_is_one_line_exit_2(
    index_dir: Path, name: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    DAMAGE[damage](index_dir / name)
    assert main(["retrieve", "saratani ya mapafu", "--lang", "sw", "--index", str(index_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cmkd-med: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_wrong_dimension_and_missing_or_inconsistent_files(index_dir: Path) -> None:
    index = RetrievalIndex(index_dir)
    with pytest.raises(IndexFormatError, match="8-dimensional"):
        index.search(np.ones(16, dtype=np.float32))  # a query from a teacher of another width
    with pytest.raises(ModelOutputError):
        index.search(np.full(8, np.nan, dtype=np.float32))
    meta = json.loads((index_dir / "index.json").read_text())
    (index_dir / "index.json").write_text(json.dumps({**meta, "shared_dim": 16}))
    with pytest.raises(IndexFormatError, match="dimension"):
        RetrievalIndex(index_dir)
    (index_dir / "index.json").write_text(json.dumps({**meta, "files": {}}))  # an index from before checksums
    (index_dir / "items.jsonl").write_text('{"id": "r1", "modality": "text"}\n')
    with pytest.raises(IndexFormatError, match="truncated"):
        RetrievalIndex(index_dir)
    (index_dir / "variants.faiss").unlink()
    with pytest.raises(IndexFormatError, match="missing"):
        RetrievalIndex(index_dir)


# --- adapter folders -------------------------------------------------------------------------------
def _edit_config(folder: Path, **values: object) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **values}))


@pytest.fixture
def teacher_dir(tiny_models: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the tiny teacher, with a tiny lexical expert pooled in."""
    from cmkd_med.models.lexical import LexicalExpert

    folder = tmp_path / "teacher"
    shutil.copytree(tiny_models[1], folder)
    classes = json.loads((folder / "config.json").read_text())["classes"]
    vocab = ["carcinoma", "lung", "renal", "urothelial"]
    rng = np.random.default_rng(0)
    LexicalExpert(
        vocab,
        np.ones(len(vocab), np.float32),
        rng.normal(size=(len(classes), len(vocab))),
        np.zeros(len(classes)),
    ).save(folder)
    _edit_config(folder, lexical_weight=0.5)
    return folder


@pytest.fixture
def student_dir(tiny_models: tuple[Path, Path], tmp_path: Path) -> Path:
    from tests.models.test_student import _student

    model, _ = _student(tiny_models, entity=False)
    folder = tmp_path / "student"
    model.save(folder)
    return folder


def _load_teacher(folder: Path) -> object:
    from cmkd_med.models.teacher_runtime import Teacher

    return Teacher.load(folder)


def _load_student(folder: Path) -> object:
    from cmkd_med.models.student import StudentModel

    return StudentModel.load(folder)


TEACHER_FILES = ["teacher.safetensors", "lexical.safetensors", "lexical_vocab.json", "config.json"]


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "header"])
@pytest.mark.parametrize("name", TEACHER_FILES)
def test_every_damaged_teacher_file_is_refused(teacher_dir: Path, name: str, damage: str) -> None:
    # issue 17: truncated or garbled safetensors and broken teacher/lexical files raised tracebacks
    _load_teacher(teacher_dir)  # sound before the damage
    (garble_header if damage == "header" else DAMAGE[damage])(teacher_dir / name)
    with pytest.raises(DataFormatError):  # AdapterFormatError is one
        _load_teacher(teacher_dir)


@pytest.mark.parametrize("damage", ["truncated", "garbled", "empty", "header"])
@pytest.mark.parametrize("name", ["student.safetensors", "config.json"])
def test_every_damaged_student_file_is_refused(student_dir: Path, name: str, damage: str) -> None:
    _load_student(student_dir)
    (garble_header if damage == "header" else DAMAGE[damage])(student_dir / name)
    with pytest.raises(DataFormatError):
        _load_student(student_dir)


BAD_VALUES: list[dict[str, object]] = [
    {"temperature": 0},  # issue 17: gave "probability": NaN, "abstained": false
    {"temperature": -1.0},
    {"temperature": math.inf},
    {"temperature": "1.0"},
    {"abstain_threshold": 1.5},
    {"abstain_threshold": -0.1},
    {"mc_samples": 0},
    {"dropout": 1.0},
    {"classes": []},
    {"text_space": "cube"},
]


@pytest.mark.parametrize("values", BAD_VALUES, ids=lambda v: "-".join(f"{k}={v[k]}" for k in v))
def test_bad_config_values_are_refused(
    teacher_dir: Path, student_dir: Path, values: dict[str, object]
) -> None:
    for folder, load in ((teacher_dir, _load_teacher), (student_dir, _load_student)):
        _edit_config(folder, **values)
        with pytest.raises(AdapterFormatError, match=next(iter(values))):
            load(folder)


def test_teacher_only_values_and_nan_in_config_json(teacher_dir: Path) -> None:
    for values in ({"lexical_weight": 2.0}, {"pool_temperature": 0.0}, {"n_members": 0}):
        _edit_config(
            teacher_dir, **{"lexical_weight": 0.5, "pool_temperature": 1.0, "n_members": 2, **values}
        )
        with pytest.raises(AdapterFormatError, match=next(iter(values))):
            _load_teacher(teacher_dir)
    _edit_config(teacher_dir, n_members=2)
    text = (teacher_dir / "config.json").read_text().replace('"temperature": 1.0', '"temperature": NaN')
    (teacher_dir / "config.json").write_text(text)
    with pytest.raises(AdapterFormatError, match="temperature"):
        _load_teacher(teacher_dir)


def test_wrong_shapes_and_broken_lexical_parts(teacher_dir: Path, student_dir: Path) -> None:
    from safetensors.numpy import save_file

    _edit_config(student_dir, classifier_hidden=7)  # the heads no longer fit the saved weights
    with pytest.raises(AdapterFormatError, match="do not fit"):
        _load_student(student_dir)
    _edit_config(teacher_dir, image_dim=5)
    with pytest.raises(AdapterFormatError, match="do not fit"):
        _load_teacher(teacher_dir)
    _edit_config(teacher_dir, image_dim=6)
    (teacher_dir / "lexical_vocab.json").write_text(json.dumps(["carcinoma", "carcinoma", "lung", "renal"]))
    with pytest.raises(AdapterFormatError, match="distinct"):
        _load_teacher(teacher_dir)
    (teacher_dir / "lexical_vocab.json").write_text(json.dumps(["carcinoma", "lung"]))
    with pytest.raises(AdapterFormatError, match="shapes disagree"):
        _load_teacher(teacher_dir)
    (teacher_dir / "lexical_vocab.json").write_text(json.dumps(["a", "b", "c", "d"]))
    save_file(
        {
            "idf": np.ones(4, np.float32),
            "coef": np.ones((3, 4), np.float32),
            "intercept": np.zeros(3, np.float32),
        },
        str(teacher_dir / "lexical.safetensors"),
    )
    with pytest.raises(AdapterFormatError, match="3 classes"):
        _load_teacher(teacher_dir)


def test_nan_or_inf_weights_are_refused_at_load(teacher_dir: Path, student_dir: Path) -> None:
    from safetensors.torch import load_file, save_file

    # issue 17: NaN weights gave "probability": NaN, "abstained": false
    for path, load in (
        (teacher_dir / "teacher.safetensors", _load_teacher),
        (student_dir / "student.safetensors", _load_student),
    ):
        state = load_file(str(path))
        name = next(k for k, v in state.items() if v.is_floating_point())
        state[name] = state[name].clone()
        state[name].view(-1)[0] = math.inf
        save_file(state, str(path))
        with pytest.raises(AdapterFormatError, match="NaN or infinite"):
            load(path.parent)


def test_non_finite_probabilities_never_reach_a_result() -> None:
    from cmkd_med.models.teacher_runtime import Prediction

    probs = np.array([[0.5, 0.5], [np.nan, np.nan]])
    with pytest.raises(ModelOutputError, match="non-finite"):
        Prediction(probs, 1 - probs.max(1), np.zeros(2, bool), ["A", "B"])


def test_an_adapter_for_another_language_is_refused(student_dir: Path, teacher_dir: Path) -> None:
    from cmkd_med import pipeline

    # issue 17: an adapter whose config says another language was accepted
    with pytest.raises(AdapterFormatError, match="'pt', not for 'hi'"):
        pipeline("hi", adapter=student_dir)
    with pytest.raises(AdapterFormatError, match="'pt', not for 'en'"):
        pipeline("en", adapter=student_dir)
    with pytest.raises(AdapterFormatError, match="'en', not for 'sw'"):
        pipeline("sw", adapter=teacher_dir)


def test_damaged_adapters_through_the_cli_are_one_line_exit_2(
    teacher_dir: Path, student_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truncate(teacher_dir / "teacher.safetensors")
    assert main(["classify", "Lung adenocarcinoma.", "--lang", "en", "--adapter", str(teacher_dir)]) == 2
    _edit_config(student_dir, temperature=0)
    assert main(["classify", "Carcinoma urotelial.", "--lang", "pt", "--adapter", str(student_dir)]) == 2
    assert main(["classify", "Carcinoma urotelial.", "--lang", "hi", "--adapter", str(student_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("cmkd-med: error:") == 3 and err.count("\n") == 3 and "Traceback" not in err
    assert "safetensors" in err and "temperature" in err and "not for 'hi'" in err


# --- pickle ----------------------------------------------------------------------------------------
class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("pwned: code ran while loading",))


def test_a_crafted_training_checkpoint_cannot_run_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cmkd_med.training.teacher import TeacherTrainer

    # issue 17: training/teacher.py loaded its checkpoint with torch.load(weights_only=False)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": _Exploit()}, path)
    with pytest.raises(DataFormatError, match="not a cmkd-med training checkpoint"):
        TeacherTrainer.resume(SimpleNamespace(), path)  # type: ignore[arg-type]
    assert "pwned" not in capsys.readouterr().out


def test_no_pickle_loading_anywhere_in_the_package() -> None:
    root = Path(__file__).resolve().parent.parent / "cmkd_med"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in text and "pickle.load" not in text and "joblib.load" not in text, (
            path
        )
        for line in (x for x in text.splitlines() if "torch.load(" in x):
            assert "weights_only=True" in line, f"{path}: {line.strip()}"
