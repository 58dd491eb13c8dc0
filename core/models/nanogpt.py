"""nanoGPT's character-level checkpoints (ckpt.pt and meta.pkl) read as our GPT.

nanoGPT's `train.py` saves a dict: `model` (the state dict; `_orig_mod.` before every
name when it trained under torch.compile), `model_args` (n_layer, n_head, n_embd,
block_size, bias, vocab_size, dropout), `iter_num`, `best_val_loss`, `config` (its
settings, `dataset` among them) and `optimizer`. Its GPT is GPT-2's: learned positions
(`transformer.wpe`), pre-LayerNorm blocks (`transformer.h.{i}.ln_1`, `.attn.c_attn` with
the queries, keys and values of all heads in one projection, `.attn.c_proj`, `.ln_2`,
`.mlp.c_fc`, exact GELU, `.mlp.c_proj`), `transformer.ln_f`, and `lm_head` tied to
`transformer.wte`. Versions without flash attention also save each block's causal mask as
`attn.bias`, a buffer, not a weight. That is our GPT with position="learned" and
activation="gelu", the same maths name for name; only the head is a tensor of its own.

A character dataset's `meta.pkl` is a pickled dict {vocab_size, itos, stoi}. It is read by
an unpickler that refuses every global, so nothing in it can run, and only dicts, strings
and integers are accepted.
"""

from __future__ import annotations

import io
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from charlm_tui.core.config import SPECS, ModelConfig, TrainConfig, configs_from_values
from charlm_tui.core.config import preset_values as preset_defaults
from charlm_tui.core.errors import CharLMError
from charlm_tui.core.files import open_regular
from charlm_tui.core.models.checkpoint import torch_load
from charlm_tui.core.text.corpus import UNKNOWN_CORPUS
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.values import is_int, is_number

COMPILED_PREFIX = "_orig_mod."  # torch.compile's wrapper names its module so
GPT2_VOCAB_SIZES = (50257, 50304)  # GPT-2's BPE tokens, and nanoGPT's padding of them
META = "meta.pkl"
META_MAX_BYTES = 64 << 20  # a character vocabulary's meta.pkl is kilobytes
MODEL_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "bias", "vocab_size")
PRESET = "nanogpt-baby"  # the preset named after nanoGPT's recipe: a label, every value set
# nanoGPT's settings (its `config`) that are ours under another name or the same one.
SETTINGS = {
    "learning_rate": "lr",
    "min_lr": "min_lr",
    "weight_decay": "weight_decay",
    "beta1": "beta1",
    "beta2": "beta2",
    "grad_clip": "grad_clip",
    "max_iters": "max_iters",
    "warmup_iters": "warmup_iters",
    "eval_interval": "eval_interval",
    "eval_iters": "eval_iters",
    "log_interval": "log_interval",
}  # not `compile`: it says what nanoGPT's machine could do, not what this one can
_BLOCK = re.compile(r"transformer\.h\.(\d+)\.(.+)")
_BLOCK_TENSORS = (
    "ln_1.weight",
    "ln_1.bias",
    "attn.c_attn.weight",
    "attn.c_attn.bias",
    "attn.c_proj.weight",
    "attn.c_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
)


@dataclass(frozen=True)
class NanoGPT:
    """A nanoGPT checkpoint converted: our configs, vocabulary and GPT state dict."""

    mcfg: ModelConfig
    tcfg: TrainConfig
    vocab: Vocab
    state: dict[str, torch.Tensor]
    iter: int
    best_val_loss: float | None
    dataset: str | None  # its config's `dataset`, as written there (untrusted)
    meta: Path
    reordered: bool  # its character order was not sorted: rows were moved to ours


# -- meta.pkl ------------------------------------------------------------------------------


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something beyond plain data (a class, a function)."""


class _NoGlobals(pickle.Unpickler):
    """Builds plain containers and literals only: any class or function is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(f"it names a Python global ({module}.{name})")

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("it holds a persistent reference")


def _plain(value: Any, where: str, depth: int = 0) -> None:
    """Dicts of strings and integers only (bool is not an integer here)."""
    if depth > 4:
        raise CharLMError(f"{where}: nested deeper than a vocabulary is")
    if isinstance(value, dict):
        for k, v in value.items():
            _plain(k, where, depth + 1)
            _plain(v, where, depth + 1)
    elif not (isinstance(value, str) or is_int(value)):
        raise CharLMError(
            f"{where}: holds a {type(value).__name__}; a nanoGPT meta.pkl holds only dicts, "
            "strings and integers"
        )


