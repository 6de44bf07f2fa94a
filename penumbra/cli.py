"""The ``penumbra`` command line. Each job lives in its own module under ``penumbra/jobs`` and
exposes ``add_parser(subparsers)``, which registers a sub-command whose ``func(args)`` runs it."""
from __future__ import annotations

import argparse
import importlib
import sys

# One entry per job module (penumbra/jobs/<name>.py). Keep this list sorted.
JOBS = [
    "adversarial",
    "materials",
    "reconstruct",
    "rir",
    "room_design",
    "shader",
    "vectorize",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="penumbra", description="Differentiable rendering, vector "
                                     "graphics and room acoustics on Dr.Jit / Mitsuba 3.")
    parser.add_argument("--variant", help="Mitsuba variant (default: cuda_ad_rgb if a GPU is usable, else "
                        "llvm_ad_rgb; also PENUMBRA_VARIANT)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for job in JOBS:
        importlib.import_module(f"penumbra.jobs.{job}").add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from penumbra import renderer
    try:
        renderer.set_variant(args.variant)
        return int(args.func(args) or 0)
    except (renderer.BackendError, FileNotFoundError, ValueError, KeyError, MemoryError) as e:
        print(f"penumbra {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
