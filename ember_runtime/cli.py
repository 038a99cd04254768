"""The command line of the runtime: ``python -m ember_runtime run|inspect|bench`` (numpy and llvmlite only).

ember's own ``ember`` console script (:mod:`ember.cli`) adds ``compile`` and reuses these subcommands, so that
``ember run`` and ``python -m ember_runtime run`` are one definition. Every failure a user can cause (a missing
file, an artifact that fails verification, inputs that do not fit the signature, a bad option) ends the command
with exit status 2 and one line on stderr, never a traceback.

::

    python -m ember_runtime inspect m.ember [--json]
    python -m ember_runtime run m.ember --input x.npy [--input ...] [--output y.npy|y.npz]
    python -m ember_runtime bench m.ember --batch 1,64 [--iters 50] [--dim T=12]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import ArtifactError

__all__ = ["Parser", "UsageError", "add_runtime_commands", "bench_inputs", "describe_artifact", "main", "run_cli"]

# Sizes bound to a symbol that --batch and --dim leave free (a sequence length, say).
DEFAULT_FREE_DIM = 8


class UsageError(Exception):
    """A mistake on the command line or in a file it names: reported as one line, exit status 2."""


# -- inspect -------------------------------------------------------------------------------------------------------
def _human(nbytes: int) -> str:
    size = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _spec_text(spec: dict) -> str:
    return f"{spec.get('name', '?')}: {spec.get('dtype', '?')}[{', '.join(str(d) for d in spec.get('shape', []))}]"


def describe_artifact(path: str | Path) -> dict:
    """A summary of a verified artifact (nothing is compiled): its signature, graph, sizes, targets, checksums.

    Raises:
        ArtifactError: the file fails verification.
        OSError: it cannot be read.
    """
    from .format import read_artifact

    artifact = read_artifact(path)
    manifest = artifact.manifest
    signature = _mapping(manifest.get("signature"))
    graph = _mapping(manifest.get("graph"))
    sections = manifest["sections"]
    by_kind: Counter = Counter()
    for entry in sections:
        by_kind[entry["kind"]] += entry["length"]
    weight_bytes = sum(t["nbytes"] for t in manifest["tensors"])
    code_bytes = sum(n for kind, n in by_kind.items() if kind.startswith(("cpu", "cuda")))
    with open(path, "rb") as f:
        f.seek(-32, os.SEEK_END)
        trailer = f.read(32).hex()
    symbols = {name: [bounds.get("min"), bounds.get("max")] if isinstance(bounds, dict) else bounds
               for name, bounds in _mapping(signature.get("symbols")).items()}
    return {
        "path": str(path),
        "format": ".".join(map(str, artifact.version)),
        "producer": manifest.get("producer"),
        "inputs": signature.get("inputs", []),
        "outputs": signature.get("outputs", []),
        "symbols": symbols,
        "graph": {"name": graph.get("name"), "nodes": graph.get("nodes"),
                  "op_counts": dict(sorted(_mapping(graph.get("ops")).items()))},
        "sizes": {"file": Path(path).stat().st_size, "weights": weight_bytes, "tensors": len(manifest["tensors"]),
                  "code": code_bytes, "sections": dict(sorted(by_kind.items()))},
        "targets": _mapping(manifest.get("targets")),
        "checksums": {"file": trailer, **{f"section {e['name']}": e["sha256"] for e in sections}},
    }


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _print_summary(summary: dict, out: Callable[[str], None]) -> None:
    producer = summary["producer"]
    producer_text = producer if isinstance(producer, str) else \
        " ".join(str(v) for v in producer.values()) if isinstance(producer, dict) else "unknown"
    out(f"{summary['path']}: ember artifact, format {summary['format']}, written by {producer_text}")
    out("signature:")
    for kind in ("inputs", "outputs"):
        for spec in summary[kind]:
            out(f"  {kind[:-1]:6s} {_spec_text(spec)}")
    for symbol, (low, high) in summary["symbols"].items():
        out(f"  symbol {symbol} in [{low}, {'inf' if high is None else high}]")
    graph = summary["graph"]
    ops = ", ".join(f"{op} x{n}" for op, n in sorted(graph["op_counts"].items(), key=lambda kv: (-kv[1], kv[0])))
    out(f"graph {graph['name']}: {graph['nodes']} nodes" + (f" ({ops})" if ops else ""))
    sizes = summary["sizes"]
    out(f"sizes: file {_human(sizes['file'])}, weights {_human(sizes['weights'])} ({sizes['tensors']} tensors), "
        f"code {_human(sizes['code'])}")
    for kind, nbytes in sizes["sections"].items():
        out(f"  section {kind}: {_human(nbytes)}")
    out("targets:")
    for name, target in sorted(summary["targets"].items()):
        if isinstance(target, dict):
            out(f"  {name}:")
            for key, value in sorted(target.items()):
                # the features the code was tuned for are a long list: their count says enough here
                text = f"{len(value)} features" if key == "tuned_features" and isinstance(value, list) else \
                    _short(value)
                out(f"    {key}: {text}")
        else:
            out(f"  {name}: {_short(target)}")
    out("checksums (sha256):")
    for part, digest in summary["checksums"].items():
        out(f"  {part}: {digest}")


def _short(value: object, limit: int = 100) -> str:
    text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _inspect(args: argparse.Namespace) -> None:
    summary = describe_artifact(_existing(args.artifact))
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        _print_summary(summary, print)


# -- run -----------------------------------------------------------------------------------------------------------
def _existing(path: str) -> Path:
    if not Path(path).is_file():
        raise UsageError(f"no such file: {path}")
    return Path(path)


def _load_model(path: str):
    from . import load

    return load(_existing(path))


def _read_inputs(paths: Sequence[str], names: Sequence[str]) -> list[np.ndarray]:
    """The arrays of ``--input`` files: each a .npy (one array) or a .npz (arrays named like the model's inputs,
    or in file order). Never unpickles (``allow_pickle=False``)."""
    arrays: list[np.ndarray] = []
    for path in paths:
        try:
            loaded = np.load(_existing(path), allow_pickle=False)
        except UsageError:
            raise
        except (OSError, ValueError, EOFError) as error:
            raise UsageError(f"cannot read {path} as a .npy/.npz array file: {error}") from None
        if isinstance(loaded, np.ndarray):
            arrays.append(loaded)
            continue
        with loaded:  # an .npz: its arrays named like the model's inputs, or else in file order
            remaining = names[len(arrays):]
            named = [n for n in remaining if n in loaded.files]
            arrays.extend(loaded[k] for k in (named or loaded.files))
    return arrays


def _write_outputs(path: str, names: Sequence[str], outputs: Sequence[np.ndarray]) -> None:
    if path.endswith(".npz"):
        np.savez(path, **dict(zip(names, outputs, strict=True)))
    elif len(outputs) == 1:
        np.save(path, outputs[0], allow_pickle=False)
    else:
        raise UsageError(f"the model has {len(outputs)} outputs ({', '.join(names)}): write them to a .npz file")


def _run(args: argparse.Namespace) -> None:
    model = _load_model(args.artifact)
    input_names = [spec.name for spec in model.inputs]
    arrays = _read_inputs(args.input, input_names)
    if len(arrays) != len(input_names):
        raise UsageError(f"the model takes {len(input_names)} inputs ({', '.join(input_names)}), got {len(arrays)}")
    try:
        outputs = model.run(arrays)
    except (TypeError, ValueError, RuntimeError, IndexError) as error:  # the checks name the input at fault
        raise UsageError(str(error)) from None
    names = [spec.name for spec in model.outputs]
    if args.output:
        _write_outputs(args.output, names, outputs)
    for name, array in zip(names, outputs, strict=True):
        line = f"{name}: {array.dtype}[{', '.join(map(str, array.shape))}]"
        if not args.output:
            line += " = " + np.array2string(array, threshold=20, precision=5)
        print(line)


# -- bench ---------------------------------------------------------------------------------------------------------
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _dim_binding(text: str) -> tuple[str, int]:
    name, _, value = text.partition("=")
    if not name.isidentifier() or not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected SYMBOL=SIZE (a positive size), got {text!r}")
    return name, int(value)


def bench_inputs(model, batch: int, dims: dict[str, int], rng: np.random.Generator) -> list[np.ndarray]:
    """Random inputs of ``model``'s signature: dim 0, where it is a symbol, is ``batch``; other symbols take
    ``dims`` (else :data:`DEFAULT_FREE_DIM`). Floats are standard normal; integers are 0 or 1 (valid indices for
    an embedding); booleans are random."""
    arrays = []
    for spec in model.inputs:
        shape = []
        for axis, dim in enumerate(spec.shape):
            if isinstance(dim, int) or str(dim).isdigit():
                shape.append(int(dim))
            elif axis == 0 and str(dim) not in dims:
                shape.append(batch)
            else:
                shape.append(dims.get(str(dim), DEFAULT_FREE_DIM))
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.integers(0, 2, shape).astype(dtype))
    return arrays


def _bench(args: argparse.Namespace) -> None:
    from . import load

    path = _existing(args.artifact)
    start = time.perf_counter()
    model = load(path)
    load_ms = (time.perf_counter() - start) * 1e3
    print(f"{path}: load {load_ms:.1f} ms")
    rng = np.random.default_rng(0)
    dims = dict(args.dim)
    print("| batch | first call (ms) | median (ms) | min (ms) | items/s |")
    print("|------:|----------------:|------------:|---------:|--------:|")
    for batch in args.batch:
        inputs = bench_inputs(model, batch, dims, rng)
        try:
            start = time.perf_counter()
            model.run(inputs)
            first = time.perf_counter() - start
            times = []
            for _ in range(args.iters):
                start = time.perf_counter()
                model.run(inputs)
                times.append(time.perf_counter() - start)
        except (TypeError, ValueError, RuntimeError, IndexError) as error:
            raise UsageError(f"batch {batch}: {error}") from None
        median = statistics.median(times) if times else first
        best = min(times) if times else first
        print(f"| {batch} | {first * 1e3:.3f} | {median * 1e3:.3f} | {best * 1e3:.3f} | "
              f"{batch / median if median > 0 else math.inf:.0f} |")


# -- wiring --------------------------------------------------------------------------------------------------------
def add_runtime_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``inspect``, ``run`` and ``bench`` to a subcommand parser (this CLI's and ember's)."""
    inspect = commands.add_parser("inspect", help="verify an artifact and show its signature, graph, sizes, "
                                  "targets and checksums (compiles nothing)")
    inspect.add_argument("artifact", help="the .ember file")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(handler=_inspect)

    run = commands.add_parser("run", help="run an artifact on inputs read from .npy/.npz files")
    run.add_argument("artifact", help="the .ember file")
    run.add_argument("--input", "-i", action="append", default=[], metavar="FILE",
                     help="an input array (.npy), or several (.npz); repeat in the model's input order")
    run.add_argument("--output", "-o", metavar="FILE",
                     help="where to write the result: .npy (one output) or .npz (any number, named); "
                     "without it the outputs are printed")
    run.set_defaults(handler=_run)

    bench = commands.add_parser("bench", help="time loading and calling an artifact on random inputs")
    bench.add_argument("artifact", help="the .ember file")
    bench.add_argument("--batch", type=_int_list, default=[1, 64], help="batch sizes, comma-separated (1,64)")
    bench.add_argument("--iters", type=int, default=50, help="timed calls per batch size after the first (50)")
    bench.add_argument("--dim", type=_dim_binding, action="append", default=[], metavar="SYMBOL=SIZE",
                       help=f"the size of another symbolic dim (default {DEFAULT_FREE_DIM})")
    bench.set_defaults(handler=_bench)


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors exiting 2 through :class:`UsageError` (one line, no usage dump)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog.split()[-1]}: {message}")


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None, prog: str,
            errors: tuple[type[BaseException], ...] = ()) -> int:
    """Parse ``argv`` and run the chosen subcommand; turn a user's mistake into one line on stderr and exit
    status 2. ``errors`` are further exception types (the caller's) reported that way."""
    try:
        args = parser.parse_args(argv)
        if getattr(args, "handler", None) is None:
            parser.print_help(sys.stderr)
            return 2
        args.handler(args)
    except (UsageError, ArtifactError, OSError, *errors) as error:
        # An artifact's error class says which check failed (ChecksumMismatch...): keep it in the line.
        message = str(error) if isinstance(error, UsageError) else f"{type(error).__name__}: {error}"
        print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)  # one line
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ember_runtime``: the exit status (0, or 2 for a user's mistake)."""
    parser = Parser(prog="python -m ember_runtime",
                     description="Inspect, run and time ember artifacts (.ember) without the ember framework.")
    add_runtime_commands(parser.add_subparsers(title="commands", metavar="{inspect,run,bench}"))
    return run_cli(parser, argv, "ember_runtime")