def read_meta(path: Path) -> dict[str, Any]:
    """meta.pkl as a dict, read without executing anything from it."""
    try:
        with open_regular(path) as f:
            raw = f.read(META_MAX_BYTES + 1)
    except FileNotFoundError:
        raise CharLMError(f"no such meta.pkl: {path}") from None
    except OSError as e:
        raise CharLMError(f"cannot read {path}: {e.strerror or e}") from None
    if len(raw) > META_MAX_BYTES:
        raise CharLMError(f"{path} is over {META_MAX_BYTES >> 20} MiB: not a character meta.pkl")
    try:
        meta = _NoGlobals(io.BytesIO(raw)).load()
    except _Refused as e:
        raise CharLMError(f"{path}: refused to load, {e} (loading it could run code)") from None
    except Exception as e:  # any failure to parse untrusted bytes: not a meta.pkl
        raise CharLMError(f"{path} is not a readable pickle ({type(e).__name__})") from None
    try:
        _plain(meta, str(path))
    except RecursionError:
        raise CharLMError(f"{path}: nested too deep to be a vocabulary") from None
    if not isinstance(meta, dict):
        raise CharLMError(f"{path} holds a {type(meta).__name__}, not nanoGPT's meta dict")
    return meta


def meta_chars(meta: dict[str, Any], where: str) -> list[str]:
    """The characters of a meta dict by nanoGPT id, checked: itos numbers 0..V-1, each
    a single distinct character, stoi its inverse, vocab_size V."""
    itos, stoi, size = meta.get("itos"), meta.get("stoi"), meta.get("vocab_size")
    if not isinstance(itos, dict) or not isinstance(stoi, dict) or not is_int(size):
        raise CharLMError(f"{where}: no itos, stoi and vocab_size: not a character meta.pkl")
    words = [v for v in itos.values() if isinstance(v, str) and len(v) != 1]
    if words:
        raise CharLMError(
            f"{where}: its tokens are not single characters ({words[0][:20]!r}): a word- or "
            "subword-level vocabulary; charlm-tui imports character-level models only"
        )
    if sorted(k for k in itos if is_int(k)) != list(range(len(itos))) or len(itos) != size:
        raise CharLMError(f"{where}: itos must number ids 0..{size - 1} (vocab_size {size})")
    chars = [itos[i] for i in range(size)]
    if not all(isinstance(c, str) for c in chars) or len(set(chars)) != size:
        raise CharLMError(f"{where}: itos gives some character two ids")
    if len(stoi) != size or any(stoi.get(c) != i for i, c in enumerate(chars)):
        raise CharLMError(f"{where}: stoi is not the inverse of itos")
    return chars


def find_meta(ckpt_path: Path, dataset: str | None, given: Path | None) -> Path | None:
    """--meta, else meta.pkl beside the checkpoint, else data/<dataset>/meta.pkl where
    nanoGPT's sample.py looks (from the folder above the checkpoint's, or from here)."""
    if given is not None:
        return given
    candidates = [ckpt_path.parent / META]
    if dataset is not None and _plain_name(dataset):
        for root in (ckpt_path.parent.parent, Path.cwd()):
            candidates.append(root / "data" / dataset / META)
    return next((p for p in candidates if p.is_file()), None)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


# -- ckpt.pt -------------------------------------------------------------------------------


def _model_args(ckpt: dict[str, Any], where: str) -> dict[str, Any]:
    args = ckpt.get("model_args")
    if not isinstance(args, dict):
        raise CharLMError(f"{where} is not a nanoGPT checkpoint (no model_args)")
    for name in MODEL_ARGS:
        value = args.get(name)
        ok = isinstance(value, bool) if name == "bias" else is_int(value) and value > 0
        if not ok:
            raise CharLMError(f"{where}: model_args {name} is {value!r}, not what nanoGPT writes")
    dropout = args.get("dropout", 0.0)
    if not is_number(dropout) or not 0 <= dropout < 1:
        raise CharLMError(f"{where}: model_args dropout is {dropout!r}, not a rate in [0, 1)")
    if args["n_embd"] % args["n_head"]:
        raise CharLMError(f"{where}: model_args n_embd is not a multiple of n_head")
    for name in ("n_layer", "n_head", "n_embd", "block_size"):  # before any name is listed
        if (problem := SPECS[name].problem(args[name])) is not None:
            raise CharLMError(f"{where}: model_args {name} {problem}")
    return {**args, "dropout": float(dropout)}


