"""The benchmark runs (on a small file, quickly): ``make bench`` will not break unnoticed."""

from __future__ import annotations

from pathlib import Path

from bench import run
from bench.generate import HEADER, generate


def test_generated_file_has_every_scenario(tmp_path: Path) -> None:
    text = generate(tmp_path / "g.csv", 400, seed=1).read_bytes().decode()
    assert text.startswith(",".join(HEADER) + "\r\n")
    for scenario in ("Resignation", "Job level change", "Performance review"):
        assert f"\r\n{scenario}," in text
    assert '""' in text  # quotes inside quoted remarks


def test_bench_runs_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    args = ["--rows", "2000", "--repeats", "1", "--no-reference", "--memory-mb", "2"]
    code = run.main([*args, "--out", str(out), "--data-dir", str(tmp_path)])
    assert code == 0
    text = out.read_text()
    assert "| `hrupload validate FILE --json` |" in text
    assert "sequential floor: 1 chunks × 50 ms" in text
    assert "to a service taking 4 at a time" in text and "429s after the first second" in text
    assert "cold `import function_app`" in text
    assert "cores" in text
    # the memory runs: the 200,000-column file is refused, the widest one is sent
    assert "## Memory for any input" in text
    assert "file error `too-many-columns`" in text and "1,024 columns" in text
