"""Classifiers for the adversarial job's command-line tests: fixed (untrained) torch modules that
``penumbra adversarial --classifier tests.adversarial.classifiers:<name>`` loads."""
import torch

from penumbra.adversarial import Classifier


class ColourLogits(torch.nn.Module):
    """Two logits from the mean colour of the image: 10 (R - B) for "warm" and 10 (B - R) for "cool"."""

    def forward(self, x):
        m = x.mean(dim=(2, 3))
        d = 10.0 * (m[:, 0] - m[:, 2])
        return torch.stack([d, -d], dim=1)


def warm_cool():
    return Classifier(ColourLogits(), "none", None, labels=["warm", "cool"], name="warm/cool colour classifier")
