"""Objectives that are a weighted sum over items chosen per step (the views of a reconstruction, the
scenes or room configurations of a study).

``loss_fn(values, items, step)`` returns the Dr.Jit scalar sum of the items' losses at optimizer step
``step``; ``schedule(step)`` picks the step's items and ``weight(items)`` scales the sum (default: the
mean). :class:`ItemObjective` evaluates it in this process; :class:`penumbra.distributed.DataParallel`
evaluates the same ``loss_fn`` split across Ray workers. Both are told the step by
:func:`optim.optimize` (``set_step``), so any randomness seeded from ``(step, item)`` is the same after
a resume and on any number of workers.
"""
from __future__ import annotations

from typing import Callable, Sequence


def mean_weight(items: Sequence[int]) -> float:
    """The default weight: ``1 / len(items)`` (the mean of the items' losses)."""
    return 1.0 / len(items)


class ItemObjective:
    """``weight(items) * loss_fn(values, items, step)`` for the items ``schedule(step)`` of each step
    (default: all ``n_items``), evaluated in this process."""

    def __init__(self, loss_fn: Callable, n_items: int, schedule: Callable[[int], Sequence[int]] | None = None,
                 weight: Callable[[Sequence[int]], float] | None = None):
        self.loss_fn, self.n_items = loss_fn, n_items
        self.schedule = schedule or (lambda step: range(n_items))
        self.weight = weight or mean_weight
        self.step = 0

    def set_step(self, step: int):
        """Set the step whose items (and seeds) the next call evaluates (called by ``optimize``)."""
        self.step = int(step)

    def __call__(self, values: dict):
        items = [int(i) for i in self.schedule(self.step)]
        loss = self.loss_fn(values, items, self.step) * float(self.weight(items))
        self.step += 1
        return loss
