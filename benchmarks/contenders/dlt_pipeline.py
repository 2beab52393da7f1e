"""The dlt contender: a resource reading the benchmark CSV, run through a dlt pipeline.

Runs in its own venv (benchmarks/.venvs/dlt), never in syncframe's: dlt is not a dependency of
syncframe. Usage::

    python dlt_pipeline.py jsonl  --csv constituents.csv --out DIR [--batch-size 10000]
    python dlt_pipeline.py sqlite --csv constituents.csv --out DIR [--batch-size 10000]

``jsonl``: the filesystem destination, local path ``DIR/files``, loader file format jsonl,
uncompressed. ``sqlite``: the sqlalchemy destination on ``DIR/target.db``, write disposition
merge on primary key ``id`` (dlt's delete-insert merge through a staging dataset). The resource
yields lists of ``--batch-size`` dicts, the form dlt's performance guide recommends.
Pipeline state and working files go under ``DIR/pipelines``.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def main() -> None:
    """Run one pipeline and print its load info."""
    parser = argparse.ArgumentParser()
    parser.add_argument("work", choices=("jsonl", "sqlite"))
    parser.add_argument("--csv", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--batch-size", type=int, default=10_000)
    args = parser.parse_args()

    # No telemetry, and plain (uncompressed) files so the output can be checked line by line.
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ["DATA_WRITER__DISABLE_COMPRESSION"] = "true"
    import dlt

    batch_size: int = args.batch_size
    source_path: Path = args.csv

    @dlt.resource(name="constituents", primary_key="id", write_disposition="merge")
    def constituents() -> Iterator[list[dict[str, Any]]]:
        with source_path.open(newline="", encoding="utf-8") as handle:
            batch: list[dict[str, Any]] = []
            for row in csv.DictReader(handle):
                batch.append(row)
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
            if batch:
                yield batch

    out: Path = args.out
    if args.work == "jsonl":
        destination = dlt.destinations.filesystem(bucket_url=(out / "files").as_uri())
        # The filesystem destination only appends; merge is for the SQL work.
        resource = constituents.apply_hints(write_disposition="append")
        loader_file_format = "jsonl"
    else:
        destination = dlt.destinations.sqlalchemy(credentials=f"sqlite:///{out / 'target.db'}")
        resource = constituents
        loader_file_format = None
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=str(out / "pipelines"),
        destination=destination,
        dataset_name="bench",
    )
    info = pipeline.run(resource, loader_file_format=loader_file_format)
    print(info)


if __name__ == "__main__":
    main()
