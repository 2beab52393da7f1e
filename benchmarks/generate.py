"""The benchmark's input: a seeded CSV of constituent-like rows, cached by row count.

Row ``n`` depends only on the seed and ``n``'s position in one random stream, so the file for
100,000 rows is the first 100,000 rows of the file for 1,000,000. Ids run 1..rows; emails are
unique because they carry the id. A row is ~120 bytes.

Run it alone to build (or find) a file: ``python benchmarks/generate.py --rows 1000000``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from pathlib import Path

__all__ = ["COLUMNS", "DATA_DIR", "ensure_csv"]

DATA_DIR = Path(__file__).resolve().parent / "data"
COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "street",
    "city",
    "state",
    "postal_code",
    "phone",
)
# Bump when the generated content changes, so stale cached files are not reused.
FORMAT_VERSION = 1
SEED = 20240917

_FIRST = [
    "Alexander",
    "Abigail",
    "Benjamin",
    "Charlotte",
    "Christopher",
    "Danielle",
    "Elizabeth",
    "Frederick",
    "Gabriella",
    "Harrison",
    "Isabella",
    "Jonathan",
    "Katherine",
    "Leonardo",
    "Margaret",
    "Nathaniel",
    "Olivia",
    "Patricia",
    "Quentin",
    "Rebecca",
    "Samantha",
    "Theodore",
    "Ursula",
    "Victoria",
    "William",
    "Xavier",
    "Yolanda",
    "Zachary",
    "Madeline",
    "Josephine",
    "Sebastian",
    "Penelope",
    "Genevieve",
    "Maximilian",
    "Cassandra",
    "Evangeline",
]
_LAST = [
    "Abernathy",
    "Blackwood",
    "Castellanos",
    "Donovan",
    "Eastwood",
    "Fairbanks",
    "Gallagher",
    "Hollingsworth",
    "Iverson",
    "Jefferson",
    "Kensington",
    "Lancaster",
    "Montgomery",
    "Nightingale",
    "Oppenheimer",
    "Pemberton",
    "Quintero",
    "Rutherford",
    "Sutherland",
    "Thorndike",
    "Underwood",
    "Vanderbilt",
    "Whitfield",
    "Youngblood",
    "Zimmerman",
    "Washington",
    "Fitzgerald",
    "Richardson",
    "Henderson",
    "Williamson",
    "Christensen",
    "MacDonald",
]
_STREET = [
    "Maple",
    "Oak",
    "Pine",
    "Cedar",
    "Elm",
    "Washington",
    "Lakeview",
    "Hillcrest",
    "Sunset",
    "Riverside",
    "Highland",
    "Meadowbrook",
    "Willow",
    "Chestnut",
    "Jefferson",
    "Franklin",
    "Lincoln",
    "Madison",
    "Park",
    "Church",
]
_SUFFIX = ("Street", "Avenue", "Boulevard", "Drive", "Court", "Lane", "Road", "Terrace")
_CITY = (
    "Springfield",
    "Riverside",
    "Georgetown",
    "Fairview",
    "Greenville",
    "Bristol",
    "Clinton",
    "Salem",
    "Madison",
    "Franklin",
    "Arlington",
    "Ashland",
    "Burlington",
    "Manchester",
    "Oxford",
    "Jacksonville",
)
_STATE = ("MA", "NY", "CA", "TX", "WA", "OR", "IL", "PA", "OH", "GA", "NC", "VA", "MN", "CO")
_DOMAIN = ("example.org", "example.com", "mail.example.net", "donors.example.org")


def csv_path(rows: int) -> Path:
    """Where the cached file for ``rows`` rows lives."""
    return DATA_DIR / f"constituents-v{FORMAT_VERSION}-{rows}.csv"


def write_csv(path: Path, rows: int, seed: int = SEED) -> None:
    """Write ``rows`` generated rows (and a header) to ``path``."""
    rng = random.Random(seed)
    choice = rng.choice
    randint = rng.randint
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        chunk: list[tuple[str, ...]] = []
        for n in range(1, rows + 1):
            first = choice(_FIRST)
            last = choice(_LAST)
            chunk.append(
                (
                    str(n),
                    first,
                    last,
                    f"{first.lower()}.{last.lower()}.{n}@{choice(_DOMAIN)}",
                    f"{randint(1, 9999)} {choice(_STREET)} {choice(_SUFFIX)}",
                    choice(_CITY),
                    choice(_STATE),
                    f"{randint(1000, 99999):05d}",
                    f"+1-{randint(200, 989)}-{randint(200, 999)}-{randint(0, 9999):04d}",
                )
            )
            if len(chunk) == 10_000:
                writer.writerows(chunk)
                chunk.clear()
        writer.writerows(chunk)


def ensure_csv(rows: int) -> Path:
    """The cached CSV of ``rows`` rows, generated first if it is not there yet."""
    path = csv_path(rows)
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    try:
        write_csv(partial, rows)
        # Rename last, so an interrupted run never leaves a short file under the cached name.
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def main() -> None:
    """Build (or find) the cached CSV and print its path and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="data rows (default 1M)")
    args = parser.parse_args()
    path = ensure_csv(args.rows)
    size = path.stat().st_size
    print(f"{path}  {size / 2**20:.1f} MiB  {size / args.rows:.1f} bytes a row")


if __name__ == "__main__":
    main()
