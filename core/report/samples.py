"""A run's final sample for its report: the one it wrote at its last iteration, or one
generated from its best.pt with a fixed seed, so the same run gives the same text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charlm_tui.core.errors import CharLMError
from charlm_tui.core.runs.scores import scored_checkpoint
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.values import as_finite, as_int

SEED = 1337  # the generator's seed for a sample the report writes itself
CHARS = 200  # its length when the run wrote none (--sample-chars 0)
TEMPERATURE = 0.8


@dataclass(frozen=True)
class FinalSample:
    text: str
    prompt: str
    iter: int
    temperature: float
    source: str  # where it came from, as a sentence's end: "written by the training at ..."


def shown_text(prompt: str, text: str) -> str:
    """A sample as the console and the dashboard show it: its own prompt (--sample-prompt)
    first; the default prompt, a newline, left out."""
    return prompt.lstrip("\n") + text


def final_sample(view: RunView) -> tuple[FinalSample | None, str]:
    """(the sample, "") or (None, why there is none). The run's own last sample when it
    was written at the run's last iteration; else generated from best.pt (else last.pt)
    on the CPU, seed SEED, at the run's sample temperature and length."""
    last = view.samples[-1] if view.samples else None
    if last is not None and last.iter >= view.iter:
        return FinalSample(last.text, last.prompt, last.iter, last.temperature,
                           "written by the training at its last iteration"), ""  # fmt: skip
    ckpt = scored_checkpoint(view.path)
    if ckpt is None:
        return None, "no checkpoint to sample from"
    temperature = as_finite(view.train.get("sample_temperature"))
    temperature = TEMPERATURE if temperature is None or temperature < 0 else temperature
    chars = as_int(view.train.get("sample_chars")) or CHARS
    try:
        text, prompt, it = generate_from(ckpt, chars, temperature)
    except CharLMError as e:
        return None, str(e)
    source = f"generated from {ckpt.name} (iteration {it:,}), seed {SEED}"
    return FinalSample(text, prompt, it, temperature, source), ""


def generate_from(ckpt_path: Path, chars: int, temperature: float) -> tuple[str, str, int]:
    """(text, prompt, the checkpoint's iteration): `chars` characters after the run's
    --sample-prompt (else the default context), drawn on the CPU with a generator seeded
    SEED (the same text every time)."""
    import torch

    from charlm_tui.core.decoding.options import SamplingParams
    from charlm_tui.core.decoding.sampling import default_context, generate
    from charlm_tui.core.models.checkpoint import load_model

    model, vocab, ckpt = load_model(ckpt_path)
    model.to("cpu")
    train = ckpt.get("config", {}).get("train", {}) if isinstance(ckpt.get("config"), dict) else {}
    asked = train.get("sample_prompt") if isinstance(train, dict) else None
    known = isinstance(asked, str) and asked and all(ch in vocab.stoi for ch in asked)
    prompt = asked if known else default_context(vocab)
    params = SamplingParams(temperature=temperature)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        ids = list(generate(model, vocab.encode(prompt), chars, params, g, "cpu"))
    return vocab.decode(ids), prompt, as_int(ckpt.get("iter")) or 0
