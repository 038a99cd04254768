"""The ``ember`` console script: compile a model into an ``.ember`` artifact, then inspect, run and time it.

::

    ember compile model.py:factory --example-shape 1,3,32,32 [--dtype float32] [--static] -o m.ember
    ember inspect m.ember [--json]
    ember run m.ember --input x.npy [--input ...] [--output y.npy|y.npz]
    ember bench m.ember --batch 1,64 [--iters 50]

``compile`` imports ``model.py`` by its path, calls ``factory()`` (a :class:`~ember.nn.Module`, put in eval
mode, or a function of tensors), traces it on random inputs of the example shapes (one ``--example-shape`` per
input) and saves the artifact. ``inspect``, ``run`` and ``bench`` are the runtime's own commands
(:mod:`ember_runtime.cli`), which ``python -m ember_runtime`` offers without the framework. A user's mistake
(a missing file, a bad ``module.py:factory``, a bad shape, an artifact that fails verification, a model the
tracer or compiler refuses) exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ember_runtime.cli import Parser, UsageError, add_runtime_commands, run_cli

__all__ = ["build_parser", "load_factory", "main", "parse_shape"]

# The name of the dynamic batch symbol the artifact's inputs share.
BATCH_SYMBOL = "N"


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1,3,32,32"`` -> ``(1, 3, 32, 32)`` (``""`` or ``"()"`` is a scalar); sizes must be non-negative."""
    stripped = text.strip().strip("()[]")
    try:
        shape = tuple(int(d) for d in stripped.split(",") if d.strip()) if stripped else ()
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: expected comma-separated sizes such as "
                                         "1,3,32,32") from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"bad shape {text!r}: sizes must not be negative")
    return shape


def load_factory(spec: str) -> Any:
    """The object ``module.py:factory`` names: the file is imported by its path (its directory is put on
    ``sys.path`` for its own imports) and ``factory`` looked up in it (dots reach attributes)."""
    file_name, sep, attribute = spec.rpartition(":")
    if not sep or not file_name or not attribute:
        raise UsageError(f"expected MODULE.py:FACTORY, got {spec!r}")
    path = Path(file_name)
    if not path.is_file():
        raise UsageError(f"no such file: {file_name}")
    module_name = f"_ember_cli_{path.stem}_{uuid.uuid4().hex[:8]}"
    import_spec = importlib.util.spec_from_file_location(module_name, path)
    if import_spec is None or import_spec.loader is None:
        raise UsageError(f"cannot import {file_name} as a Python module")
    module = importlib.util.module_from_spec(import_spec)
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[module_name] = module
    try:
        import_spec.loader.exec_module(module)
    except Exception as error:  # the user's module is arbitrary code: report what it raised, in one line
        raise UsageError(f"importing {file_name} raised {type(error).__name__}: {error}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{file_name} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(f"{file_name}:{attribute} is not callable (expected a factory returning a Module or a "
                         "function)")
    return target


def _example_inputs(shapes: Sequence[tuple[int, ...]], dtype: str, dynamic_batch: bool) -> tuple[tuple, dict]:
    """Random example tensors of ``shapes`` and the dynamic dims for the trace. A dynamic batch of size 0 or 1 in
    the example is traced at size 2 (the tracer cannot tell which ops depend on a size-1 dim)."""
    import ember

    rng = np.random.default_rng(0)
    np_dtype = np.dtype(dtype)
    examples, dynamic_dims = [], {}
    for index, shape in enumerate(shapes):
        if dynamic_batch and shape:
            shape = (max(shape[0], 2), *shape[1:])
            dynamic_dims[index] = {0: BATCH_SYMBOL}
        if np_dtype.kind == "f":
            array = rng.standard_normal(shape).astype(np_dtype)
        elif np_dtype.kind == "b":
            array = rng.random(shape) < 0.5
        else:  # small non-negative integers: valid indices for an embedding or a gather
            array = rng.integers(0, 2, shape).astype(np_dtype)
        examples.append(ember.tensor(array))
    return tuple(examples), dynamic_dims


def _compile(args: argparse.Namespace) -> None:
    import ember

    factory = load_factory(args.target)
    try:
        np.dtype(args.dtype)
        getattr(ember, args.dtype)
    except (TypeError, AttributeError):
        raise UsageError(f"unknown dtype {args.dtype!r} (float32, float64, int64, int32, bool...)") from None
    try:
        model = factory()
    except Exception as error:  # arbitrary user code
        raise UsageError(f"{args.target}() raised {type(error).__name__}: {error}") from None
    if isinstance(model, ember.nn.Module):
        model.eval()
    elif not callable(model):
        raise UsageError(f"{args.target}() returned a {type(model).__name__}; expected an ember.nn.Module or a "
                         "function of tensors")
    examples, dynamic_dims = _example_inputs(args.example_shape, args.dtype, args.dynamic_batch)
    try:
        traced = ember.jit.trace(model, examples, dynamic_dims=dynamic_dims)
        traced.save(args.output)
    except Exception as error:  # noqa: BLE001 -- the trace runs the user's forward: any error is theirs to read
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise UsageError(f"cannot compile {args.target}: {type(error).__name__}: {first_line}") from None
    size = Path(args.output).stat().st_size
    signature = ", ".join(map(str, traced.inputs)) + " -> " + ", ".join(map(str, traced.outputs))
    print(f"saved {args.output} ({size / 1024:.1f} KiB): {traced.name}({signature}), {len(traced.graph.nodes)} "
          "nodes")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ember", description="Compile ember models into .ember artifacts; inspect, run and time "
                    "them.")
    commands = parser.add_subparsers(title="commands", metavar="{compile,inspect,run,bench}")
    compile_parser = commands.add_parser("compile", help="trace a model from a Python file and save its artifact")
    compile_parser.add_argument("target", metavar="MODULE.py:FACTORY",
                                help="a Python file and a callable in it returning a Module or a function")
    compile_parser.add_argument("--example-shape", type=parse_shape, action="append", required=True,
                                metavar="D0,D1,...", help="the shape of an example input; repeat for each input")
    compile_parser.add_argument("--dtype", default="float32", help="the example inputs' dtype (float32)")
    compile_parser.add_argument("--dynamic-batch", dest="dynamic_batch", action="store_true", default=True,
                                help="dim 0 of every input is a batch symbol N, so the artifact takes any batch size "
                                "(the default; an example batch of 1 is traced at 2)")
    compile_parser.add_argument("--static", dest="dynamic_batch", action="store_false",
                                help="every dim is fixed at the example's size")
    compile_parser.add_argument("-o", "--output", required=True, metavar="FILE.ember", help="the artifact to write")
    compile_parser.set_defaults(handler=_compile)
    add_runtime_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``ember`` console script: the exit status (0, or 2 for a user's mistake)."""
    from ember_runtime.errors import ArtifactError

    return run_cli(build_parser(), argv, "ember", (ArtifactError,))


if __name__ == "__main__":
    sys.exit(main())
