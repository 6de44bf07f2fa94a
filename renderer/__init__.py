"""Penumbra's ground floor: backend choice and checks, image and audio I/O, the PyTorch bridge.

Importing this package points Dr.Jit at a suitable libLLVM (see :mod:`renderer.backend`); it does
not select a Mitsuba variant until one is needed (:func:`ensure_variant`).
"""
from .backend import (BackendError, check_llvm, configure_libllvm, cuda_available, default_variant,
                      ensure_variant, is_cuda, llvm_version, set_variant, variant)

configure_libllvm()

from .image import read_image, write_image, linear_to_srgb, srgb_to_linear  # noqa: E402
from .audio import read_wav, write_wav  # noqa: E402
from .arrays import to_numpy, from_numpy, is_finite  # noqa: E402

__all__ = ["BackendError", "check_llvm", "configure_libllvm", "cuda_available", "default_variant",
           "ensure_variant", "is_cuda", "llvm_version", "set_variant", "variant", "read_image",
           "write_image", "linear_to_srgb", "srgb_to_linear", "read_wav", "write_wav", "to_numpy",
           "from_numpy", "is_finite"]
