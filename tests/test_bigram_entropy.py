"""A bigram model trained by gradient descent must reach the count-based optimum."""

import math
from collections import Counter

import numpy as np

from charlm_tui.core.decoding.evaluate import evaluate_split
from charlm_tui.core.text.corpus import Corpus
from charlm_tui.core.text.dataset import make_dataset
from tests.conftest import make_text
from tests.train_helpers import short_training

BLOCK = 64  # the bigram trains, and is measured, on windows of this many characters


def conditional_entropy(ids: np.ndarray) -> float:
    """H(next | current) in nats, from bigram counts: the best any bigram model can do."""
    pairs = Counter(zip(ids[:-1].tolist(), ids[1:].tolist(), strict=True))
    firsts = Counter(ids[:-1].tolist())
    n = len(ids) - 1
    return -sum(c / n * math.log(c / firsts[a]) for (a, _), c in pairs.items())


def test_bigram_reaches_count_based_conditional_entropy(tmp_path) -> None:
    path = tmp_path / "c.txt"
    path.write_text(make_text(20_000, seed=5), encoding="utf-8")
    # One table of logits: a high learning rate takes it to the counts in 600 steps.
    schedule = dict(max_iters=600, lr=0.3, min_lr=0.03, batch_size=64, block_size=BLOCK)
    cheap_evals = dict(eval_interval=600, eval_iters=1)  # not what this test measures
    training = short_training(path, None, "bigram", **schedule, **cheap_evals)
    training.run()
    train = training.trainer.dataset.train
    achieved = evaluate_split(training.trainer.model, train, block_size=BLOCK).loss
    optimum = conditional_entropy(np.asarray(train))
    assert optimum <= achieved + 1e-4  # nothing beats the counts on their own data
    assert achieved - optimum < 0.02, (achieved, optimum)
    print(f"bigram {achieved:.4f} vs optimum {optimum:.4f}")


def test_the_corpus_is_not_trivial() -> None:
    # An optimum near zero would make the test above pass for any model.
    corpus = Corpus.of_text("generated", make_text(20_000, seed=5), ("generated",))
    ds = make_dataset(corpus, 0.1)
    assert conditional_entropy(np.asarray(ds.train)) > 1.0
