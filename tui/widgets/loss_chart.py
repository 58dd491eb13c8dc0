"""Train and val loss against iteration, downsampled to the widget's width."""

from __future__ import annotations

from textual_plotext import PlotextPlot

from tui.state import RunState


def downsample(points: list[tuple[int, float]], n: int) -> tuple[list[float], list[float]]:
    """Mean of equal buckets: at most n points, and noisy step losses come out smoothed."""
    if not points:
        return [], []
    if len(points) <= n:
        return [float(p[0]) for p in points], [p[1] for p in points]
    size = len(points) / n
    xs, ys = [], []
    for i in range(n):
        bucket = points[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)]
        xs.append(sum(p[0] for p in bucket) / len(bucket))
        ys.append(sum(p[1] for p in bucket) / len(bucket))
    return xs, ys


class LossChart(PlotextPlot):
    """Step losses (smoothed), and train/val loss at each eval."""

    def show(self, state: RunState) -> None:
        plt = self.plt
        plt.clear_data()
        plt.xlabel("iter")
        width = max(self.size.width - 10, 10)
        xs, ys = downsample(state.steps, width)
        if xs:
            plt.plot(xs, ys, label="train (steps)", marker="braille", color="gray")
        evals = [e for e in state.evals if e.val.loss == e.val.loss]
        if evals:
            its = [float(e.iter) for e in evals]
            plt.plot(
                its, [e.train.loss for e in evals], label="train", marker="braille", color="cyan"
            )
            plt.plot(
                its, [e.val.loss for e in evals], label="val", marker="braille", color="orange"
            )
        plt.title("" if xs or evals else "waiting for the first steps…")
        self.refresh()
