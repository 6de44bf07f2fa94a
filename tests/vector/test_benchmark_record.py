"""The vector benchmark table in docs/results.md is the one ``benchmarks/vector_bench.py`` printed
for its last recorded run (``benchmarks/results/vector_bench.json``), with that run's commit,
machine and date, and the record holds enough repetitions to quote a median."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "vector_bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("vector_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_table_is_the_recorded_output():
    bench = _bench()
    record = json.loads(Path(bench.RECORD).read_text())
    docs = (ROOT / "docs" / "results.md").read_text()
    assert bench.table(record["rows"]) in docs, "docs/results.md: re-paste the table printed by vector_bench.py"
    for key in ("commit", "machine", "date"):
        assert str(record[key]) in docs, f"docs/results.md does not name the recorded {key} {record[key]!r}"
    assert {(r["paths"], r["size"]) for r in record["rows"]} >= set(bench.DIFFVG)
    for r in record["rows"]:
        assert r["reps"] >= 5 and len(r["fwd_s"]["runs"]) == r["reps"], r
        assert r["fwd_s"]["min"] <= r["fwd_s"]["median"] <= r["fwd_s"]["max"]
