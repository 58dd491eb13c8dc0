"""The training engine: a trainer built from a plan, and one loop that reads top to bottom.

    plan = plan_new(preset, overrides, out)        # core/training/plan.py: checked, nothing built
    trainer = build(plan, dist)                    # data, model, optimizer, resume state
    with RunDirectory(plan.run_dir) as run:        # core/runs/rundir.py: lock, files, writers
        run.claim(trainer.config_record(), ...)
        done = trainer.run(steering, run, sinks)   # typed events out, requests in

Each turn of the loop: decide (stop, finish, pause, requests) -> evaluate or save ->
sample -> one step -> emit. The parts have their own modules in core/training/: the
clock (clock.py), the state a checkpoint carries (state.py), the step (step.py) and
steering (steering.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.config import STEERABLE, replace, to_dict
from charlm_tui.core.decoding.evaluate import estimate, fixed_batches
from charlm_tui.core.decoding.options import SamplingParams
from charlm_tui.core.decoding.sampling import default_context, generate
from charlm_tui.core.device import denormals_flushed, resolve_device
from charlm_tui.core.errors import CharLMError, CheckpointWriteError, TrainingDiverged
from charlm_tui.core.measures import Metrics
from charlm_tui.core.models import build_model, count_params, summarize
from charlm_tui.core.models.checkpoint import FORMAT, load_checkpoint, restore_model
from charlm_tui.core.runs.events import (
    CheckpointEvent,
    DoneEvent,
    EvalEvent,
    Event,
    NoteEvent,
    SampleEvent,
    Sink,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.rundir import RunDirectory
from charlm_tui.core.text.corpus import Corpus
from charlm_tui.core.text.dataset import BatchSampler, Dataset, make_dataset, stream_seed
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training import distributed
from charlm_tui.core.training.clock import Clock, EarlyEvals, Throughput
from charlm_tui.core.training.optim import learning_rate, make_optimizer
from charlm_tui.core.training.plan import RunPlan, check_corpus
from charlm_tui.core.training.state import TrainState
from charlm_tui.core.training.steering import Steering, Stop, stop_on_signals
from charlm_tui.core.training.step import (
    CompiledOrEager,
    StepResult,
    autocast_for,
    diverged,
    seed_dropout,
    train_step,
)

FINISHED = Stop("finished", 0)
PAUSE_POLL_S = 0.05  # a paused run checks for requests (and agrees, under DDP) 20x a second


def build(
    plan: RunPlan,
    dist: distributed.DistInfo,
    corpus: Corpus | None = None,
    sync_every: int | None = None,
) -> Trainer:
    """Everything a run needs, in the process that trains it (torch's globals included).
    sync_every: read losses back every N steps (default: --log-interval on a GPU, else 1)."""
    mcfg, tcfg = plan.mcfg, plan.tcfg
    device = resolve_device(tcfg.device)
    if device.type == "cuda" and dist.enabled and device.index is None:
        device = torch.device("cuda", dist.local_rank)  # one GPU per process under torchrun
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    if device.type == "cuda":
        # TF32 tensor cores for whatever runs in fp32 outside autocast (nanoGPT does too).
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    corpus = corpus or check_corpus(plan)
    if tcfg.threads:
        torch.set_num_threads(tcfg.threads)
    vocab = Vocab(plan.vocab) if plan.vocab is not None else None
    dataset = make_dataset(corpus, tcfg.val_fraction, vocab=vocab)
    mcfg = replace(mcfg, vocab_size=len(dataset.vocab))
    if plan.resuming:
        ckpt = load_checkpoint(plan.checkpoint)
        model, _, _, _ = restore_model(ckpt, where=str(plan.checkpoint))
        state = TrainState.from_checkpoint(ckpt, str(plan.checkpoint), tcfg.seed)
    else:
        torch.manual_seed(tcfg.seed)
        model, ckpt, state = build_model(mcfg), None, TrainState.new(tcfg.seed)
    model.to(device)
    optimizer = make_optimizer(model, tcfg, device)
    if ckpt is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            detail = str(e).strip().splitlines()[0][:100] if str(e).strip() else type(e).__name__
            raise CharLMError(
                f"{plan.checkpoint}: its optimizer state does not fit this run ({detail})"
            ) from None
    distributed.init(dist, device)
    return Trainer(
        replace(plan, mcfg=mcfg), dataset, model, optimizer, device, dist, state, sync_every
    )


class Trainer:
    def __init__(
        self,
        plan: RunPlan,
        dataset: Dataset,
        model: nn.Module,
        optimizer: Any,
        device: torch.device,
        dist: distributed.DistInfo,
        state: TrainState,
        sync_every: int | None = None,
    ) -> None:
        self.plan, self.mcfg, self.tcfg = plan, plan.mcfg, plan.tcfg
        self.dataset, self.device, self.dist = dataset, device, dist
        self.model = model  # unwrapped: what checkpoints, eval and sampling use
        self.optimizer = optimizer
        self.state = state
        self.clock = Clock(self.tcfg.length, state.elapsed_s, state.iter)
        self.sampler = BatchSampler(
            dataset.train,
            self.mcfg.block_size,
            self.tcfg.batch_size,
            self.tcfg.seed,
            device,
            dist.rank,
        )
        # Fixed eval windows per split, drawn once from their own seed.
        self.eval_batches = {
            split: fixed_batches(
                dataset.split(split),
                self.mcfg.block_size,
                self.tcfg.batch_size,
                self.tcfg.eval_iters,
                self.tcfg.seed + 1000 + i,
            )
            for i, split in enumerate(("train", "val"))
        }
        self.autocast = autocast_for(device)
        # A GPU runs ahead of the host: reading the loss back every step would make it
        # wait each time. There, losses are read (and checked) every --log-interval steps.
        self.sync_every = sync_every or (self.tcfg.log_interval if device.type == "cuda" else 1)
        self._forward = CompiledOrEager(
            distributed.wrap(model, dist, device), self.tcfg.compile, self._note
        )
        # Listed once: model.parameters() walks every module on each call (0.7 ms a step
        # at the gpu preset's 77 tensors, cProfile on CPU, 2026-11-26).
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._out: list[Sink] = []
        self._run: RunDirectory | None = None
        self._steering: Steering | None = None
        self._saved_iter = -1  # iteration of the newest last.pt
        self._paused = False
        self.early_evals = EarlyEvals(self.tcfg.early_eval_s, state.elapsed_s)

    # -- the loop ---------------------------------------------------------------------------

    def run(
        self, steering: Steering, run: RunDirectory | None = None, sinks: Iterable[Sink] = ()
    ) -> DoneEvent:
        """Train until the run's length is reached or it is stopped; the last event."""
        self._run, self._out, self._steering = run, list(sinks), steering
        self.clock.start(self.state.iter)
        self.emit(self.start_event())
        if self.tcfg.optimizer == "muon" and not hasattr(self.optimizer, "parts"):
            self._note(
                f"--optimizer muon: a {self.mcfg.model} model has no transformer-block matrices "
                "for Muon: AdamW trains all of it"
            )
        then, now = self.plan.corpus_sha256, self.dataset.corpus.sha256
        if self.plan.resuming and then and then != now:
            self._note(f"the corpus changed since the checkpoint ({then[:12]}… → {now[:12]}…)")
        try:
            stop, message = self._loop(steering), ""
        except (TrainingDiverged, CheckpointWriteError) as e:
            failed = "diverged" if isinstance(e, TrainingDiverged) else "failed"
            stop, message = Stop(failed, e.exit_code), str(e)
        done = DoneEvent(
            iter=self.state.iter,
            reason=stop.reason,
            elapsed_s=self.clock.elapsed(),
            best_val_loss=self.state.best_val_loss,
            message=message,
            last_checkpoint=str(run.checkpoint("last")) if run is not None else None,
            exit_code=stop.exit_code,
        )
        self.emit(done, strict=False)
        return done

    def _loop(self, steering: Steering) -> Stop:
        state = self.state
        self.model.train()
        speed = Throughput(self.tcfg.batch_size * self.mcfg.block_size * self.dist.world_size)
        unread, t_read = 0, time.perf_counter()  # steps not read back from the device yet
        while True:
            decision = steering.decide(
                self.clock.finished(state.iter), self.early_evals.due(self.clock.elapsed())
            )
            for note in steering.notes:
                self._note(note)
            steering.notes.clear()
            self.steer(decision.steer)
            cfg = self.tcfg  # as steered
            # A stop saves at once, without the eval: a big eval can take a minute.
            if decision.stop:
                if self._saved_iter != state.iter:
                    self.save("last")
                return decision.stop
            if decision.paused != self._paused:
                self._paused = decision.paused
                told = "paused by a request in control.json (a dashboard, or charlm-tui steer)"
                self._note(told if self._paused else "resumed")
            due = state.iter % cfg.eval_interval == 0 or decision.finished or decision.early_eval
            if unread and ((due and state.last_eval_iter != state.iter) or decision.paused):
                # Steps not read back yet count as training time before the eval or pause.
                speed.step(time.perf_counter() - t_read, unread)
                unread = 0
            if due and state.last_eval_iter != state.iter:
                self.evaluate(*speed.since_eval())  # saves last.pt
            elif decision.save:
                self.save("last")
            sample_due = cfg.sample_interval and state.iter % cfg.sample_interval == 0
            if (sample_due and state.sampled_iter != state.iter) or decision.sample:
                self.sample()
            if decision.finished:
                if steering.stop is not None:  # a signal during the final eval abandoned it
                    if self._saved_iter != state.iter:
                        self.save("last")
                    return steering.stop
                return FINISHED
            if self._stopping() and not self.dist.enabled:
                continue  # a signal came during the eval or sample: stop before stepping
            if decision.paused:
                t = time.perf_counter()
                time.sleep(PAUSE_POLL_S)
                self.clock.add_pause(time.perf_counter() - t)
                continue

            if not unread:
                t_read = time.perf_counter()  # the first step since the last read-back
            lr = learning_rate(cfg, state.iter, self.clock.progress(state.iter))
            unread += 1
            read = unread >= self.sync_every or (state.iter + 1) % self.sync_every == 0
            try:
                result = self.step(lr, sync=read)
            except TrainingDiverged as e:
                if unread == 1:
                    raise
                raise TrainingDiverged(  # it may have begun in a step not read back
                    f"iterations {state.iter - unread + 2}-{state.iter + 1}: {e} (losses are "
                    f"read from the device every {self.sync_every} steps)"
                ) from None
            state.iter += 1
            if not read:
                continue  # the device runs ahead; losses are read every --log-interval steps
            loss, norm = result.read()
            dt = time.perf_counter() - t_read
            speed.step(dt, unread)
            step_dt, unread = dt / unread, 0
            self.emit(
                StepEvent(
                    state.iter,
                    loss,
                    lr,
                    norm,
                    step_dt,
                    speed.rate,
                    self.clock.elapsed(),
                    self.clock.progress(state.iter),
                    self.clock.eta(state.iter),
                )
            )

    def steer(self, requested: dict[str, Any], source: str = "control.json") -> None:
        """Apply new values of steerable options (every rank the same: core/training/steering.py);
        they hold from the next step and are saved with the run's configuration, so a
        resume continues with them."""
        by_time = self.tcfg.max_iters is None  # a run keeps its kind of length
        changes = {
            k: v
            for k, v in requested.items()
            if getattr(self.tcfg, k) != v and k != ("max_iters" if by_time else "time_budget")
        }
        if not changes:
            return
        old, self.tcfg = self.tcfg, replace(self.tcfg, **changes)
        self.plan = replace(self.plan, tcfg=self.tcfg)
        self._saved_iter = -1  # a last.pt of this iteration predates the change: stale
        self.clock.length = self.tcfg.length
        if self._run is not None and self.dist.is_main:
            self._run.write_config(self.config_record())
        for name, value in changes.items():
            self.emit(SteerEvent(self.state.iter, name, getattr(old, name), value, source))
        # Saved now: a kill before the next save would leave the records saying the change
        # happened and a last.pt that does not have it.
        self.save("last")

    def step(self, lr: float, sync: bool = True) -> StepResult:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        x, y = self.sampler.next(self.state.iter)
        # Dropout draws from torch's global generator: seeding it per step and rank makes
        # a resumed run (every rank of it) draw the masks an uninterrupted one would.
        seed_dropout(stream_seed(self.tcfg.seed, self.dist.rank, self.state.iter, 1), self.device)
        return train_step(
            self._forward,
            self._params,
            self.optimizer,
            x,
            y,
            self.tcfg.grad_clip,
            self.autocast,
            self.dist.enabled,
            self.state.iter,
            sync,
        )

    # -- what the loop calls between steps ------------------------------------------------------

    def evaluate(self, t_train: float, tokens: int) -> None:
        state = self.state
        t = time.perf_counter()
        metrics: dict[str, Metrics] = {}
        for split, batches in self.eval_batches.items():
            m = estimate(self.model, batches, self.device, self._stopping)
            if m is None:
                return  # stopping: the loop saves last.pt at once, without this eval
            metrics[split] = m
        t_eval = time.perf_counter() - t
        for split, m in metrics.items():
            if not math.isfinite(m.loss):
                # Divergence the training loss did not show (a huge lr's last step, say):
                # stop without writing these weights; the checkpoints keep the last finite.
                raise diverged(state.iter - 1, f"the {split} loss at the eval is {m.loss}")
        val = metrics["val"].loss
        is_best = state.best_val_loss is None or val < state.best_val_loss
        if is_best:
            state.best_val_loss = val
        state.last_eval_iter = state.iter
        state.metrics = {k: m.as_dict() for k, m in metrics.items()}
        self.early_evals.ran(self.clock.elapsed())
        self.emit(
            EvalEvent(
                iter=state.iter,
                train=metrics["train"],
                val=metrics["val"],
                lr=learning_rate(self.tcfg, state.iter, self.clock.progress(state.iter)),
                t_train_s=t_train,
                t_eval_s=t_eval,
                tokens_per_s=tokens / t_train if t_train > 0 else 0.0,
                elapsed_s=self.clock.elapsed(),
                progress=self.clock.progress(state.iter),
                eta_s=self.clock.eta(state.iter),
                best_val_loss=state.best_val_loss,
                is_best=is_best,
            )
        )
        if is_best:
            self.save("best")
        self.save("last")

    def sample(self) -> None:
        previous, self.state.sampled_iter = self.state.sampled_iter, self.state.iter
        if not self.dist.is_main or not self.tcfg.sample_chars:
            return
        prompt = default_context(self.dataset.vocab)
        params = SamplingParams(temperature=self.tcfg.sample_temperature)
        ids, before = [], self.state.sample_rng.get_state()
        for tok in generate(
            self.model,
            self.dataset.vocab.encode(prompt),
            self.tcfg.sample_chars,
            params,
            self.state.sample_rng,
            self.device,
        ):
            if self._stopping():  # Ctrl-C while sampling: stop now, not after 100,000 chars,
                self.state.sample_rng.set_state(before)  # and resume as if never begun
                self.state.sampled_iter = previous
                return
            ids.append(tok)
        text = self.dataset.vocab.decode(ids)
        self.emit(
            SampleEvent(self.state.iter, prompt, text, params.temperature, self.clock.elapsed())
        )

    def save(self, kind: str) -> None:
        """Write last.pt or best.pt (rank 0 only) and tell the sinks. Every rank checks
        the weights (the same on all under DDP), so all stop together if they diverged."""
        for name, p in self.model.named_parameters():
            if not torch.isfinite(p).all():  # never write weights a later load refuses
                raise diverged(self.state.iter - 1, f"the weights of {name} are not finite")
        if self._run is None or not self.dist.is_main:
            return
        path = self._run.save(self.checkpoint_state(), kind, self.state.iter)
        if kind == "last":
            self._saved_iter = self.state.iter
        val = self.state.metrics.get("val", {}).get("loss")
        self.emit(CheckpointEvent(self.state.iter, str(path), kind, val))

    # -- records ----------------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": to_dict(self.mcfg, self.tcfg),
            "vocab": self.dataset.vocab.chars,
            "corpus": {"spec": self.tcfg.data, "sha256": self.dataset.corpus.sha256},
            **self.state.checkpoint(self.clock.elapsed()),
        }

    def steered_values(self) -> dict[str, Any]:
        """The steerable options' values in force (control.json starts with them)."""
        return {name: getattr(self.tcfg, name) for name in STEERABLE}

    def config_record(self) -> dict[str, Any]:
        """config.json: the configs, and what the run was built from."""
        corpus = self.dataset.corpus
        return {
            **to_dict(self.mcfg, self.tcfg),
            "n_params": count_params(self.model),
            "vocab_size": len(self.dataset.vocab),
            "corpus": {
                "spec": self.tcfg.data,
                "sha256": corpus.sha256,
                "chars": len(corpus.text),
                "sources": list(corpus.sources[:50]),
                # What reading it changed: Windows line endings become "\n" (--keep-crlf).
                "crlf_normalised": corpus.crlf,
            },
        }

    def start_event(self) -> StartEvent:
        return StartEvent(
            iter=self.state.iter,
            run_dir=str(self._run.path) if self._run is not None else None,
            model=self.mcfg.model,
            data=self.tcfg.data,
            max_iters=self.tcfg.max_iters,
            time_budget=self.tcfg.time_budget,
            n_params=count_params(self.model),
            vocab_size=len(self.dataset.vocab),
            train_chars=len(self.dataset.train),
            val_chars=len(self.dataset.val),
            device=str(self.device),
            threads=torch.get_num_threads(),
            world_size=self.dist.world_size,
            resumed=self.plan.resuming,
            layers=tuple(summarize(self.model)),
        )

    def emit(self, event: Event, strict: bool = True) -> None:
        if not self.dist.is_main:
            return
        if self._run is not None:
            self._run.emit(event, strict)
        for sink in list(self._out):
            try:
                sink.handle(event)
            except OSError as e:  # a TensorBoard folder on a full disk, say: not fatal
                self._out.remove(sink)
                with contextlib.suppress(OSError):
                    sink.close()
                self._note(f"{type(sink).__name__} stopped: {e.strerror or e}")

    def _stopping(self) -> bool:
        """A stop was asked for in this process (the loop agrees on it at its top)."""
        return self._steering is not None and self._steering.stop is not None

    def _note(self, text: str) -> None:
        self.emit(NoteEvent(self.state.iter, text))


