"""A rich progress bar for the runner: samples done, output tokens/s and ETA per model."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from gapbench.runner import RunOutcome
    from gapbench.store.records import SampleRecord


class RichProgress:
    """Implements runner.ProgressListener; draws on stderr so --json stdout stays clean."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self._task: TaskID | None = None
        self._tokens = 0
        self._started = 0.0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def model_started(self, model_id: str, todo: int) -> None:
        self._tokens = 0
        self._started = time.perf_counter()
        self._task = self._progress.add_task(model_id, total=todo or 1, speed="")
        if todo == 0:
            self._progress.update(self._task, completed=1, speed="all stored")

    def sample_done(self, record: SampleRecord) -> None:
        if self._task is None:
            return
        self._tokens += record.completion_tokens
        elapsed = time.perf_counter() - self._started
        speed = f"{self._tokens / elapsed:.1f} tok/s" if elapsed > 0 else ""
        self._progress.update(self._task, advance=1, speed=speed)

    def samples_elsewhere(self, count: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=count)

    def waiting(self, held: int) -> None:
        if self._task is not None:
            # Once per poll: the bar stays put while another run finishes what it claimed.
            self._progress.update(self._task, speed=f"waiting for {held} held by another run")

    def model_finished(self, outcome: RunOutcome) -> None:
        self._task = None
