"""The training engine: one loop, typed events out, control requests in.

`prepare()` turns configs into a ready `Trainer` (data, model, optimizer, run
directory, resume state) and raises CharLMError for any bad input before a single
file is written. `Trainer.run()` trains and hands every event to its sinks.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from core import distributed
from core.checkpoint import FORMAT, load_checkpoint, restore_model, save_checkpoint
from core.config import RESUMABLE_FIELDS, ModelConfig, TrainConfig, flag, replace, to_dict
from core.control import Control, ControlFile
from core.data import (
    BatchSampler,
    Dataset,
    check_split_length,
    load_corpus,
    make_dataset,
    stream_seed,
)
from core.errors import CharLMError, CheckpointWriteError, TrainingDiverged
from core.evaluate import Metrics, estimate, fixed_batches
from core.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    Event,
    NoteEvent,
    SampleEvent,
    Sink,
    StartEvent,
    StepEvent,
)
from core.models import build_model, count_params, summarize
from core.optim import make_optimizer
from core.rundir import (
    RUN_FILES,
    MetricsWriter,
    RunLock,
    SamplesWriter,
    StepLogFilter,
    is_run_dir,
    rewrite_jsonl,
    write_config,
)
from core.sampling import SamplingParams, generate


@contextlib.contextmanager
def graceful_sigint(control: Control) -> Iterator[None]:
    """First Ctrl-C: finish the step, save last.pt, exit. Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if control.stop_reason:
            raise KeyboardInterrupt
        control.stop("interrupted")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CharLMError("--device cuda was asked for, but torch sees no CUDA GPU")
    if name == "mps" and not torch.backends.mps.is_available():
        raise CharLMError("--device mps was asked for, but this machine has no MPS backend")
    return torch.device(name)


def learning_rate(cfg: TrainConfig, it: int, progress: float) -> float:
    """Linear warmup over warmup_iters, then cosine decay to min_lr as progress -> 1.

    progress is the fraction of max_iters, or of the time budget, spent.
    """
    if it < cfg.warmup_iters:
        return cfg.lr * (it + 1) / (cfg.warmup_iters + 1)
    if cfg.max_iters is not None:
        span = max(1, cfg.max_iters - cfg.warmup_iters)
        progress = (it - cfg.warmup_iters) / span
    progress = min(max(progress, 0.0), 1.0)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def sample_prompt(dataset: Dataset) -> str:
    """Training samples start from a newline, as a play's speech does."""
    return "\n" if "\n" in dataset.vocab.stoi else dataset.vocab.decode([int(dataset.val[0])])


