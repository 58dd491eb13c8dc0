"""A minimal nanoGPT-style training process, for bench/startup.py to time: start to first step.

    python bench/_nanogpt_startup.py CORPUS

Imports torch, reads the corpus, builds the vocabulary and nanoGPT's README CPU model
(4 x 4 x 128, block 64), takes one AdamW step on a batch of 12 and exits. Prints one
JSON object with the wall-clock time (time.time()) at the end of each phase, so the
caller can subtract its own launch time.
"""

from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn as nn
from _nanogpt import GPT, GPTConfig, adamw, batch, encode, split

t_imported = time.time()
with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
chars, ids = encode(text)
train, _ = split(ids)
t_data = time.time()
torch.manual_seed(1337)
model = GPT(GPTConfig(vocab_size=len(chars), block_size=64, n_layer=4, n_head=4, n_embd=128))
opt = adamw(model, 1e-3, 0.1, (0.9, 0.99))
t_model = time.time()
x, y = batch(train, 64, 12, torch.Generator().manual_seed(1337), torch.device("cpu"))
_, loss = model(x, y)
opt.zero_grad(set_to_none=True)
loss.backward()
nn.utils.clip_grad_norm_(model.parameters(), 1.0)
opt.step()
loss.item()
t_step = time.time()
print(json.dumps({"imported": t_imported, "data": t_data, "model": t_model, "step": t_step}))
