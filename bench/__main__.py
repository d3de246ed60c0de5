"""`make bench` / `make bench-quick`: every figure, median of several runs, one table and a JSON file."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from . import figures


def in_child(fn, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def median_of(results: list[dict]) -> dict:
    """Median of every numeric field; other fields from the first run."""
    out = dict(results[0])
    for key, value in results[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in results)
    out["runs"] = len(results)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1/10 scale")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="bench-results.json")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    n = lambda count: max(100, int(count * scale))  # noqa: E731
    repeat = 1 if args.quick else args.repeat
    results: dict[str, dict] = {}
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="syncops-bench-") as tmp:
        def fresh(name: str) -> str:
            path = Path(tmp) / f"{name}-{time.monotonic_ns()}"
            return str(path)

        def full_sync(records: int) -> tuple[str, dict]:
            data = fresh("full")
            in_child(figures.seed, data, records)
            return data, in_child(figures.full_sync, data)

        runs = [full_sync(n(100_000)) for _ in range(repeat)]
        results["1 full sync"] = median_of([r for _, r in runs])
        data = runs[-1][0]
        results["2 incremental, nothing changed"] = median_of(
            [in_child(figures.incremental, data, 0.0) for _ in range(repeat)])
        results["3 incremental, 1% changed"] = median_of(
            [in_child(figures.incremental, data, 0.01) for _ in range(repeat)])
        for size in (10_000, 100_000, 300_000):
            results[f"4 scaling {n(size):,}"] = results["1 full sync"] if size == 100_000 else median_of(
                [full_sync(n(size))[1] for _ in range(repeat)])
        seconds = {size: results[f"4 scaling {n(size):,}"]["seconds"] for size in (10_000, 100_000, 300_000)}
        results["4 growth"] = {f"{n(300_000):,} over {n(100_000):,}": round(seconds[300_000] / seconds[100_000], 2),
                               "ms_per_record": {f"{n(size):,}": round(1000 * t / n(size), 3)
                                                 for size, t in seconds.items()}}
        results["5 history lookup"] = median_of(
            [in_child(figures.history_lookup, fresh("history"), n(1_000_000)) for _ in range(1)])
        console_data = fresh("console")
        in_child(figures.console_start, console_data, n(1_000_000), n(50_000))  # seeds once
        results["6 console start"] = median_of(
            [in_child(figures.console_start, console_data, n(1_000_000), n(50_000)) for _ in range(repeat)])
        results["7 console during sync"] = in_child(figures.console_during_sync, fresh("responsive"), n(100_000))
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "machine": platform.machine(),
               "processor": platform.processor() or platform.platform(), "scale": scale,
               "wall_s": round(time.time() - started)}
    table = Table("figure", "result", title=f"syncops bench · scale {scale} · {machine['cpus']} cpus · "
                                            f"Python {machine['python']}")
    for name, values in results.items():
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in values.items()))
    Console(width=200).print(table)
    Path(args.json).write_bytes(orjson.dumps({"machine": machine, "figures": results}, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