class Trainer:
    def __init__(
        self,
        mcfg: ModelConfig,
        tcfg: TrainConfig,
        dataset: Dataset,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        run_dir: Path | None,
        dist: distributed.DistInfo,
        resume_state: dict[str, Any] | None = None,
        control: Control | None = None,
    ) -> None:
        self.mcfg, self.tcfg = mcfg, tcfg
        self.dataset = dataset
        self.raw_model = model  # unwrapped: what checkpoints, eval and sampling use
        self.model = distributed.wrap(model, dist, device)
        self.eager_model = self.model
        if tcfg.compile:
            # Compiled lazily, at the first step; _step falls back to eager if that fails.
            self.model = torch.compile(self.model)
        self.optimizer = optimizer
        self.device = device
        self.run_dir = run_dir
        self.dist = dist
        self.control = control or Control()
        self.sinks: list[Sink] = []
        self.sampler = BatchSampler(
            dataset.train, mcfg.block_size, tcfg.batch_size, tcfg.seed, device, dist.rank
        )
        self.sample_generator = torch.Generator().manual_seed(tcfg.seed + 7)
        # Fixed eval windows per split, drawn once from their own seed.
        self.eval_batches = {
            split: fixed_batches(
                dataset.split(split),
                mcfg.block_size,
                tcfg.batch_size,
                tcfg.eval_iters,
                tcfg.seed + 1000 + i,
            )
            for i, split in enumerate(("train", "val"))
        }
        self.iter = 0
        self.last_eval_iter = -1
        self.best_val_loss: float | None = None
        self.last_metrics: dict[str, Any] = {}
        self.elapsed_before = 0.0
        self.lock: RunLock | None = None
        self.control_file: ControlFile | None = None
        self._saved_iter = -1  # iteration of the newest last.pt
        self._t0 = time.perf_counter()
        self._paused_s = 0.0
        self._start_iter = 0
        self.resumed = resume_state is not None
        if resume_state is not None:
            self._restore(resume_state)
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda" and torch.cuda.is_bf16_supported()
            else contextlib.nullcontext()
        )

    # -- state ---------------------------------------------------------------------------

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.iter = int(ckpt["iter"])
        self.last_eval_iter = int(ckpt.get("last_eval_iter", -1))
        self.best_val_loss = ckpt.get("best_val_loss")
        self.last_metrics = ckpt.get("metrics") or {}
        self.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        # Batches and dropout masks follow from (seed, rank, iteration) alone (_step).
        rng = ckpt.get("rng") or {}
        if "sample" in rng:
            self.sample_generator.set_state(rng["sample"])

    def state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.raw_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "iter": self.iter,
            "last_eval_iter": self.last_eval_iter,
            "config": to_dict(self.mcfg, self.tcfg),
            "vocab": self.dataset.vocab.chars,
            "corpus": {"spec": self.tcfg.data, "sha256": self.dataset.corpus.sha256},
            "metrics": self.last_metrics,
            "best_val_loss": self.best_val_loss,
            "elapsed_s": self.elapsed(),
            "rng": {"sample": self.sample_generator.get_state()},
        }

    def save(self, kind: str) -> None:
        """Write last.pt or best.pt (rank 0 only) and tell the sinks."""
        if self.run_dir is None or not self.dist.is_main:
            return
        path = self.run_dir / f"{kind}.pt"
        try:
            save_checkpoint(self.state(), path)
            if kind == "last":
                self._saved_iter = self.iter
        except OSError as e:
            raise CheckpointWriteError(
                f"could not write {path} at iteration {self.iter}: {e.strerror or e}; "
                "the previous checkpoint is intact"
            ) from None
        val = self.last_metrics.get("val", {}).get("loss")
        self.emit(CheckpointEvent(self.iter, str(path), kind, val))

    # -- events --------------------------------------------------------------------------

    def emit(self, event: Event, strict: bool = True) -> None:
        if not self.dist.is_main:
            return
        for sink in self.sinks:
            try:
                sink.handle(event)
            except OSError as e:  # a full disk under metrics.jsonl, say
                if strict:
                    raise CheckpointWriteError(
                        f"could not write to {self.run_dir} at iteration {self.iter}: "
                        f"{e.strerror or e}; the last checkpoint is intact"
                    ) from None

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0 - self._paused_s

    def progress(self) -> float:
        if self.tcfg.time_budget is not None:
            return min(1.0, self.elapsed() / self.tcfg.time_budget)
        return min(1.0, self.iter / self.tcfg.max_iters)

    def eta(self) -> float:
        if self.tcfg.time_budget is not None:
            return max(0.0, self.tcfg.time_budget - self.elapsed())
        done = self.iter - self._start_iter
        if done <= 0:
            return float("nan")
        per_iter = (self.elapsed() - self.elapsed_before) / done
        return per_iter * (self.tcfg.max_iters - self.iter)

    def finished(self) -> bool:
        if self.tcfg.max_iters is not None:
            return self.iter >= self.tcfg.max_iters
        return self.elapsed() >= self.tcfg.time_budget

    # -- the loop ------------------------------------------------------------------------

    def start_event(self) -> StartEvent:
        return StartEvent(
            iter=self.iter,
            run_dir=str(self.run_dir) if self.run_dir else None,
            config=to_dict(self.mcfg, self.tcfg),
            layers=summarize(self.raw_model),
            n_params=count_params(self.raw_model),
            n_trainable=count_params(self.raw_model, trainable_only=True),
            vocab_size=len(self.dataset.vocab),
            train_chars=len(self.dataset.train),
            val_chars=len(self.dataset.val),
            device=str(self.device),
            threads=torch.get_num_threads(),
            world_size=self.dist.world_size,
            resumed=self.resumed,
        )

    def run(self) -> DoneEvent:
        self._t0 = time.perf_counter()
        self._paused_s = 0.0
        self._start_iter = self.iter
        self.emit(self.start_event())
        try:
            reason, message = self._loop(), ""
        except TrainingDiverged as e:
            reason, message = "diverged", str(e)
        except CheckpointWriteError as e:
            reason, message = "failed", str(e)
        done = DoneEvent(
            iter=self.iter,
            reason=reason,
            elapsed_s=self.elapsed(),
            best_val_loss=self.best_val_loss,
            message=message,
            last_checkpoint=str(self.run_dir / "last.pt") if self.run_dir else None,
        )
        self.emit(done, strict=False)
        for sink in self.sinks:
            with contextlib.suppress(OSError):
                sink.close()
        if self.lock is not None:
            self.lock.release()
        return done

    def _loop(self) -> str:
        cfg = self.tcfg
        self.eager_model.train()
        tokens_per_step = cfg.batch_size * self.mcfg.block_size * self.dist.world_size
        t_train = 0.0  # training seconds since the last eval
        steps_since_eval = 0
        rate = 0.0
        while True:
            stop, final, paused = self._agree()
            # A stop request saves at once, without the eval: a big eval can take a minute.
            if stop:
                if self._saved_iter != self.iter:
                    self.save("last")
                return self.control.stop_reason or "stopped"
            due = self.iter % cfg.eval_interval == 0 or final
            if due and self.last_eval_iter != self.iter:
                self._eval(t_train, steps_since_eval * tokens_per_step)
                t_train, steps_since_eval = 0.0, 0
            elif self.control.save_now.is_set():
                self.save("last")
            self.control.save_now.clear()
            sample_due = cfg.sample_interval and self.iter % cfg.sample_interval == 0
            if sample_due or self.control.sample_now.is_set():
                self.control.sample_now.clear()
                self._sample()
            if final:
                return "finished"
            if paused and self._wait_while_paused():
                continue  # stopped while paused: save and leave at the top

            t = time.perf_counter()
            loss, lr, norm = self._step()
            dt = time.perf_counter() - t
            t_train += dt
            steps_since_eval += 1
            self.iter += 1
            rate = tokens_per_step / dt if rate == 0.0 else 0.9 * rate + 0.1 * tokens_per_step / dt
            self.emit(
                StepEvent(
                    self.iter, loss, lr, norm, dt, rate, self.elapsed(), self.progress(), self.eta()
                )
            )

    def _step(self) -> tuple[float, float, float]:
        lr = learning_rate(self.tcfg, self.iter, self.progress())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.sampler.next(self.iter)
        # Dropout draws from torch's global generator: seeding it per step and rank makes
        # a resumed run (every rank of it) draw the masks an uninterrupted one would.
        torch.manual_seed(stream_seed(self.tcfg.seed, self.dist.rank, self.iter, 1))
        try:
            with self.autocast:
                _, loss = self.model(x, y)
        except Exception as e:  # torch.compile without a working compiler, say
            if self.model is self.eager_model:
                raise
            self.model = self.eager_model
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            self.emit(NoteEvent(self.iter, f"--compile failed, training eager instead: {first}"))
            with self.autocast:
                _, loss = self.model(x, y)
        loss_value = loss.item()
        # Under DDP one rank alone may see a non-finite loss; raising there would leave
        # the others waiting in the gradient all-reduce forever. Its backward instead
        # spreads NaN to every rank's averaged gradients, and the norm check below then
        # stops all ranks at the same step, before any optimizer step.
        if not math.isfinite(loss_value) and not self.dist.enabled:
            raise self._diverged(f"the loss is {loss_value}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(
            nn.utils.clip_grad_norm_(self.model.parameters(), self.tcfg.grad_clip or math.inf)
        )
        if not math.isfinite(norm):
            finite_loss = math.isfinite(loss_value)  # False only under DDP, see above
            raise self._diverged(
                f"the gradient norm is {norm}" if finite_loss else f"the loss is {loss_value}"
            )
        self.optimizer.step()
        return loss_value, lr, norm

    def _diverged(self, what: str) -> TrainingDiverged:
        return TrainingDiverged(
            f"iteration {self.iter + 1}: {what}; stopped before the optimizer step; the "
            "checkpoints keep the last finite weights (try a lower --lr)"
        )

    def _agree(self) -> tuple[bool, bool, bool]:
        """(stop, finished, paused), as rank 0 sees them: every rank acts on the same."""
        if self.control_file is not None:
            self.control_file.poll(self.control)
        mine = (self.control.stop_reason is not None, self.finished(), self.control.paused.is_set())
        stop, final, paused = distributed.agree(mine, self.dist, self.device)
        return stop, final, paused

    def _wait_while_paused(self) -> bool:
        """Every rank waits here together, agreeing 20 times a second; True: stop."""
        t = time.perf_counter()
        while True:
            stop, _, paused = self._agree()
            if stop or not paused:
                self._paused_s += time.perf_counter() - t
                return stop
            if self.control.save_now.is_set():
                self.control.save_now.clear()
                self.save("last")
            if self.control.sample_now.is_set():
                self.control.sample_now.clear()
                self._sample()
            time.sleep(0.05)

    def _eval(self, t_train: float, tokens: int) -> None:
        t = time.perf_counter()
        metrics: dict[str, Metrics] = {
            split: estimate(self.raw_model, batches, self.device)
            for split, batches in self.eval_batches.items()
        }
        t_eval = time.perf_counter() - t
        val = metrics["val"].loss
        is_best = self.best_val_loss is None or val < self.best_val_loss
        if is_best:
            self.best_val_loss = val
        self.last_eval_iter = self.iter
        self.last_metrics = {k: m.as_dict() for k, m in metrics.items()}
        self.emit(
            EvalEvent(
                iter=self.iter,
                train=metrics["train"],
                val=metrics["val"],
                lr=learning_rate(self.tcfg, self.iter, self.progress()),
                t_train_s=t_train,
                t_eval_s=t_eval,
                tokens_per_s=tokens / t_train if t_train > 0 else 0.0,
                elapsed_s=self.elapsed(),
                progress=self.progress(),
                eta_s=self.eta(),
                best_val_loss=self.best_val_loss,
                is_best=is_best,
            )
        )
        if is_best:
            self.save("best")
        self.save("last")

    def _sample(self) -> None:
        if not self.dist.is_main or not self.tcfg.sample_chars:
            return
        prompt = sample_prompt(self.dataset)
        params = SamplingParams(temperature=0.8)
        ids = generate(
            self.raw_model,
            self.dataset.vocab.encode(prompt),
            self.tcfg.sample_chars,
            params,
            self.sample_generator,
            self.device,
        )
        text = self.dataset.vocab.decode(ids)
        self.emit(SampleEvent(self.iter, prompt, text, params.temperature, self.elapsed()))


