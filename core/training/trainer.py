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
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from charlm_tui.core.config import replace
from charlm_tui.core.decoding.evaluate import fixed_batches
from charlm_tui.core.device import denormals_flushed, resolve_device
from charlm_tui.core.errors import CharLMError, CheckpointWriteError, TrainingDiverged
from charlm_tui.core.internals.probe import Probe
from charlm_tui.core.measures import SpikeWatch
from charlm_tui.core.models import build_model, count_params, summarize
from charlm_tui.core.models.checkpoint import load_checkpoint, restore_model
from charlm_tui.core.runs.control import write_control
from charlm_tui.core.runs.events import (
    AlertEvent,
    DoneEvent,
    InternalsEvent,
    Sink,
    StartEvent,
    SteerEvent,
    StepEvent,
)
from charlm_tui.core.runs.provenance import gather, record_end, record_start
from charlm_tui.core.runs.rundir import PROVENANCE, RunDirectory
from charlm_tui.core.text.corpus import Corpus
from charlm_tui.core.text.dataset import BatchSampler, Dataset, make_dataset, stream_seed
from charlm_tui.core.text.vocab import Vocab
from charlm_tui.core.training import distributed
from charlm_tui.core.training.between import BetweenSteps
from charlm_tui.core.training.clock import Clock, EarlyTimes, ReadBack, Throughput
from charlm_tui.core.training.optim import learning_rate, make_optimizer
from charlm_tui.core.training.outputs import Outputs
from charlm_tui.core.training.plan import (
    RunPlan,
    check_corpus,
    check_resumed_corpus,
    replanned,
)
from charlm_tui.core.training.state import TrainState
from charlm_tui.core.training.steering import (
    ALERT_STOP,
    Decision,
    Steering,
    Stop,
    stop_on_signals,
)
from charlm_tui.core.training.step import (
    CompiledOrEager,
    StepResult,
    autocast_for,
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


class Trainer(BetweenSteps):
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
        t = self.tcfg
        self.sampler = BatchSampler(
            dataset.train, self.mcfg.block_size, t.batch_size, t.seed, device, dist.rank
        )
        # Fixed eval windows per split, drawn once from their own seed.
        self.eval_batches = {
            split: fixed_batches(dataset.split(split), self.mcfg.block_size, t.batch_size,
                                 t.eval_iters, t.seed + 1000 + i)
            for i, split in enumerate(("train", "val"))
        }  # fmt: skip
        self.autocast = autocast_for(device)
        # A GPU runs ahead of the host: reading the loss back every step would make it
        # wait each time. There, losses are read (and checked) every --log-interval steps.
        self.sync_every = sync_every or (t.log_interval if device.type == "cuda" else 1)
        self._forward = CompiledOrEager(
            distributed.wrap(model, dist, device), t.compile, self._note
        )
        # Listed once: model.parameters() walks every module on each call (0.7 ms a step
        # at the gpu preset's 77 tensors, cProfile on CPU, 2026-11-26).
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._out = Outputs(None, (), dist.is_main)
        self._run: RunDirectory | None = None
        self._steering: Steering | None = None
        self._saved_iter = -1  # iteration of the newest last.pt
        self._paused = False
        self.peers_lost = False  # a collective failed: another process of the run died
        self._eval_cut_noted = False  # an eval cut to its time limit was said
        self.early_evals = EarlyTimes(t.early_eval_s, state.elapsed_s)
        self.early_samples = EarlyTimes(t.early_sample_s, state.elapsed_s)
        self._alert_message = ""  # why an alert stopped the run (the done record's message)
        self._alert_paused = False  # the next pause is an alert's (--on-alert pause)
        self.health = {
            "loss spike": SpikeWatch(t.alert_loss_ratio),
            "grad-norm spike": SpikeWatch(t.alert_grad_ratio),
        }
        # The model's internals, on rank 0 (which writes the records): its hooks exist
        # only on the steps that record them (core/internals/probe.py).
        self._probe = Probe(model) if t.internals_interval and dist.is_main else None
        self._internals: InternalsEvent | None = None  # recorded, emitted after the step

    # -- the loop ---------------------------------------------------------------------------

    def run(
        self, steering: Steering, run: RunDirectory | None = None, sinks: Iterable[Sink] = ()
    ) -> DoneEvent:
        """Train until the run's length is reached or it is stopped; the last event."""
        self._run, self._steering = run, steering
        self._out = Outputs(run, sinks, self.dist.is_main)
        self.clock.start(self.state.iter)
        started = time.monotonic()
        self.emit(start_event(self))
        threads, world = torch.get_num_threads(), self.dist.world_size
        self._provenance(
            lambda path: record_start(path, gather(self.device, threads, world, self.plan.command))
        )
        for note in start_notes(self):
            self._note(note)
        try:
            stop = self._loop(steering)
            message = self._alert_message if stop == ALERT_STOP else ""
        except (TrainingDiverged, CheckpointWriteError) as e:
            failed = "diverged" if isinstance(e, TrainingDiverged) else "failed"
            stop, message = Stop(failed, e.exit_code), str(e)
            if failed == "diverged":  # never continues, whatever --on-alert says
                self.emit(AlertEvent(self.state.iter, "non-finite", None, None, "stop", message))
        except RuntimeError as e:
            if not distributed.is_peer_failure(self.dist, e):
                raise
            stop, message = Stop("failed", 1), self._peer_lost(e)
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
        self._provenance(lambda path: record_end(path, stop.reason, time.monotonic() - started))
        return done

    def _loop(self, steering: Steering) -> Stop:
        """Decide (stop, pause, requests) -> evaluate, save, sample -> one step, again."""
        self.model.train()
        t = self.tcfg
        speed = Throughput(t.batch_size * self.mcfg.block_size * self.dist.world_size)
        steps = ReadBack(speed)
        while True:
            decision = self._decide(steering)
            if decision.stop:  # saved at once, without the eval: a big one takes a minute
                self._save_unless_saved()
                return decision.stop
            self._between_steps(decision, steps)
            if decision.finished:
                if steering.stop is not None:  # a signal during the final eval abandoned it
                    self._save_unless_saved()
                    return steering.stop
                return FINISHED
            if self._stopping() and not self.dist.enabled:
                continue  # a signal came during the eval or sample: stop before stepping
            if decision.paused:
                started = time.perf_counter()
                time.sleep(PAUSE_POLL_S)
                self.clock.add_pause(time.perf_counter() - started)
                continue
            self._step_once(steps)

    def _decide(self, steering: Steering) -> Decision:
        """This turn's decision; its notes and steered options applied."""
        state = self.state
        decision = steering.decide(
            self.clock.finished(state.iter), self.early_evals.due(self.clock.elapsed())
        )
        for note in steering.notes:
            self._note(note)
        steering.notes.clear()
        self.steer(decision.steer)
        if decision.paused != self._paused and not decision.stop:
            self._paused = decision.paused
            told = (
                "paused by an alert (--on-alert pause): resume with p or `charlm-tui steer "
                "--resume`"
                if self._alert_paused
                else "paused by a request in control.json (a dashboard, or charlm-tui steer)"
            )
            self._alert_paused = False
            self._note(told if self._paused else "resumed")
        return decision

    def _between_steps(self, decision: Decision, steps: ReadBack) -> None:
        """Evaluate (and save) when due, else save when asked; sample when due or asked."""
        state, cfg = self.state, self.tcfg  # as steered
        due = state.iter % cfg.eval_interval == 0 or decision.finished or decision.early_eval
        evaluating = due and state.last_eval_iter != state.iter
        if steps.pending and (evaluating or decision.paused):
            steps.settle()  # steps not read back yet count as training time before it
        if evaluating:
            self.evaluate(*steps.speed.since_eval())  # saves last.pt
        elif decision.save:
            self.save("last")
        # By steps; while young, by time too; and at the end, so a run's last words are
        # its final model's. --sample-interval 0 writes none of them.
        sample_due = cfg.sample_interval and (
            state.iter % cfg.sample_interval == 0
            or decision.finished
            or self.early_samples.due(self.clock.elapsed())
        )
        if (sample_due and state.sampled_iter != state.iter) or decision.sample:
            self.sample()

    def _step_once(self, steps: ReadBack) -> None:
        """One optimizer step; its record once its loss is read back from the device."""
        state = self.state
        lr = learning_rate(self.tcfg, state.iter, self.clock.progress(state.iter))
        steps.add()
        read = steps.pending >= self.sync_every or (state.iter + 1) % self.sync_every == 0
        try:
            result = self.step(lr, sync=read)
        except TrainingDiverged as e:
            if steps.pending == 1:
                raise
            raise TrainingDiverged(  # it may have begun in a step not read back
                f"iterations {state.iter - steps.pending + 2}-{state.iter + 1}: {e} (losses "
                f"are read from the device every {self.sync_every} steps)"
            ) from None
        state.iter += 1
        if self._internals is not None:
            self.emit(self._internals)
            self._internals = None
        if not read:
            return  # the device runs ahead; losses are read every --log-interval steps
        loss, norm = result.read()
        step_dt = steps.settle()
        self.emit(
            StepEvent(
                state.iter, loss, lr, norm, step_dt, steps.speed.rate, self.clock.elapsed(),
                self.clock.progress(state.iter), self.clock.eta(state.iter),
            )
        )  # fmt: skip
        self._check_health({"loss spike": loss, "grad-norm spike": norm})

    def _check_health(self, seen: dict[str, float]) -> None:
        """Alert on a spike (rank 0, which writes the records and reads control.json):
        warn; pause through control.json, so the dashboard and `steer` see it and resume
        it; or stop, as a stop from any rank does, at the next step."""
        if not self.dist.is_main:
            return
        for kind, value in seen.items():
            baseline = self.health[kind].check(value)
            if baseline is None:
                continue
            action = self.tcfg.on_alert
            if action == "pause" and self._run is None:
                action = "warn"  # no control.json to pause through (an in-memory run)
            ratio = self.health[kind].ratio
            seen_text = (
                f"{kind} at iter {self.state.iter:,}: {value:.4g}, over {ratio:g} × its moving "
                f"average {baseline:.4g}"
            )
            # The request before the record: whoever reads the alert (a dashboard, a
            # script) and resumes finds the pause already asked for, not undone after.
            suffix = ""
            if action == "pause" and self._run is not None:
                try:
                    write_control(self._run.path, paused=True)
                    self._alert_paused, suffix = True, "; paused"  # the note says who asked
                except (OSError, CharLMError) as e:  # the run goes on; the alert says why
                    action, suffix = "warn", f" (could not pause: {e})"
            elif action == "stop" and self._steering is not None:
                self._steering.request_stop(ALERT_STOP)
                suffix = "; stopping"
            message = seen_text + suffix
            if action == "stop":
                self._alert_message = message
            self.emit(AlertEvent(self.state.iter, kind, value, baseline, action, message))

    def steer(self, requested: dict[str, Any], source: str = "control.json") -> None:
        """Apply new values of steerable options (every rank the same: steering.py); they
        hold from the next step and are saved with the run's configuration, so a resume
        continues with them."""
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
        probe, every = self._probe, self.tcfg.internals_interval
        if probe is None or (self.state.iter + 1) % every:
            return train_step(
                self._forward, self._params, self.optimizer, x, y, self.tcfg.grad_clip,
                self.autocast, self.dist.enabled, self.state.iter, sync,
            )  # fmt: skip
        # A recording step runs the eager model: hooks added to a model after
        # torch.compile traced it do not fire. Its numbers are read back now, a sync on
        # a GPU once every --internals-interval steps.
        with probe.recording():
            result = train_step(
                self._forward.eager, self._params, self.optimizer, x, y, self.tcfg.grad_clip,
                self.autocast, self.dist.enabled, self.state.iter, sync, probe.take_grads,
            )  # fmt: skip
            layers, weights = probe.read()
        self._internals = InternalsEvent(self.state.iter + 1, layers, weights)
        return result

    # -- records ----------------------------------------------------------------------------

    def _provenance(self, write: Callable[[Path], None]) -> None:
        """provenance.json (rank 0): a record about the run, not of it, so a failed
        write is a note, never the run's end."""
        if self._run is None or not self.dist.is_main:
            return
        try:
            write(self._run.path)
        except OSError as e:
            with contextlib.suppress(Exception):
                self._note(f"could not write {PROVENANCE}: {e.strerror or e}")


def start_event(trainer: Trainer) -> StartEvent:
    t = trainer
    return StartEvent(
        iter=t.state.iter,
        run_dir=str(t._run.path) if t._run is not None else None,
        model=t.mcfg.model,
        data=t.tcfg.data,
        max_iters=t.tcfg.max_iters,
        time_budget=t.tcfg.time_budget,
        n_params=count_params(t.model),
        vocab_size=len(t.dataset.vocab),
        train_chars=len(t.dataset.train),
        val_chars=len(t.dataset.val),
        device=str(t.device),
        threads=torch.get_num_threads(),
        world_size=t.dist.world_size,
        resumed=t.plan.resuming,
        layers=tuple(summarize(t.model)),
    )


def start_notes(trainer: Trainer) -> list[str]:
    """What the user should know as the run starts: Muon with nothing to train, a corpus
    that changed under a resumed run."""
    t, notes = trainer, []
    if t.tcfg.optimizer == "muon" and not hasattr(t.optimizer, "parts"):
        notes.append(
            f"--optimizer muon: a {t.mcfg.model} model has no transformer-block matrices "
            "for Muon: AdamW trains all of it"
        )
    then, now = t.plan.corpus_sha256, t.dataset.corpus.sha256
    if t.plan.resuming and then and then != now:
        notes.append(f"the corpus changed since the checkpoint ({then[:12]}… → {now[:12]}…)")
    return notes


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
    run = RunDirectory(plan.run_dir) if dist.is_main else None
    peers_lost = False
    try:
        if run is not None and plan.resuming:
            # The lock first, then what the resume starts from: planned earlier, it may
            # predate a last.pt that a training ending in this folder saved meanwhile.
            run.lock.acquire()
            plan = replanned(plan)
            if corpus is not None:
                check_resumed_corpus(plan, corpus)
        trainer = build(plan, dist, corpus)
        if run is not None:
            resume_iter = trainer.state.iter if plan.resuming else None
            run.claim(
                trainer.config_record(),
                plan.tcfg.log_interval,
                plan.overwrite,
                resume_iter,
                steered=trainer.steered_values(),
                sampled_at_resume=trainer.state.sampled_iter == trainer.state.iter,
                labels=plan.labels,
            )
        steering = Steering(run.path if run is not None else None, dist, trainer.device)
        extra = list(watchers(trainer, steering)) if watchers is not None else []
        all_sinks = [*sinks, *extra]
        try:
            with stop_on_signals(steering):
                done = trainer.run(steering, run, all_sinks)
            peers_lost = trainer.peers_lost
            return done
        finally:
            for sink in all_sinks:  # a TensorBoard writer's thread, a progress bar
                with contextlib.suppress(Exception):
                    sink.close()
    finally:
        if run is not None:
            run.close()
        distributed.shutdown(dist, peers_lost)
