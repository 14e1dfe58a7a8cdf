"""Progress of long commands (demo traffic, reprice, spool replay) on a terminal.

Drawn with ``rich`` when it is installed (the pipeline extra brings it) and
stderr is a terminal; otherwise silent, so the producer-only install, logs and
pipes see only the commands' own summary lines.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

Advance = Callable[[int], None]


def _console() -> Any | None:
    try:
        from rich.console import Console
    except ModuleNotFoundError:
        return None
    console = Console(stderr=True)
    return console if console.is_terminal and sys.stderr.isatty() else None


@contextmanager
def bar(description: str, total: int) -> Iterator[Advance]:
    """``advance(n)`` moves a bar of ``total`` steps; a no-op when there is nowhere to draw it."""
    console = _console()
    if console is None:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def spinner(description: str) -> Iterator[None]:
    """A spinner while a step of unknown length runs."""
    console = _console()
    if console is None:
        yield
        return
    with console.status(description):
        yield
