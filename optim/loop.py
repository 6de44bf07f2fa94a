"""The optimization loop shared by all integrators.

``optimize(objective, variables, steps)`` minimises ``objective(values)`` where ``values`` maps each
parameter name to ``transform.forward(latent)``. Around Adam it provides what a long job needs:
per-parameter learning rates, a learning-rate schedule, a NaN/Inf guard that stops with a message
naming the parameter, checkpoint and resume, a tqdm progress bar, and a saved loss history
(``loss.json``) with a matplotlib plot (``loss.png``).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import drjit as dr
import numpy as np

from penumbra.renderer import checks, ensure_variant
from penumbra.renderer.arrays import from_numpy, is_drjit, is_transform, to_numpy

from .adam import Adam
from .transforms import Identity, Transform


class NonFiniteError(FloatingPointError):
    """The loss, a gradient or a parameter became NaN/Inf; the message names which."""


@dataclass
class Variable:
    """A parameter to optimize: initial value, transform (bounds), optional own learning rate and optional
    projection. ``project(value) -> value`` maps a value onto a constraint set (e.g. an L-inf ball
    around the initial value); the loop applies it after every step, in value space, and stores the
    projected value's latent (projected gradient descent, as in PGD attacks: Madry et al. 2018)."""
    init: object
    transform: Transform = field(default_factory=Identity)
    lr: float | None = None
    project: Callable[[object], object] | None = None


@dataclass
class Result:
    values: dict            # name -> final value (Dr.Jit, detached)
    history: list           # loss per step
    steps: int
    seconds: float
    out_dir: str | None = None

    def numpy(self) -> dict:
        return {k: to_numpy(v) for k, v in self.values.items()}


def _as_drjit(x):
    import mitsuba as mi
    ensure_variant()
    if is_drjit(x):
        return x if is_transform(x) else dr.detach(x)
    a = np.atleast_1d(np.asarray(x, dtype=np.float32))
    return mi.Float(a.ravel()) if a.ndim == 1 else mi.TensorXf(a)


def _scalar(x) -> float:
    return float(np.asarray(to_numpy(x)).ravel()[0]) if is_drjit(x) else float(x)


def _check_finite(kind: str, named: dict, step: int):
    for name, v in named.items():
        if not bool(dr.all(dr.isfinite(v), axis=None)):
            raise NonFiniteError(f"step {step}: the {kind} of parameter {name!r} contains NaN/Inf; "
                                 "lower its learning rate, bound it with a transform, or check the objective")


def plot_loss(history, path, title="loss") -> str:
    """Save a log-scale loss curve as PNG; ``history`` is one list of losses or a dict label -> list
    (several curves in one plot, with a legend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    curves = history if isinstance(history, dict) else {None: history}
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for label, h in curves.items():
        ax.plot(np.arange(len(h)), h, lw=1.2, label=label)
    values = [v for h in curves.values() for v in h]
    if values and min(values) > 0:
        ax.set_yscale("log")
    if isinstance(history, dict) and curves:
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def optimize(objective: Callable[[dict], object], variables: dict[str, Variable], steps: int,
             optimizer: Adam | None = None, schedule: Callable[[int], float] | None = None,
             out_dir: str | None = None, checkpoint_every: int = 0, resume: bool = False,
             progress: bool = True, callback: Callable[[int, dict, float], None] | None = None,
             description: str = "optimizing", plot: bool = True) -> Result:
    """Minimise ``objective(values)`` over ``variables`` for ``steps`` Adam steps.

    ``objective`` receives ``{name: value}`` (Dr.Jit arrays attached to the AD graph) and returns a
    scalar Dr.Jit loss. With ``out_dir``, writes ``loss.json``/``loss.png`` at the end and, when
    ``checkpoint_every > 0``, ``checkpoint.npz`` every that many steps (written atomically, with a
    format version, the parameter names and shapes and the step); ``resume=True`` continues from an
    existing checkpoint there, after checking that it matches the variables and is not beyond
    ``steps`` (:class:`CheckpointError` otherwise). ``plot=False`` skips ``loss.png`` (a caller
    that chains several runs plots them together). ``steps=0`` returns the initial values.
    An objective with a ``set_step(step)`` method is told the step index before each evaluation (also
    after a resume), so that its per-step choices (views, seeds) depend on the step alone, as
    :class:`penumbra.distributed.DataParallel` requires.
    """
    from tqdm.auto import tqdm
    if not variables:
        raise ValueError("optimize(): no variables to optimize")
    steps = checks.integer("optimize(steps=...)", steps, lo=0)
    checkpoint_every = checks.integer("optimize(checkpoint_every=...)", checkpoint_every, lo=0)
    for name, var in variables.items():
        if var.lr is not None:
            checks.positive(f"learning rate of parameter {name!r}", var.lr)
    optimizer = optimizer or Adam()
    schedule = schedule or (lambda step: 1.0)
    latent = {}
    for name, var in variables.items():
        init = _as_drjit(var.init)
        if not bool(dr.all(dr.isfinite(init), axis=None)):
            raise NonFiniteError(f"initial value of parameter {name!r} contains NaN/Inf")
        latent[name] = dr.detach(var.transform.inverse(init))
        dr.eval(latent[name])
    _check_finite("latent value (after the inverse transform)", latent, 0)
    rates = {n: v.lr for n, v in variables.items() if v.lr is not None}
    history, start = [], 0
    ckpt = os.path.join(out_dir, "checkpoint.npz") if out_dir else None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    if resume and ckpt and os.path.exists(ckpt):
        start, history = _load_checkpoint(ckpt, latent, optimizer, steps)

    t0 = time.perf_counter()
    bar = tqdm(range(start, steps), desc=description, disable=not progress, initial=start, total=steps,
               dynamic_ncols=True)
    for step in bar:
        for x in latent.values():
            dr.enable_grad(x)
        values = {n: variables[n].transform.forward(x) for n, x in latent.items()}
        if hasattr(objective, "set_step"):
            objective.set_step(step)
        loss = objective(values)
        if not is_drjit(loss):
            raise TypeError(f"optimize(): the objective must return a Dr.Jit scalar attached to the AD graph, "
                            f"got {type(loss).__name__}")
        loss_value = _scalar(loss)
        if not np.isfinite(loss_value):
            raise NonFiniteError(f"step {step}: the loss is {loss_value}; parameters: "
                                 + ", ".join(sorted(variables)))
        dr.backward(loss)
        grads = {n: dr.grad(x) for n, x in latent.items()}
        _check_finite("gradient", grads, step)
        scale = checks.number(f"schedule({step})", schedule(step), lo=0.0)
        latent = optimizer.step(latent, grads, rates, scale)
        for n, var in variables.items():
            if var.project is not None:
                latent[n] = dr.detach(var.transform.inverse(var.project(var.transform.forward(latent[n]))))
                dr.eval(latent[n])
        _check_finite("value", latent, step)
        history.append(loss_value)
        bar.set_postfix(loss=f"{loss_value:.4g}")
        if callback is not None:
            callback(step, {n: dr.detach(v) for n, v in values.items()}, loss_value)
        if ckpt and checkpoint_every and (step + 1) % checkpoint_every == 0:
            _save_checkpoint(ckpt, step + 1, latent, optimizer, history)
    bar.close()
    final = {n: dr.detach(variables[n].transform.forward(x)) for n, x in latent.items()}
    dr.eval(final)
    result = Result(final, history, steps, time.perf_counter() - t0, out_dir)
    if out_dir:
        with open(os.path.join(out_dir, "loss.json"), "w") as f:
            json.dump({"loss": history}, f)
        if history and plot:
            plot_loss(history, os.path.join(out_dir, "loss.png"), description)
        if ckpt and checkpoint_every:
            _save_checkpoint(ckpt, steps, latent, optimizer, history)
    return result


CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed: unreadable, of another format version, or for other variables,
    shapes or step counts than the run resuming it. The message names the file."""