# -- setting a run up ------------------------------------------------------------------------


def open_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory unless asked to resume or overwrite."""
    if run_dir.exists() and not run_dir.is_dir():
        raise CharLMError(f"--out {run_dir} exists and is not a directory")
    if resume:
        if not (run_dir / "last.pt").is_file() and not (run_dir / "best.pt").is_file():
            raise CharLMError(f"nothing to resume: {run_dir} has no last.pt or best.pt")
    elif is_run_dir(run_dir) and not overwrite:
        raise CharLMError(
            f"{run_dir} already holds a run: pass --resume to continue it, --overwrite to "
            "replace it, or choose another --out / --name"
        )


def prepare(
    mcfg: ModelConfig,
    tcfg: TrainConfig,
    run_dir: Path | None,
    resume: bool = False,
    resume_from: str = "last",
    overwrite: bool = False,
    control: Control | None = None,
    changed: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> Trainer:
    """Validate everything, then build the trainer. Writes nothing before it succeeds,
    except taking the run directory's lock; with dry_run, not even that (the dashboard
    checks a run this way before it starts the training process)."""
    dist = distributed.from_env()
    resume_state = None
    if run_dir is not None:
        open_run_dir(run_dir, resume, overwrite)
    if resume:
        assert run_dir is not None
        if resume_from not in ("last", "best"):
            raise CharLMError(f"--resume-from must be 'last' or 'best', not {resume_from!r}")
        path = run_dir / f"{resume_from}.pt"
        resume_state = load_checkpoint(path)
        _, vocab, saved_m, saved_t = restore_model(resume_state, where=str(path))
        fixed = {k: v for k, v in (changed or {}).items() if v is not None}
        for name, value in fixed.items():
            current = getattr(saved_m, name, getattr(saved_t, name, None))
            if name not in RESUMABLE_FIELDS and value != current:
                raise CharLMError(
                    f"{flag(name)} cannot change when resuming (the run has {current!r}); "
                    "start a new run instead"
                )
        mcfg = saved_m
        tcfg = replace(saved_t, **{k: v for k, v in fixed.items() if k in RESUMABLE_FIELDS})
        if "time_budget" in fixed and "max_iters" not in fixed:
            tcfg = replace(tcfg, max_iters=None)
        if "max_iters" in fixed and "time_budget" not in fixed:
            tcfg = replace(tcfg, time_budget=None)
    device = resolve_device(tcfg.device)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    corpus = load_corpus(tcfg.data, tcfg.encoding_errors)
    if resume_state is not None:
        vocab.check(corpus.text, f"the corpus {tcfg.data!r}")
        dataset = make_dataset(corpus, tcfg.val_fraction, vocab=vocab)
    else:
        dataset = make_dataset(corpus, tcfg.val_fraction)
    for split in ("train", "val"):
        check_split_length(dataset.split(split), split, mcfg.block_size)
    mcfg = replace(mcfg, vocab_size=len(dataset.vocab))

    torch.manual_seed(tcfg.seed)
    model = build_model(mcfg)
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
    model.to(device)
    optimizer = make_optimizer(model, tcfg, device)
    distributed.init(dist, device)
    trainer = Trainer(
        mcfg, tcfg, dataset, model, optimizer, device, run_dir, dist, resume_state, control
    )
    if run_dir is not None and dist.is_main and not dry_run:
        _claim_run_dir(trainer, run_dir, resume, overwrite)
    return trainer


def _claim_run_dir(trainer: Trainer, run_dir: Path, resume: bool, overwrite: bool) -> None:
    try:
        _claim(trainer, run_dir, resume, overwrite)
    except OSError as e:
        if trainer.lock is not None:
            trainer.lock.release()
        raise CharLMError(f"cannot write the run directory {run_dir}: {e.strerror or e}") from None


def _claim(trainer: Trainer, run_dir: Path, resume: bool, overwrite: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run_dir)
    lock.acquire()
    trainer.lock = lock
    if overwrite and not resume:
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
    for stale in run_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)  # left by a process killed mid-write
    if resume:
        # Drop what the interrupted run logged after its checkpoint: it is redone now.
        it = trainer.iter
        rewrite_jsonl(
            run_dir / "metrics.jsonl",
            lambda r: not isinstance(r.get("iter"), int) or r["iter"] <= it,
        )
        rewrite_jsonl(run_dir / "samples.jsonl", lambda r: r.get("iter", 0) < it)
    config = to_dict(trainer.mcfg, trainer.tcfg)
    config.update(
        n_params=count_params(trainer.raw_model),
        vocab_size=len(trainer.dataset.vocab),
        corpus={
            "spec": trainer.tcfg.data,
            "sha256": trainer.dataset.corpus.sha256,
            "chars": len(trainer.dataset.corpus.text),
            "sources": list(trainer.dataset.corpus.sources[:50]),
        },
    )
    write_config(run_dir, config)
    trainer.control_file = ControlFile(run_dir)
    trainer.sinks += [
        StepLogFilter(MetricsWriter(run_dir), trainer.tcfg.log_interval),
        SamplesWriter(run_dir),
    ]
