"""Generation in a child process, so that decoding never shares an interpreter with a UI.

In a thread of the app, every character's step holds the GIL between its tensor ops
and every redraw of the pane holds it for ~12 ms: the two slow each other down, and a
pane decoding in a thread streamed at 0.61-0.69 of the headless rate in three of four
rounds (bench/generate_pane.py, 2026-11-26). A child process decodes at the headless
rate on its own core while the app draws on the other.

`DecoderProcess(model)` writes the model's weights to a private temporary file and
starts `python -m charlm_tui.core.decoding.decoder_process`, which loads them
(weights_only) and serves one generation at a time over its stdin and stdout, one JSON
object per line:

    parent -> child   {"op": "generate", "id": 3, "ids": [...], "max_new": 500,
                       "temperature": 0.8, "top_k": 0, "top_p": 1.0, "seed": 1337,
                       "precision": "int8", "compiled": false}
                      {"op": "stop", "id": 3}
    child -> parent   {"ready": true}  (or {"fatal": "why"}, then it exits)
                      {"id": 3, "ids": [...], "p": [...]}  new characters, every ~50 ms
                      {"id": 3, "note": "compiling the decode step..."}
                      {"end": 3, "count": 500, "seconds": 0.61, "stopped": false,
                       "error": ""}

The child runs exactly `core.decoding.sampling.generate` with the same seed: the same
text as decoding in-process. It exits when its stdin closes (the app quit or died).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import torch
import torch.nn as nn

from charlm_tui.core.decoding.options import GenerateOptions
from charlm_tui.core.errors import CharLMError

CHUNK_S = 0.05  # how often the child sends what it made: the pane shows it at 5 Hz


class DecoderProcess:
    """A child process that decodes `model`: start it early, it loads in the background."""

    def __init__(self, model: nn.Module) -> None:
        """CharLMError when it cannot start (no room for the weights' copy, say)."""
        self.weights: Path | None = None
        try:
            fd, name = tempfile.mkstemp(prefix=".charlm-decoder-", suffix=".pt")  # mode 0600
            self.weights = Path(name)
            with os.fdopen(fd, "wb") as f:
                state = {"config": dataclasses.asdict(model.config), "model": model.state_dict()}
                torch.save(state, f)
            self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - the child's stderr, closed by close()
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "charlm_tui.core.decoding.decoder_process",
                    str(self.weights),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.errors,
                text=True,
                encoding="utf-8",
            )
        except OSError as e:
            if self.weights is not None:
                self.weights.unlink(missing_ok=True)
            raise CharLMError(f"cannot start the decoder process: {e}") from None
        self.next_id = 0
        self.last_seconds = 0.0  # the last generation's decoding time, in the child
        self.lock = threading.Lock()  # one generation at a time

    def generate(
        self, ids: list[int], options: GenerateOptions, precision: str,
        cancelled: Callable[[], bool] = lambda: False,
        note: Callable[[str], None] = lambda _: None,
    ) -> Iterator[tuple[int, float]]:  # fmt: skip
        """Yield (token, probability it was drawn with) as the child makes them; once
        `cancelled()` turns true, ask the child to stop and yield what it already made.
        Returns when the child says the generation ended; CharLMError if it failed. A
        caller that leaves early (closes the iterator) stops the child's generation too."""
        with self.lock:
            self.next_id += 1
            gen_id = self.next_id
            p = options.params
            self._send(
                op="generate", id=gen_id, ids=ids, max_new=options.max_new_tokens,
                temperature=p.temperature, top_k=p.top_k, top_p=p.top_p, seed=options.seed,
                precision=precision, compiled=options.compile,
            )  # fmt: skip
            stop_sent, ended = False, False
            try:
                while True:
                    if cancelled() and not stop_sent:
                        self._send(op="stop", id=gen_id)
                        stop_sent = True
                    msg = self._receive()
                    if msg.get("id") == gen_id and "note" in msg:
                        note(str(msg["note"]))
                    elif msg.get("id") == gen_id:
                        yield from zip(msg["ids"], msg["p"], strict=True)
                    elif msg.get("end") == gen_id:
                        ended = True
                        self.last_seconds = float(msg["seconds"])
                        if msg["error"]:
                            raise CharLMError(msg["error"])
                        return
            finally:
                if not ended and self.alive:  # the caller left early: stop it, then drain
                    with contextlib.suppress(CharLMError):
                        if not stop_sent:
                            self._send(op="stop", id=gen_id)
                        while self._receive().get("end") != gen_id:
                            pass

    def _send(self, **request: Any) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise CharLMError(self._died()) from None

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise CharLMError(self._died())
            try:
                msg = json.loads(line)
            except ValueError:  # something in the child printed to stdout: not ours
                continue
            if isinstance(msg, dict):
                break
        if "fatal" in msg:
            raise CharLMError(f"the decoder process could not start: {msg['fatal']}")
        return msg

    def _died(self) -> str:
        code = self.proc.wait()
        self.errors.seek(0)
        lines = self.errors.read().decode("utf-8", "replace").strip().splitlines()
        why = f": {lines[-1][:200]}" if lines else ""
        return f"the decoder process exited with code {code}{why}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """Close its stdin: between generations it exits at once; in the middle of one
        (the pane closed while streaming) it is terminated after a moment."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errors.close()
        if self.weights is not None:
            self.weights.unlink(missing_ok=True)


