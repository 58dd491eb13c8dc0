"""The model's internals: recorded every --internals-interval steps for every model of the
zoo, with the values a hand computation gives, stored and read back validated."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from rich.console import Console

from charlm_tui.core.config import build_configs, replace
from charlm_tui.core.internals.probe import Probe
from charlm_tui.core.internals.stats import LayerStats, WeightStats
from charlm_tui.core.models import build_model
from charlm_tui.core.runs.events import InternalsEvent, decode_line, record_of
from charlm_tui.core.runs.records import dump_line, read_records
from charlm_tui.core.runs.view import RunView
from charlm_tui.core.training import step as step_module
from tests.train_helpers import Collect, short_training

SMALL = dict(n_embd=16, block_size=16, batch_size=4, max_iters=10, internals_interval=5)
# Each preset's model: its layers in the records, and the saturation rule of each.
EXPECTED = {
    "tiny": {"wte": "", "wpe": "", "blocks.0": "relu", "ln_f": "", "lm_head": ""},
    "mlp": {"wte": "", "hidden": "tanh", "head": ""},
    "rnn": {"wte": "", "layers.0": "tanh", "layers.1": "tanh", "head": ""},
    "gru": {"wte": "", "layers.0": "sigmoid", "layers.1": "sigmoid", "head": ""},
    "lstm": {"wte": "", "layers.0": "sigmoid", "layers.1": "sigmoid", "head": ""},
    "bigram": {"table": ""},
}


def internals(events: list) -> list[InternalsEvent]:
    return [e for e in events if isinstance(e, InternalsEvent)]


@pytest.mark.parametrize("preset", sorted(EXPECTED))
def test_every_model_records_its_internals(preset: str, corpus_file: Path, tmp_path: Path) -> None:
    over = dict(SMALL, n_layer=2) if preset in ("rnn", "gru", "lstm") else SMALL
    training = short_training(corpus_file, tmp_path / "r", preset, **over)
    seen = Collect()
    training.run(seen)
    view = RunView(tmp_path / "r")
    view.update()
    assert [e.iter for e in view.internals] == [5, 10]  # in the records, as emitted
    assert [dataclasses.replace(e, time=None) for e in view.internals] == internals(seen.events)
    last = view.last_internals
    assert last is not None
    assert {row.name: row.rule for row in last.layers} == EXPECTED[preset]
    for row in last.layers:
        assert math.isfinite(row.grad_norm) and row.grad_norm >= 0, row
        if row.what:  # an activation was seen: its numbers are real
            assert row.mean is not None and math.isfinite(row.mean), row
            assert row.std is not None and row.std >= 0, row
        if row.rule:
            assert row.saturated is not None and 0.0 <= row.saturated <= 1.0, row
        else:
            assert row.saturated is None
    assert {w.layer for w in last.weights} <= set(EXPECTED[preset])
    for w in last.weights:
        # Adam's first steps move each weight by about lr: ratios of 1e-4 .. 1
        assert -4.5 < w.ratio < 0.5, w
        assert w.grad_norm > 0, w
    # The activations of models that have them move with training: not a constant
    stds = [row.std for row in last.layers if row.std is not None]
    assert any(s > 0 for s in stds)


def test_the_ratio_and_gradient_norm_are_what_a_hand_computation_gives() -> None:
    """With SGD the update is -lr * grad: the ratio is log10(std(lr * grad) / std(w))."""
    torch.manual_seed(0)
    mcfg, _ = build_configs("mlp", dict(n_embd=8, block_size=4))
    model = build_model(replace(mcfg, vocab_size=11))
    lr = 0.05
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = torch.randint(0, 11, (3, 4)), torch.randint(0, 11, (3, 4))
    probe = Probe(model)
    w = model.hidden.weight
    before = w.detach().clone()
    with probe.recording():
        _, loss = model(x, y)
        loss.backward()
        grads = [w.grad.detach().clone(), model.hidden.bias.grad.detach().clone()]
        probe.take_grads()
        nn.utils.clip_grad_norm_(model.parameters(), 1e-3)  # a clip after the reading
        opt.step()
        layers, weights = probe.read()
    row = next(r for r in weights if r.name == "hidden.weight")
    by_hand = math.log10(float((w.detach() - before).std() / before.std()))
    assert row.ratio == pytest.approx(by_hand, abs=1e-5)
    assert row.grad_norm == pytest.approx(float(grads[0].norm()), rel=1e-5)  # before clipping
    hidden = next(r for r in layers if r.name == "hidden")
    both = math.hypot(float(grads[0].norm()), float(grads[1].norm()))
    assert hidden.grad_norm == pytest.approx(both, rel=1e-5)  # the layer: weight and bias
    assert hidden.rule == "tanh" and hidden.saturated is not None
    assert not model.hidden._forward_hooks  # the hooks are gone after the step


def test_the_gates_measured_are_the_ones_the_kernel_used() -> None:
    """An LSTM whose forget-gate bias is huge has saturated gates: the probe sees them."""
    torch.manual_seed(0)
    mcfg, _ = build_configs("lstm", dict(n_embd=8, n_layer=1, block_size=6))
    model = build_model(replace(mcfg, vocab_size=7))
    probe = Probe(model)
    x = torch.randint(0, 7, (2, 6))
    with probe.recording():
        model(x)
        calm = {r.name: r for r in probe.read()[0]}["layers.0"].saturated
    with torch.no_grad():
        model.layers[0].bias_ih_l0.fill_(20.0)  # every sigmoid gate at 1
    with probe.recording():
        model(x)
        pinned = {r.name: r for r in probe.read()[0]}["layers.0"].saturated
    assert calm is not None and calm < 0.5
    assert pinned == pytest.approx(1.0)


def test_interval_zero_records_nothing(corpus_file: Path, tmp_path: Path) -> None:
    training = short_training(corpus_file, tmp_path / "r", **{**SMALL, "internals_interval": 0})
    assert training.trainer._probe is None
    seen = Collect()
    training.run(seen)
    assert not internals(seen.events)
    assert b'"internals"' not in (tmp_path / "r" / "metrics.jsonl").read_bytes()


def test_a_compiled_model_records_from_the_eager_one(
    corpus_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hooks added after torch.compile traced a model may not fire: recording steps run
    the eager model, the others the compiled one."""
    calls: list[int] = []

    def fake_compile(module: nn.Module):
        def compiled(x: torch.Tensor, y: torch.Tensor):
            calls.append(1)
            with _hooks_silenced(module):
                return module(x, y)

        return compiled

    monkeypatch.setattr(step_module.torch, "compile", fake_compile)
    training = short_training(corpus_file, tmp_path / "r", **{**SMALL, "compile": True})
    seen = Collect()
    training.run(seen)
    got = internals(seen.events)
    assert [e.iter for e in got] == [5, 10]
    assert all(r.what for r in got[0].layers if r.name != "wpe")  # the hooks fired
    assert len(calls) == 8  # 10 steps, 2 of them recorded on the eager model


