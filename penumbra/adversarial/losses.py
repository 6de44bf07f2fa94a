"""Attack objectives on logits (torch), minimised by the attack; mean over the batch.

- cross-entropy (Goodfellow et al. 2015; Madry et al. 2018): targeted ``CE(z, t)``, untargeted
  ``-CE(z, y)`` clipped at ``-kappa`` so that views already misclassified stop dominating;
- C&W margin (Carlini & Wagner 2017, Eq. f6): targeted ``max(max_{i≠t} z_i - z_t, -kappa)``,
  untargeted ``max(z_y - max_{i≠y} z_i, -kappa)``: zero gradient once a view is fooled by ``kappa``.
"""
from __future__ import annotations

LOSSES = ("ce", "cw")


def _other_max(logits, cls: int):
    import torch
    masked = logits.clone()
    masked[:, cls] = -torch.inf
    return masked.max(dim=1).values


def attack_loss(logits, cls: int, targeted: bool, kind: str = "cw", kappa: float = 5.0):
    """The loss to minimise. ``cls`` is the target class (targeted) or the true class (untargeted)."""
    import torch
    import torch.nn.functional as F
    if kind not in LOSSES:
        raise ValueError(f"unknown attack loss {kind!r} (use one of {', '.join(LOSSES)})")
    labels = torch.full((logits.shape[0],), int(cls), dtype=torch.long)
    if kind == "ce":
        ce = F.cross_entropy(logits, labels, reduction="none")
        per_view = ce if targeted else torch.clamp(-ce, min=-kappa)
    else:
        z = logits[:, cls]
        margin = _other_max(logits, cls) - z if targeted else z - _other_max(logits, cls)
        per_view = torch.clamp(margin, min=-kappa)
    return per_view.mean()


def fooled(logits, cls: int, targeted: bool):
    """Boolean per image: top-1 is the target (targeted) or not the true class (untargeted)."""
    top = logits.argmax(dim=1)
    return (top == cls) if targeted else (top != cls)
