"""Every measured figure in README.md and docs/ must be in the results file its paragraph names.

Why: figures in prose drift. A number copied from a results file survives the re-run that changed
it, and a number with no source cannot be checked at all. So each paragraph that quotes a
measurement names its source (`benchmarks/RESULTS*.md`, plain or as a link; benchmarks/README.md
indexes them) and this test reads the figure back from that file.

Rules, kept simple on purpose:
- Paragraphs are blank-line separated blocks; a list item, a heading and a table row are each
  their own paragraph; fenced code blocks (``` ... ```) are skipped (command output is not prose).
  A table's rows also take the citations of the paragraph just above it and of every row; a
  list's items take those of the paragraph just above the list when it ends with ":".
- A figure is a decimal number (`22.9`, `0.805`, `2.33e+05`) or an integer with a unit
  (`17 s`, `8 ms`, `24 dB`, `0 MB`, `12%`, `8x`), read outside inline code, links' targets and URLs.
  Not figures: versions (two dots, or right after `==`, `python`, `torch`, `opset`), resolutions
  (`256x256`), and config values: after `=`, or after a config key with or without a colon, a key
  being snake_case or dotted (`ema_decay 0.99`, `student.lr: 0.002`) or one of CONFIG_WORDS
  (`lr 0.002`, `strength 0.6`). Plain prose before a colon (`PSNR: 22.9`) is not a key.
- A figure matches a number in a named file when it is that number rounded to the figure's own
  decimals (`22.9` matches `22.92` and `22.90`); units and signs are ignored (`4.4x` matches `4.4`).
- A paragraph with figures that names no results file fails: figures must name their source.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

CITATION = re.compile(r"benchmarks/(RESULTS[\w.-]*?\.md)")
# A run of dotted digits, not inside a word nor a name (`relu4_1`, `Apache-2.0`).
NUMBER = r"(?<![\w.])(?<![A-Za-z]-)(\d+(?:\.\d+)+)(e[+-]?\d+)?"
UNIT = re.compile(r"\s?(?:dB|ms|MB|s)\b|\s?%|x(?![\w])")
FIGURE = re.compile(NUMBER + "|" + r"(?<![\w.])(?<![A-Za-z]-)(\d+)(?=" + UNIT.pattern + ")")
FILE_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?")
CONFIG_WORDS = ("lr", "strength", "decay", "ratio", "weight", "probability", "percentile")
KEY = r"\b(?:[A-Za-z]\w*(?:[_.]\w+)+|" + "|".join(CONFIG_WORDS) + ")"  # ema_decay, a.b, lr
NOT_MEASURED = re.compile(r"(?:==|\b[Pp]ython\s*|\btorch\s+|\bopset\s*|=\s*|" + KEY + r":?\s+)$")
LIST_ITEM = re.compile(r"(?:[-*+]|\d+\.)\s")
# Replaced by spaces (same length, so columns stay put): inline code, link targets, URLs.
HIDDEN = re.compile(r"`[^`]*`|\]\([^)]*\)|https?://\S+")


class Paragraph(NamedTuple):
    lines: list[tuple[int, str]]  # (1-based line number, text)
    cites: set[str]  # results file names, e.g. "RESULTS-quickstart.md"


def paragraphs(text: str) -> list[Paragraph]:
    """Split Markdown into paragraphs (rules in the module docstring), with inherited citations."""
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
            line = stripped = ""  # a fence ends the paragraph before it
        elif fenced:
            continue
        own = LIST_ITEM.match(stripped) or stripped.startswith(("#", "|"))
        if not stripped or own:
            if current:
                blocks.append(current)
            current = []
        if stripped:
            current.append((number, line))
            if stripped.startswith(("#", "|")):  # a heading or table row is one line
                blocks.append(current)
                current = []
    if current:
        blocks.append(current)
    result = [Paragraph(b, set(CITATION.findall(" ".join(t for _, t in b)))) for b in blocks]
    # A table (consecutive rows) or a list (consecutive items) inherits from the paragraph above it.
    kind = [("|" if t.lstrip().startswith("|") else "-" if LIST_ITEM.match(t.lstrip()) else "")
            for t in (p.lines[0][1] for p in result)]
    i = 0
    while i < len(result):
        j = i
        while kind[i] and j + 1 < len(result) and kind[j + 1] == kind[i]:
            j += 1
        above = result[i - 1] if i > 0 and kind[i] else None
        if kind[i] == "|":  # rows share their citations, and take the paragraph's above
            shared = set().union(*(p.cites for p in result[i:j + 1]), above.cites if above else ())
        else:  # items are separate claims; they take the citations of a paragraph ending in ":"
            shared = above.cites if above and above.lines[-1][1].rstrip().endswith(":") else set()
        for p in result[i:j + 1]:
            p.cites.update(shared)
        i = j + 1
    return result


def figures(line: str) -> list[str]:
    """The measured figures of one line of prose, as written (without their units)."""
    line = HIDDEN.sub(lambda m: " " * len(m.group()), line)
    found = []
    for match in FIGURE.finditer(line):
        dotted, exponent, integer = match.groups()
        if dotted and dotted.count(".") > 1:
            continue  # a version string: 2.13.0
        if re.search(r"\d[x×]$", line[:match.start()]) or re.match(r"[x×]\d", line[match.end():]):
            continue  # a resolution or kernel size: 256x256, 3x3
        if NOT_MEASURED.search(line[:match.start()]):
            continue
        found.append(integer or dotted + (exponent or ""))
    return found


def matches(figure: str, numbers: list[str]) -> bool:
    """Whether `figure` is one of `numbers` rounded to the figure's own decimals."""
    mantissa, _, exponent = figure.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    half_unit = 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    value = float(figure)
    return any(abs(float(n) - value) <= half_unit * (1 + 1e-9) for n in numbers)


