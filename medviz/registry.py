"""Benchmark kinds and prediction formats: one table each, the only place that says what a kind is.

In the style of fiftyone-brain's ``_BUILTIN_SIMILARITY_BACKENDS`` + ``_parse_config``: each row holds the
module that reads the format and the rules that go with it. Everything that used to ask ``if kind == "mediconfusion"`` asks the registry instead.

Adding a benchmark format = one module under ``medviz/benchmarks/`` with ``load(path, images_dir)`` returning
``(items, pairs)`` + one line in ``BENCHMARK_KINDS``. Adding a prediction format = one module under
``medviz/predictions/`` with ``read(path, model, result_path)`` + one line in ``PREDICTION_FORMATS``.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from .benchmarks import generic as generic_bench
from .benchmarks import gmai as gmai_bench
from .benchmarks import mediconfusion as mc_bench
from .errors import MedvizError
from .predictions import generic as generic_pred
from .predictions import mediconfusion as mc_pred
from .predictions import vlmevalkit as vlm_pred

# Display names of every metric a scorer reports (pages and CLI).
METRIC_LABELS = {
    "set_accuracy": "Set accuracy", "individual_accuracy": "Individual accuracy", "accuracy": "Accuracy",
    "confusion": "Confusion", "image_blind": "Image-blind", "invalid": "Invalid",
}
PAIR_METRICS = ("set_accuracy", "individual_accuracy", "confusion", "image_blind", "invalid")
ITEM_METRICS = ("accuracy",)


@dataclass(frozen=True)
class BenchmarkKind:
    """What medviz needs to know about one benchmark format."""
    name: str                       # stored in benchmarks.kind; the CLI's --kind / `score` argument
    label: str                      # human name
    loader: ModuleType              # module with load() (see medviz/benchmarks/__init__.py)
    extensions: tuple[str, ...]     # file endings that select this kind when --kind is not given
    parser: str                     # letter parser rules: "mediconfusion" (option scores / "A", judge
    #                                 threshold --tr) or "vlmeval"
    scorer: str                     # "pairs": every pair of the benchmark counts (MediConfusion's official
    #                                 loop); "items": the rows with a prediction (VLMEvalKit exact matching)
    metrics: tuple[str, ...]        # headline metrics, first = the one the leaderboard leads with
    review_layout: str              # "pairs": two images side by side; "items": one image; "auto": per unit
    own_prediction_ext: str = ""    # file ending read with the kind's own format instead of the default
    writes_images: bool = False     # images are extracted from the file into the store's files folder
    fixed_id: str | None = None     # default benchmark id (else from the file name)
    file_scorer: str | None = None  # function in medviz.evaluate scoring files without a store (`medviz score`)

    def load(self, *args, **kwargs):
        return self.loader.load(*args, **kwargs)

    def score_files(self, benchmark_file: str, predictions_file: str, *, with_ci: bool = False,
                    **options) -> dict:
        """``options``: the scorer's own settings (MediConfusion: ``tr``)."""
        if self.file_scorer is None:
            raise MedvizError(f"benchmark kind '{self.name}' has no file scorer; ingest it and use `medviz scores`")
        from . import evaluate       # evaluate imports this module
        return getattr(evaluate, self.file_scorer)(benchmark_file, predictions_file, with_ci=with_ci, **options)

    @property
    def paired(self) -> bool:
        return self.scorer == "pairs"


BENCHMARK_KINDS: dict[str, BenchmarkKind] = {k.name: k for k in (
    BenchmarkKind("mediconfusion", "MediConfusion", mc_bench, (".json",),
                  parser="mediconfusion", scorer="pairs", metrics=PAIR_METRICS, review_layout="pairs",
                  own_prediction_ext=".json", fixed_id="mediconfusion",
                  file_scorer="score_mediconfusion_files"),
    BenchmarkKind("gmai", "GMAI-MMBench", gmai_bench, (".tsv",),
                  parser="vlmeval", scorer="items", metrics=ITEM_METRICS, review_layout="items",
                  writes_images=True, file_scorer="score_gmai_files"),
    BenchmarkKind("generic", "generic CSV/JSONL", generic_bench, (".csv", ".jsonl", ".ndjson"),
                  parser="vlmeval", scorer="items", metrics=ITEM_METRICS + PAIR_METRICS, review_layout="auto"),
)}


@dataclass(frozen=True)
class PredictionFormat:
    name: str
    reader: ModuleType              # module with read(path, model[, result_path])
    extensions: tuple[str, ...]     # endings read with this format when the kind's default does not apply
    returns_mode: bool = False      # read() returns (frame, mode) rather than a frame
    takes_result: bool = False      # read() accepts a judged VLMEvalKit *_result file

    def read(self, path: str, model: str | None = None, result_path: str | None = None):
        """(predictions frame, mode or None)."""
        mod = self.reader
        if self.returns_mode:
            return mod.read(path, model)
        out = mod.read(path, model, result_path) if self.takes_result else mod.read(path, model)
        return out, None


PREDICTION_FORMATS: dict[str, PredictionFormat] = {f.name: f for f in (
    PredictionFormat("mediconfusion", mc_pred, (), returns_mode=True),
    PredictionFormat("vlmevalkit", vlm_pred, (".xlsx", ".tsv", ".json"), takes_result=True),
    PredictionFormat("generic", generic_pred, (".csv", ".jsonl", ".ndjson")),
)}


def _unknown(what: str, name, valid) -> MedvizError:
    return MedvizError(f"unknown {what} '{name}'; valid: {', '.join(valid)}", field=what.split()[-1])


def get_kind(name: str) -> BenchmarkKind:
    """The registry row for ``name``; an unknown kind raises a MedvizError listing the valid ones."""
    try:
        return BENCHMARK_KINDS[name]
    except (KeyError, TypeError):
        raise _unknown("benchmark kind", name, BENCHMARK_KINDS) from None


def get_prediction_format(name: str) -> PredictionFormat:
    try:
        return PREDICTION_FORMATS[name]
    except (KeyError, TypeError):
        raise _unknown("prediction format", name, PREDICTION_FORMATS) from None


def kind_names(*, with_file_scorer: bool = False) -> list[str]:
    return [k for k, v in BENCHMARK_KINDS.items() if v.file_scorer or not with_file_scorer]


def kind_order(name: str) -> int:
    """Position of a kind in the registry (lists show MediConfusion first); unknown kinds go last."""
    names = list(BENCHMARK_KINDS)
    return names.index(name) if name in names else len(names)


def detect_kind(path: str) -> str:
    low = path.lower()
    for k in BENCHMARK_KINDS.values():
        if low.endswith(k.extensions):
            return k.name
    exts = "; ".join(f"{'/'.join(k.extensions)} {k.label}" for k in BENCHMARK_KINDS.values())
    raise MedvizError(f"cannot tell the benchmark format from the extension ({exts}); pass --kind", file=path)


def detect_prediction_format(path: str, kind: str) -> str:
    low = path.lower()
    k = get_kind(kind)
    if k.own_prediction_ext and low.endswith(k.own_prediction_ext):
        return k.name
    for f in PREDICTION_FORMATS.values():
        if low.endswith(f.extensions):
            return f.name
    return "generic"
