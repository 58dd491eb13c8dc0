"""Run under torchrun by test_cli: rank 1 alone sees a NaN loss at its third step.

Not a test module (pytest collects test_*.py only); it exits with the CLI's code.
"""

import os
import sys

import torch

from charlm_tui.core.models.gpt import GPT
from charlm_tui.tui.cli import run

if os.environ.get("RANK") == "1":
    forward, calls = GPT.forward, [0]

    def poisoned(self, idx, targets=None, cache=None):
        logits, loss = forward(self, idx, targets, cache)
        if self.training and targets is not None:
            calls[0] += 1
            if calls[0] == 3:
                loss = loss * torch.tensor(float("nan"))
        return logits, loss

    GPT.forward = poisoned

sys.exit(run(sys.argv[1:]))
