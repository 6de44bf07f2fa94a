"""Fetch resvg's rendering test suite at a pinned commit, and (re)write the conformance table.

resvg (https://github.com/linebender/resvg, MIT OR Apache-2.0) keeps one SVG and its reference PNG
per case under ``crates/resvg/tests/tests/<area>/...``. This script copies the areas that
``tests/vector/resvg_suite.py`` runs (shapes, painting, paint-servers, structure, masking) at
:data:`COMMIT` into ``build/resvg-suite`` (the slow test reads it from there, or from
``$PENUMBRA_RESVG_SUITE``), either from GitHub (a blobless sparse clone) or from a local clone
(``--git-dir``)::

    python scripts/fetch_resvg_suite.py                     # fetch from GitHub
    python scripts/fetch_resvg_suite.py --git-dir PATH.git  # fetch from a local clone or mirror
    python scripts/fetch_resvg_suite.py --expectations      # also rerun every case and rewrite
                                                            # tests/vector/resvg/expectations.tsv
    python scripts/fetch_resvg_suite.py --subset            # recopy the committed subset

The committed subset (``tests/vector/resvg/cases``, run by default) is, in name order, the first
refused case of every case directory and the first passing case of every second one (the default
test run has a time budget).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMIT = "08c79a3148df4ce8ab08fca72204b142b95423dd"
URL = "https://github.com/linebender/resvg.git"
PREFIX = "crates/resvg/tests/tests"
DEFAULT_DEST = ROOT / "build" / "resvg-suite"


def _git(*args, cwd=None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def fetch(dest: Path, git_dir: str | None = None) -> Path:
    """Extract the suite's areas at :data:`COMMIT` into ``dest``; returns ``dest``."""
    sys.path.insert(0, str(ROOT / "tests" / "vector"))
    from resvg_suite import AREAS
    paths = [f"{PREFIX}/{a}" for a in AREAS]
    with tempfile.TemporaryDirectory() as tmp:
        if git_dir is None:
            git_dir = os.path.join(tmp, "resvg.git")
            _git("clone", "--bare", "--filter=blob:none", "--no-tags", URL, git_dir)
        archive = _git(f"--git-dir={git_dir}", "archive", "--format=tar", COMMIT, *paths)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(PREFIX + "/"):
                member.name = member.name[len(PREFIX) + 1:]
                tar.extract(member, dest, filter="data")
    return dest


def write_expectations(root: Path, out: Path) -> dict:
    """Run every case under ``root`` and write the table ``out``; returns the status counts."""
    sys.path.insert(0, str(ROOT / "tests" / "vector"))
    import warnings

    from resvg_suite import INEXACT_REFERENCE, PSNR_PASS, cases, run_case
    counts, rows = {}, []
    for case in cases(root):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status, detail = run_case(root / f"{case}.svg", root / f"{case}.png")
        if status == "fail" and case in INEXACT_REFERENCE:
            status, detail = "inexact-reference", f"{INEXACT_REFERENCE[case]} ({detail:.1f} dB)"
        elif status == "fail":
            status, detail = "known-fail", f"renders at {detail:.1f} dB"
        elif status == "pass":
            detail = ""
        counts[status] = counts.get(status, 0) + 1
        rows.append(f"{case}\t{status}\t{detail}")
    header = (f"# resvg suite at {COMMIT}: case, expected status, reason\n"
              f"# pass: PSNR >= {PSNR_PASS:g} dB against the reference PNG (premultiplied RGBA); refused: "
              "load_svg raises SceneError with this reason; known-fail: renders below the threshold; "
              "inexact-reference: below the threshold where resvg's image is an approximation (reason)\n"
              "# written by scripts/fetch_resvg_suite.py --expectations\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return counts


def copy_subset(root: Path, dest: Path) -> list:
    """Copy the subset (see the module docstring) from the full suite ``root`` into ``dest``;
    returns the case names."""
    sys.path.insert(0, str(ROOT / "tests" / "vector"))
    from resvg_suite import EXPECTATIONS, read_expectations
    table = sorted(read_expectations(EXPECTATIONS).items())
    dirs = sorted({case.rsplit("/", 1)[0] for case, _ in table})
    chosen, seen = [], set()
    for case, (status, _) in table:
        d = case.rsplit("/", 1)[0]
        if (status == "refused" or (status == "pass" and dirs.index(d) % 2 == 0)) and (d, status) not in seen:
            seen.add((d, status))
            chosen.append(case)
    if dest.exists():
        shutil.rmtree(dest)
    for case in chosen:
        for ext in (".svg", ".png"):
            (dest / case).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / f"{case}{ext}", dest / f"{case}{ext}")
    return chosen


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="where to put the cases")
    ap.add_argument("--git-dir", help="a local clone or bare mirror of resvg holding the pinned commit")
    ap.add_argument("--expectations", action="store_true",
                    help="rerun every case and rewrite tests/vector/resvg/expectations.tsv")
    ap.add_argument("--subset", action="store_true", help="recopy the committed subset tests/vector/resvg/cases")
    args = ap.parse_args(argv)
    dest = fetch(args.dest, args.git_dir)
    print(f"resvg suite {COMMIT[:12]} in {dest}")
    if args.expectations:
        counts = write_expectations(dest, ROOT / "tests" / "vector" / "resvg" / "expectations.tsv")
        print(counts)
    if args.subset:
        chosen = copy_subset(dest, ROOT / "tests" / "vector" / "resvg" / "cases")
        print(f"{len(chosen)} cases in the subset")


if __name__ == "__main__":
    main()