def _save_checkpoint(path, step, latent, optimizer, history):
    """Write the checkpoint atomically: a complete temporary file, flushed, then renamed over ``path``."""
    state = optimizer.state_dict()
    arrays = {f"x/{k}": to_numpy(v) for k, v in latent.items()}
    arrays.update({f"m/{k}": v for k, v in state["m"].items()})
    arrays.update({f"v/{k}": v for k, v in state["v"].items()})
    meta = json.dumps({"format": "penumbra-checkpoint", "version": CHECKPOINT_VERSION, "step": step,
                       "t": state["t"], "history": history,
                       "shapes": {k: list(np.shape(arrays[f"x/{k}"])) for k in latent}})
    tmp = path + ".tmp.npz"
    with open(tmp, "wb") as f:
        np.savez(f, __meta__=np.array(meta), **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _load_checkpoint(path, latent, optimizer, steps):
    """Restore ``latent`` and the optimizer state from ``path``; return (step, history).

    Refuses, naming the file, a checkpoint that is unreadable, of another format or version, for
    other parameter names or shapes, or further along than ``steps``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as e:   # truncated, empty or foreign files raise zipfile/EOF/JSON/key errors
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); delete it "
                              "or pass resume=False to start afresh") from None
    if not isinstance(meta, dict) or meta.get("format") != "penumbra-checkpoint":
        raise CheckpointError(f"checkpoint {path} is not a Penumbra checkpoint")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {meta.get('version')}; this Penumbra "
                              f"reads version {CHECKPOINT_VERSION}")
    names = set(meta["shapes"])
    if names != set(latent):
        raise CheckpointError(f"checkpoint {path} is for parameters {sorted(names)}, not {sorted(latent)}")
    for k, x in latent.items():
        want = list(np.shape(to_numpy(x)))
        if meta["shapes"][k] != want:
            raise CheckpointError(f"checkpoint {path}: parameter {k!r} has shape {meta['shapes'][k]}, "
                                  f"the run has {want}")
    step, history = int(meta["step"]), list(meta["history"])
    if len(history) != step:
        raise CheckpointError(f"checkpoint {path} is inconsistent: step {step} with {len(history)} losses")
    if step > steps:
        raise CheckpointError(f"checkpoint {path} is at step {step}, beyond steps={steps}; pass steps >= "
                              f"{step} to continue, or resume=False to start afresh")
    for k in latent:
        latent[k] = from_numpy(latent[k], arrays[f"x/{k}"])
    optimizer.load_state_dict({"m": {k[2:]: a for k, a in arrays.items() if k.startswith("m/")},
                               "v": {k[2:]: a for k, a in arrays.items() if k.startswith("v/")},
                               "t": meta["t"]}, like=latent)
    return step, history
