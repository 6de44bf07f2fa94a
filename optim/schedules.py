"""Learning-rate schedules: callables ``step -> multiplier`` applied to every parameter's rate."""
from __future__ import annotations

import math


def constant():
    return lambda step: 1.0


def exponential(gamma: float):
    """multiplier = gamma ** step."""
    return lambda step: gamma ** step


def step_decay(every: int, factor: float = 0.5):
    """multiplier = factor ** (step // every)."""
    return lambda step: factor ** (step // every)


def cosine(total_steps: int, final: float = 0.1, warmup: int = 0):
    """Linear warm-up over ``warmup`` steps, then cosine decay from 1 to ``final`` at ``total_steps``."""
    def f(step):
        if step < warmup:
            return (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))
    return f