# -- the child -------------------------------------------------------------------------------


class Child:
    """The decoder child's side: the model, the decoders built for it, and the stop
    requests that arrive while a generation runs."""

    def __init__(self, model: nn.Module, out: IO[str]) -> None:
        self.model, self.out = model, out
        self.decoders: dict[tuple[str, bool], Any] = {}  # by (precision, compiled)
        self.stopped = -1  # the generation Esc asked to stop

    def send(self, **msg: Any) -> None:
        self.out.write(json.dumps(msg) + "\n")
        self.out.flush()

    def decoder(self, gen_id: int, precision: str, compiled: bool) -> Any:
        from charlm_tui.core.models.compiled import make_decoder

        how = (precision, compiled)
        if how not in self.decoders:
            note = lambda m: self.send(id=gen_id, note=m)  # noqa: E731
            self.decoders[how] = make_decoder(self.model, *how, note=note)
        return self.decoders[how]

    def generate(self, req: dict[str, Any]) -> None:
        """One request: the first character, then what follows every CHUNK_S seconds,
        then how it ended."""
        from charlm_tui.core.decoding.options import SamplingParams
        from charlm_tui.core.decoding.sampling import generate

        gen_id, count, error = req["id"], 0, ""
        ids_out: list[int] = []
        probs: list[float] = []
        t0 = time.perf_counter()
        try:
            decoder = self.decoder(gen_id, req["precision"], bool(req["compiled"]))
            t0 = last = time.perf_counter()  # the rate is decoding's, not building's
            params = SamplingParams(req["temperature"], req["top_k"], req["top_p"])
            g = torch.Generator().manual_seed(req["seed"])
            chosen: list[float] = []
            for tok in generate(self.model, req["ids"], req["max_new"], params, g,
                                decoder=decoder, chosen=chosen):  # fmt: skip
                if self.stopped == gen_id:
                    break
                ids_out.append(tok)
                probs.append(chosen[-1])
                count += 1
                # The first character goes at once: the pane shows it as it arrives.
                if count == 1 or time.perf_counter() - last >= CHUNK_S:
                    self.send(id=gen_id, ids=ids_out, p=probs)
                    ids_out, probs, last = [], [], time.perf_counter()
        except (CharLMError, RuntimeError, ValueError) as e:
            error = str(e) or type(e).__name__
        if ids_out:
            self.send(id=gen_id, ids=ids_out, p=probs)
        seconds = time.perf_counter() - t0
        self.send(end=gen_id, count=count, seconds=seconds, stopped=self.stopped == gen_id,
                  error=error)  # fmt: skip


def load_child_model(weights: Path) -> nn.Module:
    """The model the app wrote for this child (weights_only); the file is removed."""
    from charlm_tui.core.config import ModelConfig
    from charlm_tui.core.models import build_model

    try:
        saved = torch.load(weights, map_location="cpu", weights_only=True)
        model = build_model(ModelConfig(**saved["config"]))
        model.load_state_dict(saved["model"])
    finally:
        weights.unlink(missing_ok=True)
    return model.eval()


def serve(weights: Path, requests: IO[str], out: IO[str]) -> None:
    """Load the weights, then decode each request until `requests` ends."""
    # One row's products are too small to split across threads; the other core is
    # the app's.
    torch.set_num_threads(1)
    child = Child(nn.Module(), out)
    try:
        child.model = load_child_model(weights)
    except Exception as e:  # anything here means: cannot decode
        child.send(fatal=str(e).splitlines()[0][:200] if str(e) else type(e).__name__)
        return
    child.send(ready=True)
    inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def read() -> None:  # a thread: a stop request arrives while a generation runs
        for line in requests:
            msg = json.loads(line)
            if msg.get("op") == "stop":
                child.stopped = msg["id"]
            else:
                inbox.put(msg)
        inbox.put(None)  # stdin closed

    threading.Thread(target=read, daemon=True).start()
    while (req := inbox.get()) is not None:
        child.generate(req)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):  # the app went away
        serve(Path(sys.argv[1]), sys.stdin, sys.stdout)
