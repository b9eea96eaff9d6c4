"""A progress bar of a sweep's points, moved by its events (Sweep.watch / wait / results with
progress=True).

The bar counts points: a point adds its fraction of samples done as its PointProgress events
arrive (about a hundred a point; a LIMIT point, one sample, reports none) and counts as one whole
point at its PointFinished, so "2.4/4 points" is two points finished and the running ones 40% of
the way. The postfix names the running point and its samples, as the CLI's bar does. tqdm.auto
draws it: a widget in Jupyter (with ipywidgets; else text there too), a text line on stderr in a
terminal. tqdm is optional (Debian's python3-tqdm); without it progress=True raises ImportError
saying so.
"""

from typing import Any


def tqdm_class() -> Any:
    """tqdm.auto.tqdm, or an ImportError that names the package to install."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError(
            "sigprop: progress=True draws its bar with tqdm, which is not installed: install "
            "Debian's python3-tqdm ('apt install python3-tqdm'), or 'pip install tqdm' in a venv"
        ) from None
    return tqdm


class ProgressBar:
    """A tqdm bar over `points` points that update(event) moves; close() ends it."""

    def __init__(self, points: int, description: str) -> None:
        self.points = points
        self.finished = 0
        self._running: dict[int, float] = {}  # point → fraction of its samples done
        self.bar = tqdm_class()(
            total=points, desc=description, unit="point",
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total} points "
                       "[{elapsed}<{remaining}{postfix}]")

    def update(self, event: Any) -> None:
        """Moves the bar by one Event of the sweep (other kinds than progress, point_finished and
        sweep_finished change nothing)."""
        kind = event.WhichOneof("kind")
        if kind == "progress" and event.progress.samples_total > 0:
            done, total = event.progress.samples_done, event.progress.samples_total
            # A point that restarts (after a server restart) does not move the bar back.
            self._running[event.point] = max(self._running.get(event.point, 0.0), done / total)
            self.bar.set_postfix_str(f"point {event.point}: {done}/{total} samples",
                                     refresh=False)
        elif kind == "point_finished":
            self._running.pop(event.point, None)
            self.finished += 1
        elif kind == "sweep_finished":
            self.bar.set_postfix_str(event.sweep_finished.State.Name(event.sweep_finished.state),
                                     refresh=False)
        else:
            return
        # update() redraws at most every tqdm's mininterval (0.1 s), however fast events come.
        self.bar.update(min(self.finished + sum(self._running.values()), self.points) - self.bar.n)

    def close(self) -> None:
        """Ends the bar where it stands (a cancelled or failed sweep's bar stays short)."""
        self.bar.close()