class _hooks_silenced:
    """A stand-in for a compiled graph: the module runs with its submodules' forward
    hooks out of reach, as hooks added after compiling are."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.saved: list[tuple[nn.Module, dict]] = []

    def __enter__(self) -> None:
        for m in self.module.modules():
            self.saved.append((m, dict(m._forward_hooks)))
            m._forward_hooks.clear()

    def __exit__(self, *_: object) -> None:
        for m, hooks in self.saved:
            m._forward_hooks.update(hooks)


def sample_event() -> InternalsEvent:
    return InternalsEvent(
        iter=50,
        layers=(
            LayerStats("wte", "output", 0.01, 0.5, "", None, 0.3),
            LayerStats("wpe", "", None, None, "", None, 0.2),
            LayerStats("blocks.0", "mlp.act", 0.02, 0.1, "relu", 0.55, math.nan),
        ),
        weights=(WeightStats("blocks.0.mlp.c_fc.weight", "blocks.0", 0.1, -math.inf),),
    )


def test_a_record_round_trips_with_its_non_finite_values() -> None:
    line = dump_line(record_of(sample_event())).encode()
    back = decode_line(line.rstrip(b"\n"))
    assert isinstance(back, InternalsEvent)
    assert back.layers[:2] == sample_event().layers[:2]
    assert math.isnan(back.layers[2].grad_norm) and back.layers[2].saturated == 0.55
    assert math.isnan(back.weights[0].ratio)  # -inf is written null, read as NaN


def bad_records() -> list[dict]:
    good = json.loads(dump_line(record_of(sample_event())))
    layer, weight = good["layers"][0], good["weights"][0]
    return [
        {**good, "layers": "wte"},  # not a list
        {**good, "weights": {"name": "w"}},
        {**good, "layers": [[1, 2, 3]]},  # rows must be objects
        {**good, "layers": [{k: v for k, v in layer.items() if k != "grad_norm"}]},
        {**good, "layers": [{**layer, "std": "0.5"}]},  # a number as text
        {**good, "layers": [{**layer, "rule": "softplus"}]},  # not a rule of ours
        {**good, "layers": [{**layer, "saturated": 0.5}]},  # a saturation without a rule
        {**good, "layers": [{**layer, "what": "", "mean": 0.1}]},  # a mean of nothing
        {**good, "layers": [{**layer, "rule": "tanh", "saturated": 0.1, "what": ""}]},
        {**good, "weights": [{**weight, "ratio": True}]},
        {**good, "weights": [{k: v for k, v in weight.items() if k != "layer"}]},
        {**good, "iter": "50"},
    ]


@pytest.mark.parametrize("record", bad_records())
def test_a_malformed_internals_record_is_skipped(record: dict, tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    good = dump_line(record_of(sample_event()))
    path.write_text(good + json.dumps(record) + "\n" + good, encoding="utf-8")
    events = read_records(path)
    assert [type(e) for e in events] == [InternalsEvent, InternalsEvent]


# -- the dashboard's pane ---------------------------------------------------------------------

EVIL = "blocks.0\x1b[31m"  # a layer name from a file: never reaches the terminal raw


def add_internals(run_dir: Path, iters: tuple[int, ...], name: str = "blocks.0") -> None:
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        for it in iters:
            event = InternalsEvent(
                iter=it,
                layers=(
                    LayerStats("wte", "output", 0.0, 0.05, "", None, 1.2),
                    LayerStats(name, "mlp.act", 0.01, 0.2, "relu", 0.62, 0.9),
                    LayerStats("lm_head", "logits", -0.5, 1.5, "", None, 0.4),
                ),
                weights=(
                    WeightStats("wte.weight", "wte", 1.2, -2.5 - it / 1000),
                    WeightStats(f"{name}.mlp.c_fc.weight", name, 0.5, -2.0 - it / 1000),
                    WeightStats(f"{name}.mlp.c_proj.weight", name, 0.4, -3.0 - it / 1000),
                    WeightStats("lm_head.weight", "lm_head", 0.4, -3.2),
                ),
            )
            f.write(dump_line(record_of(event)))


def rendered(renderable) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None)
    with console.capture() as out:
        console.print(renderable)
    return out.get()


def test_the_pane_toggles_and_shows_a_finished_runs_layers(tmp_path: Path) -> None:
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.screens.dashboard import DashboardScreen
    from charlm_tui.tui.widgets.internals import InternalsPane, internals_table
    from tests.tui_helpers import dashboard_drawn, fake_run, footer_keys, run
    from tests.waiting import wait_for

    path = fake_run(tmp_path, "r", iters=200)
    add_internals(path, (100, 200), EVIL)

    async def scenario() -> None:
        app = CharLMApp(watch=path)
        async with app.run_test(size=(80, 24)) as pilot:
            dash = app.screen
            assert isinstance(dash, DashboardScreen)
            await wait_for(pilot, lambda: dashboard_drawn(dash), "the dashboard")
            pane = dash.query_one(InternalsPane)
            assert not pane.display
            await wait_for(pilot, lambda: "n" in footer_keys(app), "n in an 80-column footer")
            await pilot.press("n")
            await wait_for(pilot, lambda: pane.display, "the internals pane")
            assert not dash.query_one("#top").display and not dash.query_one("#bottom").display
            await pilot.pause()
            shown = html.unescape(app.export_screenshot()).replace("\xa0", " ")
            assert "wte" in shown and "lm_head" in shown and "iter 200" in shown
            assert "\x1b" not in shown and "\\x1b" in shown  # the name escaped
            # blocks.0's two matrices at 200: -2.2 and -3.2, their mean -2.7
            table = rendered(internals_table(dash.view))
            assert "-2.70" in table and "62% ≤0" in table and "upd/w" in table
            await pilot.press("n")
            await wait_for(pilot, lambda: not pane.display, "the loss chart back")
            assert dash.query_one("#top").display

    run(scenario())


def test_the_pane_follows_new_records_and_says_when_there_are_none(tmp_path: Path) -> None:
    from charlm_tui.tui.app import CharLMApp
    from charlm_tui.tui.widgets.internals import InternalsPane
    from tests.tui_helpers import fake_run, run
    from tests.waiting import wait_for

    path = fake_run(tmp_path, "r", iters=200, done=None)

    async def scenario() -> None:
        app = CharLMApp(watch=path)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("n")
            pane = app.screen.query_one(InternalsPane)
            plot = pane.query_one("#internals-plot")
            await wait_for(pilot, lambda: pane.display, "the internals pane")
            assert "--internals-interval" in plot.empty and not plot._has_data
            add_internals(path, (50,))  # as a training would write them
            await wait_for(pilot, lambda: plot._has_data, "the first recording drawn")
            assert pane.border_subtitle.startswith("iter 50")
            add_internals(path, (100,))
            await wait_for(pilot, lambda: "iter 100" in pane.border_subtitle, "the next one")

    run(scenario())


def test_tensorboard_gets_the_ratios_as_scalars(tiny_args: list[str], tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from charlm_tui.tui.cli import run

    out = tmp_path / "run"
    argv = ["--no-ui", "train", *tiny_args, "--internals-interval", "10", "--tensorboard"]
    assert run([*argv, "--out", str(out)]) == 0
    acc = EventAccumulator(str(out / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tag = "internals/update_ratio/blocks.0.mlp.c_fc.weight"
    got = [(e.step, e.value) for e in acc.Scalars(tag)]
    recorded = [e for e in read_records(out / "metrics.jsonl") if isinstance(e, InternalsEvent)]
    want = [(e.iter, w.ratio) for e in recorded for w in e.weights if tag.endswith("/" + w.name)]
    assert [s for s, _ in got] == [10, 20, 30]
    assert [v for _, v in got] == pytest.approx([v for _, v in want])
    assert "internals/saturated/blocks.0" in acc.Tags()["scalars"]


def test_a_tied_weight_is_measured_once() -> None:
    mcfg, _ = build_configs("tiny", dict(n_embd=16))
    model = build_model(replace(mcfg, vocab_size=9))
    model.lm_head.weight = model.wte.weight  # tied, as nanoGPT's checkpoints are
    probe = Probe(model)
    names = [name for name, _, _ in probe.weights]
    assert names.count("wte.weight") == 1 and "lm_head.weight" not in names
    assert len(probe.params) == len(list(model.parameters()))  # unique tensors


def test_under_ddp_rank_0_records_once(corpus_file: Path, tmp_path: Path) -> None:
    from tests.train_helpers import DDP_CLI, run_captured, train_argv

    out = tmp_path / "ddp"
    argv = train_argv(
        corpus_file, out, command=DDP_CLI, max_iters=20, internals_interval=10, sample_interval=0
    )
    result = run_captured(argv, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    recorded = [e for e in read_records(out / "metrics.jsonl") if isinstance(e, InternalsEvent)]
    assert [e.iter for e in recorded] == [10, 20]
    assert all(math.isfinite(w.ratio) for e in recorded for w in e.weights)


def trained(corpus: Path, out: Path, sync_every: int, **over) -> tuple[dict, list]:
    from charlm_tui.core.runs.rundir import RunDirectory
    from charlm_tui.core.training.distributed import DistInfo
    from charlm_tui.core.training.plan import plan_new
    from charlm_tui.core.training.steering import Steering
    from charlm_tui.core.training.trainer import build

    values = dict(data=str(corpus), max_iters=23, eval_interval=10, sample_interval=0)
    plan = plan_new("tiny", {**values, **over}, out)
    trainer = build(plan, DistInfo(), sync_every=sync_every)
    events = Collect()
    with RunDirectory(out) as run:
        run.claim(trainer.config_record(), 1, False, None, trainer.steered_values())
        trainer.run(Steering(run.path, DistInfo(), trainer.device), run, [events])
    return trainer.model.state_dict(), events.events


def test_recording_between_read_backs_changes_nothing_of_the_training(
    corpus_file: Path, tmp_path: Path
) -> None:
    """The GPU's way (losses read back every 5 steps), on a CPU: recordings come every 3
    steps all the same, and the weights end exactly as without them."""
    plain, _ = trained(corpus_file, tmp_path / "a", 5, internals_interval=0)
    probed, events = trained(corpus_file, tmp_path / "b", 5, internals_interval=3)
    assert [e.iter for e in internals(events)] == [3, 6, 9, 12, 15, 18, 21]
    assert all(torch.equal(plain[k], probed[k]) for k in plain)