def _their_names(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every tensor nanoGPT's GPT saves under these model_args, by name, with its shape."""
    C, V, T = args["n_embd"], args["vocab_size"], args["block_size"]
    shapes = {
        "ln_1": (C,), "ln_2": (C,), "attn.c_attn": (3 * C, C), "attn.c_proj": (C, C),
        "mlp.c_fc": (4 * C, C), "mlp.c_proj": (C, 4 * C),
    }  # fmt: skip
    out = {"transformer.wte.weight": (V, C), "transformer.wpe.weight": (T, C)}
    for i in range(args["n_layer"]):
        for name in _BLOCK_TENSORS:
            module, kind = name.rsplit(".", 1)
            if kind == "bias" and not args["bias"]:
                continue
            shape = shapes[module]
            out[f"transformer.h.{i}.{name}"] = shape if kind == "weight" else (shape[0],)
    out["transformer.ln_f.weight"] = (C,)
    if args["bias"]:
        out["transformer.ln_f.bias"] = (C,)
    out["lm_head.weight"] = (V, C)
    return out


def _our_name(name: str) -> str:
    if name.startswith("transformer.h."):
        found = _BLOCK.fullmatch(name)
        assert found is not None  # every block name was matched by _their_names
        return f"blocks.{found.group(1)}.{found.group(2)}"
    return name.removeprefix("transformer.")


def _weights(ckpt: dict[str, Any], args: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    """The state dict under our names, every name and shape checked against model_args;
    the causal-mask buffers left out, a missing lm_head taken from the tied wte."""
    state = ckpt.get("model")
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CharLMError(f"{where} is not a nanoGPT checkpoint (no model state dict)")
    state = {k.removeprefix(COMPILED_PREFIX): v for k, v in state.items()}
    if "lm_head.weight" not in state and "transformer.wte.weight" in state:
        state["lm_head.weight"] = state["transformer.wte.weight"]  # tied: one tensor
    expected = _their_names(args)
    for name in state:
        mask = _BLOCK.fullmatch(name)
        if name in expected or (mask is not None and mask.group(2) == "attn.bias"):
            continue
        raise CharLMError(
            f"{where}: unexpected tensor {name!r}: not nanoGPT's GPT with these model_args "
            "(a changed model.py, or bias in the weights but not in model_args)"
        )
    out = {}
    for name, shape in expected.items():
        got = state.get(name)
        if got is None:
            raise CharLMError(f"{where}: tensor {name!r} is missing (model_args: {_args(args)})")
        if not isinstance(got, torch.Tensor) or got.layout != torch.strided:
            raise CharLMError(f"{where}: {name!r} is not a dense tensor")
        if tuple(got.shape) != shape:
            raise CharLMError(
                f"{where}: tensor {name!r} has shape {tuple(got.shape)}, model_args "
                f"({_args(args)}) need {shape}"
            )
        if not got.is_floating_point():
            raise CharLMError(f"{where}: tensor {name!r} holds {got.dtype}, not floats")
        out[_our_name(name)] = got.detach().to(torch.float32).contiguous()
    return out


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k} {args[k]}" for k in MODEL_ARGS)


def _best_val(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if is_number(value) and value == value and 0 <= value < 1e9:  # nanoGPT starts at 1e9
        return float(value)
    return None


def _train_values(
    settings: dict[str, Any], args: dict[str, Any], data: str | None, chars: str, it: int
) -> dict[str, Any]:
    """Our train settings from nanoGPT's, each taken only where our option accepts it
    (they describe the run; nothing trains with them)."""
    values = preset_defaults(PRESET)
    for theirs, ours in SETTINGS.items():
        value = settings.get(theirs)
        if value is None or (SPECS[ours].base is int and isinstance(value, bool)):
            continue
        value = float(value) if SPECS[ours].base is float and is_int(value) else value
        try:
            SPECS[ours].coerce(value, "nanoGPT config")
            SPECS[ours].validate(value)
        except CharLMError:
            continue
        values[ours] = value
    batch, accum = settings.get("batch_size"), settings.get("gradient_accumulation_steps", 1)
    if is_int(batch) and is_int(accum) and batch > 0 and accum > 0:
        values["batch_size"] = min(batch * accum, 1 << 16)  # sequences per optimizer step
    values.update(
        model="gpt", block_size=args["block_size"], n_layer=args["n_layer"],
        n_head=args["n_head"], n_embd=args["n_embd"], dropout=args["dropout"],
        bias=args["bias"], position="learned", activation="gelu", optimizer="adamw",
        vocab_size=len(chars), time_budget=None, preset=PRESET,
        data=data if data is not None else UNKNOWN_CORPUS,
        val_fraction=0.1,  # nanoGPT's prepare.py: the last 10% of the text is val
        keep_crlf="\r" in chars,  # it read the text as it is
        adamw_lr_ratio=1.0, tensorboard=False,
    )  # fmt: skip
    if not is_int(values.get("max_iters")) or values["max_iters"] < 1:
        values["max_iters"] = max(it, 1)
    values["min_lr"] = min(values["min_lr"], values["lr"])
    values["warmup_iters"] = min(values["warmup_iters"], values["max_iters"])
    return values


def read_nanogpt(
    ckpt_path: Path, meta_path: Path | None = None, data: str | None = None
) -> NanoGPT:
    """A nanoGPT checkpoint of a character model as our configs, vocabulary and weights;
    every problem a one-line CharLMError (nothing of the file runs: weights_only)."""
    where = str(ckpt_path)
    ckpt = torch_load(ckpt_path, "nanoGPT checkpoint")
    if not isinstance(ckpt, dict):
        raise CharLMError(f"{where} is not a nanoGPT checkpoint (not a dict)")
    if ckpt.get("format") is not None:
        raise CharLMError(f"{where} is a charlm-tui checkpoint already: sample or eval it as it is")
    args = _model_args(ckpt, where)
    settings = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else {}
    dataset = settings.get("dataset") if isinstance(settings.get("dataset"), str) else None
    meta = find_meta(ckpt_path, dataset, meta_path)
    if meta is None:
        if args["vocab_size"] in GPT2_VOCAB_SIZES:
            raise CharLMError(
                f"{where} uses GPT-2's BPE tokens (vocab_size {args['vocab_size']}, no "
                "character meta.pkl): charlm-tui imports character-level models only"
            )
        looked = f"beside it or in data/{dataset}/" if dataset else "beside it"
        raise CharLMError(f"no meta.pkl {looked}: pass its vocabulary with --meta META_PKL")
    chars = meta_chars(read_meta(meta), str(meta))
    if len(chars) != args["vocab_size"]:
        raise CharLMError(
            f"{meta} has {len(chars)} characters but {where} was trained on "
            f"vocab_size {args['vocab_size']}: not its meta.pkl"
        )
    state = _weights(ckpt, args, where)
    try:
        vocab = Vocab("".join(sorted(chars)))
    except CharLMError as e:
        raise CharLMError(f"{meta}: {e}") from None
    # Our ids are the characters in code-point order; a row of the embedding and of the
    # head belongs to a character, so rows move with their characters.
    theirs = {c: i for i, c in enumerate(chars)}
    order = torch.tensor([theirs[c] for c in vocab.chars])
    reordered = vocab.chars != "".join(chars)
    if reordered:
        for name in ("wte.weight", "lm_head.weight"):
            state[name] = state[name][order].contiguous()
    it = ckpt.get("iter_num", 0)
    if not is_int(it) or it < 0:
        raise CharLMError(f"{where}: iter_num is {it!r}, not a whole number >= 0")
    values = _train_values(settings, args, data, vocab.chars, it)
    try:
        mcfg, tcfg = configs_from_values(values)
    except CharLMError as e:
        raise CharLMError(f"{where}: {e}") from None
    best = _best_val(ckpt.get("best_val_loss"))
    return NanoGPT(mcfg, tcfg, vocab, state, it, best, dataset, meta, reordered)
