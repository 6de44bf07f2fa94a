"""Classifiers for the adversarial tests and benchmark: fixed (untrained) torch modules that
``penumbra adversarial --classifier tests.adversarial.classifiers:<name>`` loads, and the training
loop of the small CNNs trained on the project's own renders."""
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


def train(net, x, y, lr: float, steps: int):
    """Fit ``net`` to images ``x`` (N, 3, H, W) and labels ``y`` by full-batch Adam on the
    cross-entropy; returns it in eval mode."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()