def misses(text: str, results_dir: Path, where: str = "<text>") -> list[str]:
    """Every figure of `text` not found in the results file(s) its paragraph names."""
    cache: dict[str, list[str] | None] = {}

    def numbers(name: str) -> list[str] | None:
        if name not in cache:
            path = results_dir / name
            cache[name] = FILE_NUMBER.findall(path.read_text()) if path.is_file() else None
        return cache[name]

    found = []
    for paragraph in paragraphs(text):
        for number, line in paragraph.lines:
            for figure in figures(line):
                if not paragraph.cites:
                    found.append(f"{where}:{number}: {figure} names no benchmarks/RESULTS*.md")
                    continue
                sources = {name: numbers(name) for name in sorted(paragraph.cites)}
                missing = [name for name, nums in sources.items() if nums is None]
                if any(nums is not None and matches(figure, nums) for nums in sources.values()):
                    continue
                note = f" (no such file: {', '.join(missing)})" if missing else ""
                found.append(f"{where}:{number}: {figure} not in {', '.join(sources)}{note}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_figures_are_in_the_results_they_name(doc: Path) -> None:
    found = misses(doc.read_text(), ROOT / "benchmarks", str(doc.relative_to(ROOT)))
    assert not found, f"{len(found)} figure(s) not backed by a results file:\n" + "\n".join(found)


# The extractor itself, on inline text against a results file written here.

@pytest.fixture
def results(tmp_path: Path) -> Path:
    (tmp_path / "RESULTS-x.md").write_text("| student | 22.92 dB | 0.805 | 8.71 ms | 4.4x | 17 |\n")
    return tmp_path


def test_a_figure_in_the_named_file_passes(results: Path) -> None:
    assert misses("The student: 0.805 SSIM and 8.71 ms, 4.4x (`benchmarks/RESULTS-x.md`).", results) == []


def test_a_figure_absent_from_the_named_file_fails(results: Path) -> None:
    found = misses("First line.\nThe student: 23.5 dB ([run](../benchmarks/RESULTS-x.md)).", results)
    assert found == ["<text>:2: 23.5 not in RESULTS-x.md"]


def test_a_rounded_figure_passes_and_a_wrong_rounding_fails(results: Path) -> None:
    assert misses("22.9 dB and 17 s (benchmarks/RESULTS-x.md)", results) == []
    assert misses("23.0 dB (benchmarks/RESULTS-x.md)", results) == ["<text>:1: 23.0 not in RESULTS-x.md"]


def test_versions_resolutions_code_and_config_values_are_not_figures() -> None:
    line = ("torch 2.13.0, Python 3.11, `torch==2.13.0+cpu`, 256x256, 3x3, ema_decay 0.99, "
            "lr 0.002, student.width=1.5, strength: 0.6, opset 18, [a](arxiv.org/1603.08155), Apache-2.0")
    assert figures(line) == []
    assert figures("PSNR: 22.9 dB, 2.33e+05, 12%, 8x faster, 17 s, 7.8 frames/s, e.g. 0.5") == [
        "22.9", "2.33e+05", "12", "8", "17", "7.8", "0.5"]


def test_a_figure_with_no_named_file_fails(results: Path) -> None:
    assert misses("The student reached 22.9 dB.", results) == ["<text>:1: 22.9 names no benchmarks/RESULTS*.md"]


def test_a_table_takes_the_citation_of_the_paragraph_above(results: Path) -> None:
    text = "From `benchmarks/RESULTS-x.md`:\n\n| a | b |\n|---|---|\n| 0.805 | 8.71 |\n\nLater: 0.805.\n"
    assert misses(text, results) == ["<text>:7: 0.805 names no benchmarks/RESULTS*.md"]


def test_a_list_takes_the_citation_of_a_paragraph_ending_in_a_colon(results: Path) -> None:
    text = "From `benchmarks/RESULTS-x.md`:\n\n- 0.805 SSIM;\n- 8.71 ms.\n\nThen:\n\n- 0.805.\n"
    assert misses(text, results) == ["<text>:8: 0.805 names no benchmarks/RESULTS*.md"]
