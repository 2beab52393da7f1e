"""Writing a benchmark's figures into its own block of docs/performance.md."""

from __future__ import annotations

from pathlib import Path


def write_block(doc: Path, start: str, end: str, block: str) -> None:
    """Replace the text between the ``start`` and ``end`` markers of ``doc`` (both included in
    ``block``) with ``block``, or append ``block`` when the markers are not there yet."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    first, last = text.find(start), text.find(end)
    if 0 <= first < last:
        text = text[:first] + block + text[last + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")
