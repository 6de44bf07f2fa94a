"""Conformance with resvg's rendering test suite (https://github.com/linebender/resvg).

Every case has an expectation in ``tests/vector/resvg/expectations.tsv``: ``pass`` (PSNR >= 30 dB
against resvg's reference PNG), ``refused`` (``load_svg`` raises a SceneError with that reason) or
``known-fail`` (renders below the threshold; listed in docs/engines/vector.md) or
``inexact-reference`` (below the threshold where resvg's own image approximates, with the reason). The default run
covers the committed subset under ``tests/vector/resvg/cases``; the full suite (fetched by
``scripts/fetch_resvg_suite.py`` into ``build/resvg-suite`` or ``$PENUMBRA_RESVG_SUITE``) runs with
``-m slow``.
"""
import os
import warnings

import pytest

from tests.vector.resvg_suite import (EXPECTATIONS, PSNR_INEXACT, PSNR_PASS, SUBSET, cases, read_expectations,
                                     run_case)

pytest.importorskip("PIL")
EXPECTED = read_expectations(EXPECTATIONS)
SUBSET_CASES = os.path.join(SUBSET, "cases")
FULL = os.environ.get("PENUMBRA_RESVG_SUITE",
                      os.path.join(os.path.dirname(__file__), "..", "..", "build", "resvg-suite"))


def check(root, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, detail = run_case(os.path.join(root, case + ".svg"), os.path.join(root, case + ".png"))
    want, reason = EXPECTED[case]
    assert status != "crash", f"{case}: crashed: {detail}"
    if want == "pass":
        assert status == "pass", f"{case}: {status} ({detail}), expected PSNR >= 30 dB"
    elif want == "refused":
        assert status == "refused", f"{case}: {status} ({detail}), expected a refusal: {reason}"
        assert detail == reason, f"{case}: refused for another reason: {detail}"
    elif want == "inexact-reference":   # resvg's image approximates (reason); still drawn, not refused
        assert status in ("fail", "pass"), f"{case}: {status} ({detail})"
        assert status == "pass" or detail >= PSNR_INEXACT, f"{case}: renders at {detail:.1f} dB"
    else:  # known-fail: must not get worse than refused-or-fail; a pass means the table needs updating
        assert status in ("fail", "pass"), f"{case}: {status} ({detail})"


def test_no_silent_failures():
    """Every case of the claimed areas passes or is refused with a reason: none renders wrong."""
    silent = sorted(case for case, (status, _) in EXPECTED.items() if status == "known-fail")
    assert not silent, f"cases rendering below {PSNR_PASS} dB without a refusal: {silent}"


def test_every_case_has_an_expectation():
    assert EXPECTED, "empty expectations table"
    assert set(EXPECTED.values()) <= {(s, r) for s, r in EXPECTED.values()
                                      if s in ("pass", "refused", "known-fail", "inexact-reference")}
    for case in cases(SUBSET_CASES):
        assert case in EXPECTED, f"committed case {case} has no expectation"


@pytest.mark.parametrize("case", cases(SUBSET_CASES))
def test_subset(case):
    check(SUBSET_CASES, case)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_full_suite(case):
    if not os.path.exists(os.path.join(FULL, case + ".svg")):
        pytest.skip(f"resvg suite not fetched into {FULL} (run scripts/fetch_resvg_suite.py)")
    check(FULL, case)
