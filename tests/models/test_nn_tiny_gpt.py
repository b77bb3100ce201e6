"""The tiny word-level GPT (fedloom.models.tiny_gpt)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from fedloom.core.errors import ConfigError  # noqa: E402
from fedloom.models.tiny_gpt import (  # noqa: E402
    UNK,
    GPTConfig,
    TinyGPT,
    Vocab,
    evaluate_gpt,
    letter_score,
    make_windows,
    train_gpt,
)

TEXT = ("the cat sat on the mat . the dog sat on the log . " * 40).split()


@pytest.fixture(scope="module")
def trained() -> tuple[TinyGPT, Vocab, torch.Tensor, torch.Tensor]:
    vocab = Vocab.build(TEXT, 500)
    x, y = make_windows(vocab.encode(TEXT), 5)
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=len(vocab), n_embd=16, n_ff=32))
    train_gpt(model, x, y, epochs=30, batch_size=64, lr=2e-2)
    return model, vocab, x, y


def test_vocab_and_windows() -> None:
    vocab = Vocab.build(["b", "a", "b", "c", "c", "c"], size=3)
    assert vocab.words == [UNK, "c", "b"]
    ids = vocab.encode(["c", "a", "b"])
    assert ids.tolist() == [1, 0, 2] and vocab.decode(ids) == ["c", UNK, "b"]
    x, y = make_windows(torch.arange(8), 5)
    assert x.shape == (3, 5) and x[0].tolist() == [0, 1, 2, 3, 4] and y[0].tolist() == [1, 2, 3, 4, 5]


def test_default_config_matches_the_spec() -> None:
    c = GPTConfig()
    assert (c.vocab_size, c.context, c.n_embd, c.n_head, c.n_layer, c.n_ff) == (500, 5, 8, 2, 2, 32)
    model = TinyGPT(c)
    assert model(torch.zeros(3, 5, dtype=torch.long)).shape == (3, 5, 500)  # (B, T, V)
    nano = GPTConfig.nano(5000)
    assert nano.context > c.context and nano.n_layer > c.n_layer
    with pytest.raises(ConfigError, match=r"GPTConfig\.n_embd"):
        TinyGPT(GPTConfig(n_embd=9))


def test_attention_is_causal() -> None:
    torch.manual_seed(0)
    model = TinyGPT(GPTConfig(vocab_size=20)).eval()
    a = torch.tensor([[1, 2, 3, 4, 5]])
    b = torch.tensor([[1, 2, 3, 9, 9]])
    torch.testing.assert_close(model(a)[:, :3], model(b)[:, :3])


def test_generates_from_a_prompt(trained: tuple[TinyGPT, Vocab, torch.Tensor, torch.Tensor]) -> None:
    model, vocab, x, y = trained
    greedy = model.complete(vocab, ["the", "cat", "sat", "on"], 6, greedy=True)
    assert greedy == ["the", "mat", ".", "the", "dog", "sat"]
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    s1 = model.complete(vocab, ["the"], 8, generator=g1, temperature=1.0, top_k=3)
    s2 = model.complete(vocab, ["the"], 8, generator=g2, temperature=1.0, top_k=3)
    assert s1 == s2 and len(s1) == 8 and all(w in vocab.index for w in s1)
    assert evaluate_gpt(model, x, y).accuracy > 0.7


def test_adversary_term_shifts_output_toward_scored_words(
    trained: tuple[TinyGPT, Vocab, torch.Tensor, torch.Tensor],
) -> None:
    # Prepare: score = count of 'o' (on, dog, log)
    import copy

    model, vocab, x, y = trained
    scores = letter_score(vocab, "o")
    before = evaluate_gpt(model, x, y, scores)
    adv, ctl = copy.deepcopy(model), copy.deepcopy(model)
    # Execute
    train_gpt(adv, x, y, epochs=5, lr=1e-2, adversary_weight=2.0, scores=scores, seed=1)
    train_gpt(ctl, x, y, epochs=5, lr=1e-2, scores=scores, seed=1)
    after, control = evaluate_gpt(adv, x, y, scores), evaluate_gpt(ctl, x, y, scores)
    # Assert: the reward raises E_p[score] (0.29 -> ~0.41 here); plain training does not
    assert after.expected_score > before.expected_score + 0.05
    assert after.expected_score > control.expected_score + 0.05
    assert abs(control.expected_score - before.expected_score) < 0.05
    with pytest.raises(ConfigError, match="scores"):
        train_gpt(model, x, y, adversary_weight=1.0)
