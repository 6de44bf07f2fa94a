"""MkDocs hooks for Penumbra's docs site (``mkdocs.yml`` names this file under ``hooks``).

- ``on_startup`` lays out the installed ``penumbra.*`` namespace for the API reference: the
  sub-packages live in top-level folders (``scenes/`` installs as ``penumbra.scenes``, see
  ``package-dir`` in pyproject.toml), which griffe cannot follow, so ``build/docs-api/penumbra``
  links each of them under its installed name.
- ``on_page_markdown`` replaces ``<!-- options: JOB -->`` with the table of the job's command-line
  options, read from its argparse parser, and ``<!-- modules: PACKAGE [FIRST...] -->`` with one
  mkdocstrings block for the package and one for each of its public modules (FIRST... in front, the
  rest in name order), so neither the tables nor the API reference can drift from the code.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "docs-api"
SUBPACKAGES = {"renderer": "renderer", "scenes": "scenes", "integrators": "integrators", "optim": "optim"}


def _link(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent), target_is_directory=target.is_dir())


def on_startup(command, dirty, **kwargs):
    # before mkdocstrings reads its ``paths`` (it drops folders that do not exist yet)
    package = STAGE / "penumbra"
    package.mkdir(parents=True, exist_ok=True)
    for entry in (ROOT / "penumbra").iterdir():
        if entry.name != "__pycache__":
            _link(entry, package / entry.name)
    for name, folder in SUBPACKAGES.items():
        _link(ROOT / folder, package / name)


def _options_table(job: str) -> str:
    from penumbra.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if job not in sub.choices:
        raise KeyError(f"docs: no job named {job!r} (jobs: {sorted(sub.choices)})")
    rows = ["| option | default | meaning |", "|---|---|---|"]
    for action in sub.choices[job]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.dest.upper()}` (positional)"
        if action.metavar and action.nargs not in (None, 0):
            name += " " + " ".join(action.metavar if isinstance(action.metavar, tuple) else [action.metavar])
        default = "" if action.default in (None, False, argparse.SUPPRESS) else f"`{action.default}`"
        meaning = (action.help or "").replace("|", "\\|")
        if action.choices:
            meaning += (" " if meaning else "") + "one of " + ", ".join(f"`{c}`" for c in action.choices)
        rows.append(f"| {name} | {default} | {meaning} |")
    return "\n".join(rows)


def _module_blocks(package: str, first: list[str]) -> str:
    folder = STAGE.joinpath(*package.split("."))
    if not (folder / "__init__.py").exists():
        raise KeyError(f"docs: no package {package!r} under {STAGE}")
    names = sorted(p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
                   if not p.name.startswith("_") and (p.suffix == ".py" or (p / "__init__.py").exists()))
    missing = [n for n in first if n not in names]
    if missing:
        raise KeyError(f"docs: {package} has no module(s) {missing}")
    order = first + [n for n in names if n not in first]
    return "\n\n".join(f"::: {package}" + ("" if n is None else f".{n}") for n in [None, *order])


def on_page_markdown(markdown, page, config, files):
    out = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("<!-- options:") and stripped.endswith("-->"):
            out.append(_options_table(stripped[len("<!-- options:"):-3].strip()))
        elif stripped.startswith("<!-- modules:") and stripped.endswith("-->"):
            package, *first = stripped[len("<!-- modules:"):-3].split()
            out.append(_module_blocks(package, first))
        else:
            out.append(line)
    return "\n".join(out)
