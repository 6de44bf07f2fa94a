"""3D adversarial examples against image classifiers (``penumbra adversarial``): attacks on a scene's
texture, geometry, lighting and camera pose through the path tracer's visibility-aware gradients,
robust over views, lighting and noise (Expectation over Transformation)."""
from .attack import (DEFAULT_BUDGETS, KINDS, AttackError, AttackResult, AttackScene, EOTLoss, EOTLossFactory, SceneFile,
                     ViewResult, attack, classifier_function, stack, view_rng)
from .classifier import (NORMALISATIONS, Classifier, ClassifierError, as_classifier, efficientnet_lite0,
                         imagenet_labels, load_callable)
from .losses import LOSSES, attack_loss, fooled
from .views import EOT, held_out_views, look_at, sample_views

__all__ = ["DEFAULT_BUDGETS", "KINDS", "AttackError", "AttackResult", "AttackScene", "EOTLoss", "EOTLossFactory",
           "SceneFile", "view_rng", "ViewResult", "attack", "classifier_function",
           "stack", "NORMALISATIONS", "Classifier", "ClassifierError", "as_classifier", "efficientnet_lite0",
           "imagenet_labels", "load_callable", "LOSSES", "attack_loss", "fooled", "EOT", "held_out_views",
           "look_at", "sample_views"]