# -- running a plan, headless --------------------------------------------------------------


def execute(
    plan: RunPlan,
    dist: distributed.DistInfo,
    corpus: Corpus | None = None,
    sinks: Iterable[Sink] = (),
    watchers: Callable[[Trainer, Steering], Iterable[Sink]] | None = None,
) -> DoneEvent:
    """Build, claim the run directory (rank 0), train with signals steering, clean up.

    `watchers` makes more sinks once the trainer and its steering exist: sinks that read
    the model or ask for a stop (benchmarks, tests)."""
    # First: before any parallel work creates torch's thread pool (core/device.py).
    with denormals_flushed():
        return _execute(plan, dist, corpus, sinks, watchers)


def _execute(
    plan: RunPlan,
    dist: distributed.DistInfo,
    corpus: Corpus | None,
    sinks: Iterable[Sink],
    watchers: Callable[[Trainer, Steering], Iterable[Sink]] | None,
) -> DoneEvent:
    try:
        trainer = build(plan, dist, corpus)
        run = RunDirectory(plan.run_dir) if dist.is_main else None
        try:
            if run is not None:
                resume_iter = trainer.state.iter if plan.resuming else None
                run.claim(
                    trainer.config_record(),
                    plan.tcfg.log_interval,
                    plan.overwrite,
                    resume_iter,
                    steered=trainer.steered_values(),
                    sampled_at_resume=trainer.state.sampled_iter == trainer.state.iter,
                )
            steering = Steering(run.path if run is not None else None, dist, trainer.device)
            extra = list(watchers(trainer, steering)) if watchers is not None else []
            all_sinks = [*sinks, *extra]
            try:
                with stop_on_signals(steering):
                    return trainer.run(steering, run, all_sinks)
            finally:
                for sink in all_sinks:  # a TensorBoard writer's thread, a progress bar
                    with contextlib.suppress(Exception):
                        sink.close()
        finally:
            if run is not None:
                run.close()
    finally:
        distributed.shutdown(dist)
