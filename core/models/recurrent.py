"""Recurrent character models, as in char-rnn (Karpathy 2015, "The Unreasonable
Effectiveness of Recurrent Neural Networks"): vanilla RNN (Elman 1990, tanh), GRU (Cho et
al. 2014) and LSTM (Hochreiter & Schmidhuber 1997).

Characters are embedded, run through n_layer recurrent layers of width n_embd (PyTorch's
fused nn.RNN / nn.GRU / nn.LSTM kernels, batch_first, no Python loop over time), and a
linear head reads the top layer. Training is truncated backprop through time over
windows of block_size characters, each starting from a zero state; decoding carries the
state through the whole text, one character at a time.

Config fields: vocab_size, block_size (the training window), n_embd (embedding and
hidden width), n_layer, dropout (after every layer: between layers and before the
head, as char-rnn). n_head, bias, activation and position are not used.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from charlm_tui.core.config import ModelConfig
from charlm_tui.core.models.protocol import ContextKind

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}
# One time step of a layer, as the modules' own cells compute it.
CELL_STEPS = {nn.RNN: torch.rnn_tanh_cell, nn.GRU: torch.gru_cell}
# An LSTM's state is (h, c); the others' is h alone.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class RecurrentState:
    """Each layer's state after the characters fed so far; None: zeros (not yet fed)."""

    def __init__(self, n_layer: int) -> None:
        self.layers: list[State | None] = [None] * n_layer
        self.length = 0

    def reset(self) -> None:
        self.layers = [None] * len(self.layers)
        self.length = 0


class Recurrent(nn.Module):
    context_kind: ContextKind = "unbounded"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.model not in CELLS:
            raise ValueError(f"unknown recurrent cell {cfg.model!r}")
        self.config = cfg
        C = cfg.n_embd
        self.wte = nn.Embedding(cfg.vocab_size, C)
        # One single-layer module per layer, with nn.Dropout between them, rather than
        # one n_layer module with its `dropout=` argument: on CUDA, cuDNN draws that
        # dropout from a generator of its own, seeded once per process, which the
        # trainer's per-(seed, rank, iteration) torch.manual_seed does not reach, so a
        # resumed run would draw other masks. Each layer still runs the fused kernel
        # over the whole window; on CPU PyTorch loops over the layers in C++ anyway.
        self.layers = nn.ModuleList(
            CELLS[cfg.model](C, C, batch_first=True) for _ in range(cfg.n_layer)
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(C, cfg.vocab_size)
        if cfg.model == "lstm":
            # Forget gates start open (bias 1, gate order i, f, g, o): the state is kept
            # by default early in training (Gers et al. 2000; Jozefowicz et al. 2015,
            # "An Empirical Exploration of Recurrent Network Architectures"; char-rnn).
            with torch.no_grad():
                for layer in self.layers:
                    layer.bias_ih_l0[C : 2 * C].fill_(1.0)
                    layer.bias_hh_l0[C : 2 * C].zero_()

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def new_cache(self, batch: int = 1) -> RecurrentState:
        return RecurrentState(len(self.layers))

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        cache: RecurrentState | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for every position; with a cache, starting from (and updating) its
        state, else from zeros."""
        x = self.wte(idx)
        for i, layer in enumerate(self.layers):
            x, state = layer(x, cache.layers[i] if cache is not None else None)
            x = self.drop(x)
            if cache is not None:
                cache.layers[i] = state
        if cache is not None:
            cache.length += idx.shape[1]
        logits = self.head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    def step(self, token: int, cache: RecurrentState) -> torch.Tensor:
        """Logits (vocab_size,) for the character after `token`: one time step, however
        long the text before it (its state is all the model keeps).

        forward()'s maths for one character of a batch of one, on the kernels nn.LSTMCell
        & co. use: through the nn.LSTM modules, a step of the lstm preset's shape took
        418 us, here 113 us (generation: ~1,500 -> ~5,500 characters/s on one core).
        Call it under torch.inference_mode() with the model in eval() (no dropout).
        """
        x = self.wte.weight[token][None]  # (1, C)
        for i, layer in enumerate(self.layers):
            weights = (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
            state = cache.layers[i]
            if state is None:
                zero = x.new_zeros(1, 1, x.shape[-1])  # nn.RNN's layout: (layers, B, C)
                state = (zero, zero) if isinstance(layer, nn.LSTM) else zero
            if isinstance(layer, nn.LSTM):
                x, c = torch.lstm_cell(x, (state[0][0], state[1][0]), *weights)
                cache.layers[i] = (x[None], c[None])
            else:
                x = CELL_STEPS[type(layer)](x, state[0], *weights)
                cache.layers[i] = x[None]
        cache.length += 1
        return self.head.forward(x)[0]
