"""Bulk classify on Ray Data (``cmkd-med classify --input F --out O --engine ray``).

The run is the single-process bulk run of :mod:`cmkd_med.bulk` with the model work moved to Ray: the same
reader, row validation, resume (ids already in ``--out`` skipped, internal errors retried, the rebuild),
lock and strict-JSON writer, through :class:`RayWriter`, a :class:`~cmkd_med.bulk.BatchWriter` that sends
each batch (exactly the rows the single-process run would batch together) to a Ray Data ``map_batches``
over an actor pool: each actor builds its pipeline once and keeps it for the run. Results come back in any
order and are written in input order, each batch flushed and fsync'ed as it lands, so the output is the
single-process output row for row, and a kill loses only the batches not yet written.

``ray.init()`` joins the cluster named by ``RAY_ADDRESS`` when it is set and starts a local Ray otherwise,
so the same command runs on a laptop and on a cluster (where every node needs this package and its
adapters installed at the same paths). Ray is an optional dependency: ``pip install 'cmkd-med[ray]'``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cmkd_med.bulk import BatchWriter, BulkStats, Processor, _process_isolating
from cmkd_med.errors import InvalidInputError, MissingDependencyError
from cmkd_med.rows import Item, Row

UNITS_PER_BLOCK = 256  # batches staged in the object store per from_items call (driver memory stays flat)


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingDependencyError(
            "--engine ray needs Ray: pip install 'cmkd-med[ray]' (or -e '.[ray]' in a checkout)"
        ) from None
    return ray


def init_ray(num_cpus: int | None = None) -> Any:
    """Ray, initialised: the cluster at ``RAY_ADDRESS`` if set, else a local one (``num_cpus`` CPUs)."""
    import os

    ray = _ray()
    if not ray.is_initialized():
        local = {} if os.environ.get("RAY_ADDRESS") else {"num_cpus": num_cpus, "include_dashboard": False}
        ray.init(log_to_driver=False, **local)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    return ray


def classify_processor(options: dict[str, Any], fmt: str | None = None) -> Processor:
    """What one worker runs: a :class:`~cmkd_med.api.Pipeline` built from ``options`` (once, in the actor)
    and the same per-batch step as the single-process ``classify --input`` (``fmt="fhir"``: FHIR records)."""
    from cmkd_med import fhir
    from cmkd_med.api import Pipeline

    nlp = Pipeline(**options)

    def process(rows: list[Row]) -> list[dict[str, Any]]:
        results = nlp.classify([r.text for r in rows], [r.lang for r in rows])
        assert isinstance(results, list)
        return fhir.bulk_records(rows, results, nlp.kb) if fmt == "fhir" else results

    return process


class _Worker:
    """One Ray actor: builds its processor once, then turns each staged batch into its rows' records."""

    def __init__(self, factory: Callable[[], Processor]):
        self.process = factory()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        results = []
        for rows_json in batch["rows"]:
            rows = [Row(**r) for r in json.loads(rows_json)]
            results.append(
                json.dumps(_process_isolating(rows, self.process))
            )  # NaN kept: the writer refuses it
        return {"seq": [int(s) for s in batch["seq"]], "results": results}


class RayWriter(BatchWriter):
    """A :class:`BatchWriter` whose batches are processed by Ray actors; configured by :func:`ray_writer`."""

    factory: Callable[[], Processor]
    workers: int = 1
    cpus_per_worker: float = 1.0

    def __init__(self, sink: IO[str], process: Processor, batch_size: int, stats: BulkStats):
        super().__init__(sink, process, batch_size, stats)
        self.skeletons: list[list[Item | str]] = []  # per batch, rows without their text (for the writer)
        self.staged: list[dict[str, Any]] = []
        self.parts: list[Any] = []

    def add(self, item: Item | str) -> None:
        self.pending.append(item)
        self.rows += isinstance(item, Row)
        if self.rows >= self.batch_size:
            self._seal()

    def _seal(self) -> None:
        if not self.pending:
            return
        rows = [dataclasses.asdict(p) for p in self.pending if isinstance(p, Row)]
        skeleton = [dataclasses.replace(p, text="") if isinstance(p, Row) else p for p in self.pending]
        self.skeletons.append(skeleton)
        if rows:
            self.staged.append({"seq": len(self.skeletons) - 1, "rows": json.dumps(rows, ensure_ascii=False)})
        self.pending, self.rows = [], 0
        if len(self.staged) >= UNITS_PER_BLOCK:
            self._stage()

    def _stage(self) -> None:
        if self.staged:
            ray = _ray()
            self.parts.append(
                ray.data.from_items(self.staged, override_num_blocks=max(1, len(self.staged) // 4))
            )
            self.staged = []

    def flush(self) -> None:
        """The whole run: every sealed batch through the actor pool, written in input order as it lands."""
        self._seal()
        self._stage()
        done: dict[int, list[dict[str, Any]]] = {}
        next_seq = 0

        def drain() -> None:
            nonlocal next_seq
            while next_seq < len(self.skeletons) and (
                next_seq in done or not any(isinstance(i, Row) for i in self.skeletons[next_seq])
            ):
                self.write_batch(self.skeletons[next_seq], done.pop(next_seq, []))
                self.skeletons[next_seq] = []
                next_seq += 1

        drain()  # leading batches without rows (error records, copied lines)
        if self.parts:
            dataset = self.parts[0].union(*self.parts[1:]) if len(self.parts) > 1 else self.parts[0]
            ray = _ray()
            mapped = dataset.map_batches(
                _Worker, fn_constructor_kwargs={"factory": self.factory}, batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=self.workers), num_cpus=self.cpus_per_worker,
                batch_format="numpy",
            )  # fmt: skip
            for batch in mapped.iter_batches(batch_size=None, batch_format="numpy"):
                for seq, results in zip(batch["seq"], batch["results"], strict=True):
                    done[int(seq)] = json.loads(results)
                drain()
        drain()
        if next_seq != len(self.skeletons):
            raise RuntimeError(f"Ray returned {next_seq} of {len(self.skeletons)} batches")
        self.parts, self.skeletons = [], []


def ray_writer(
    factory: Callable[[], Processor], workers: int, cpus_per_worker: float = 1.0
) -> type[BatchWriter]:
    """A :class:`RayWriter` class for :func:`cmkd_med.bulk.run_bulk` (``writer=``) over ``workers`` actors."""
    if workers < 1:
        raise InvalidInputError(f"--workers must be at least 1, got {workers}")
    init_ray(num_cpus=None)
    attrs = {"factory": staticmethod(factory), "workers": workers, "cpus_per_worker": cpus_per_worker}
    return type("ConfiguredRayWriter", (RayWriter,), attrs)


def pipeline_options(args: Any) -> dict[str, Any]:
    """The CLI's pipeline options, with paths made absolute (the actors may run in another directory)."""
    adapter = str(Path(args.adapter).resolve()) if args.adapter else None
    names = ("lang", "base_model", "device", "precision", "batch_size", "abstain_threshold")
    return {"adapter": adapter, **{name: getattr(args, name) for name in names}}


def cli_writer(args: Any) -> type[BatchWriter]:
    """The writer for ``cmkd-med classify --input … --engine ray [--workers N]``."""
    import functools

    factory = functools.partial(classify_processor, pipeline_options(args), getattr(args, "format", None))
    workers = args.workers
    if workers is None:  # one per CPU of the cluster (or of this machine)
        workers = max(1, int(init_ray().cluster_resources().get("CPU", 1)))
    return ray_writer(factory, workers)
