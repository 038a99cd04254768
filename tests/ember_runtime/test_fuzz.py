"""Fuzzing the artifact loader: damaged copies of real artifacts never crash, hang or compute garbage.

Mutants of two real artifacts (the CNN of tests/jit/models.py and a small MLP) are made by four families:

* ``flip``: 1-4 bytes XORed with random non-zero values;
* ``truncate``: the file cut short at a random length;
* ``splice``: a chunk of either artifact overwrites or is inserted at a random place;
* ``reseal``: one of the three above, then the whole-file SHA-256 trailer recomputed (its layout is public: the
  last 32 bytes are the SHA-256 of the rest), so the damage gets past the first checksum to the header, manifest
  and section checks behind it;
* ``manifest``: the manifest (JSON) rewritten with a key deleted, a value of the wrong type, a list entry dropped
  or repeated, or an unknown key added, and the file re-encoded with fresh checksums (so the schema checks and
  the program description are what must refuse it).

Positions are drawn from the header, the manifest, the trailer and each section alike, so small parts are hit as
often as the megabytes of weights. Each mutant is loaded in a worker subprocess (``python -m
tests.ember_runtime.test_fuzz``, with ``import ember`` blocked) that runs many mutants and reports each outcome on
its own line; a crash (a signal) or a hang (the per-batch timeout) ends the worker, the parent records the case
it was on and starts a new worker at the next case. Every mutant must either load and run on random inputs of
its own signature giving finite outputs equal to the original's, or raise :class:`ember_runtime.ArtifactError`.
A fast subset runs in CI; ``-m slow`` runs 10^5 cases. A finding names its family and case; replay it with
``python -m tests.ember_runtime.test_fuzz ARTIFACT OTHER FAMILY SEED CASE CASE+1 WORKDIR`` (seed 1 in the fast
test, 2 in the slow one), or rebuild the mutant with :func:`make_mutant`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TRAILER = 32
HEADER = 128
FAMILIES = ("flip", "truncate", "splice", "reseal", "manifest")


# -- making mutants (the worker calls these; they import nothing from ember) --------------------------------------
def _regions(data: bytes, artifact) -> list[tuple[int, int]]:
    """[start, end) of the header, each section, the manifest and the trailer."""
    sections = [(e["offset"], e["offset"] + e["length"]) for e in artifact.manifest["sections"]]
    body_end = max([HEADER, *(end for _, end in sections)])
    manifest_start = body_end + (-body_end % 64)
    regions = [(0, HEADER), *[(a, b) for a, b in sections if b > a], (manifest_start, len(data) - TRAILER),
               (len(data) - TRAILER, len(data))]
    return [(a, b) for a, b in regions if b > a]


def _position(rng: np.random.Generator, regions: list[tuple[int, int]]) -> int:
    start, end = regions[rng.integers(len(regions))]
    return int(rng.integers(start, end))


def _byte_mutant(family: str, rng: np.random.Generator, data: bytes, other: bytes,
                 regions: list[tuple[int, int]]) -> bytes:
    if family == "flip":
        mutant = bytearray(data)
        for _ in range(int(rng.integers(1, 5))):
            mutant[_position(rng, regions)] ^= int(rng.integers(1, 256))
        return bytes(mutant)
    if family == "truncate":
        return data[:_position(rng, regions)]
    source = other if rng.random() < 0.5 else data
    length = int(rng.integers(1, 4097))
    start = int(rng.integers(0, max(1, len(source) - length)))
    chunk, at = source[start:start + length], _position(rng, regions)
    if rng.random() < 0.5:
        return data[:at] + chunk + data[at + len(chunk):]
    return data[:at] + chunk + data[at:]


def _reseal(data: bytes) -> bytes:
    import hashlib

    if len(data) < TRAILER:
        return data
    return data[:-TRAILER] + hashlib.sha256(data[:-TRAILER]).digest()


_WRONG_VALUES = (None, True, 1.5, "", "(", "x y", "-", [], {}, [None], {"?": 1})


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _manifest_mutant(rng: np.random.Generator, artifact) -> bytes:
    """The artifact re-encoded (fresh checksums) with one structural change to its manifest: a key deleted, a
    value replaced by one of another JSON type, an unknown key added (which a reader must ignore), or a tensor
    table entry dropped or repeated. ``format`` and ``sections`` are rebuilt by the writer, so the change lands in
    the rest (program, signature, tensors, targets...).

    Same-type edits that keep the file well-formed (a shape 10 -> 11, two tensor entries swapped) are left out
    on purpose: the checksums make them impossible by accident, and a file crafted that way is code crafted by
    its author (the LLVM IR itself could do anything a shape lie could), which no verification can tell apart.
    """
    from ember_runtime.format import encode_artifact

    manifest = json.loads(json.dumps({k: v for k, v in artifact.manifest.items() if k not in ("format",
                                                                                              "sections")}))
    kind = int(rng.integers(4))
    if kind == 3 and manifest.get("tensors"):
        tensors = manifest["tensors"]
        index = int(rng.integers(len(tensors)))
        tensors.insert(index, tensors[index]) if rng.random() < 0.5 else tensors.pop(index)
        return encode_artifact(manifest, artifact.to_sections())
    paths = _paths(manifest)
    path = paths[rng.integers(len(paths))]
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if kind == 0 and isinstance(parent, dict):
        del parent[key]
    elif kind == 2 and isinstance(parent, dict):
        parent[f"unknown_{rng.integers(100)}"] = _WRONG_VALUES[rng.integers(len(_WRONG_VALUES))]
    else:
        old = parent[key]
        choices = [v for v in _WRONG_VALUES if type(v) is not type(old)]
        parent[key] = choices[rng.integers(len(choices))]
    return encode_artifact(manifest, artifact.to_sections())


def make_mutant(family: str, case: int, seed: int, data: bytes, other: bytes, artifact, regions) -> bytes:
    rng = np.random.default_rng([seed, FAMILIES.index(family), case])
    if family == "manifest":
        return _manifest_mutant(rng, artifact)
    if family == "reseal":
        return _reseal(_byte_mutant(("flip", "truncate", "splice")[case % 3], rng, data, other, regions))
    return _byte_mutant(family, rng, data, other, regions)


# -- the worker ----------------------------------------------------------------------------------------------------
def _outcome(path: Path, reference: list[np.ndarray], inputs: list[np.ndarray]) -> str:
    import ember_runtime

    try:
        model = ember_runtime.load(path)
        outputs = model.run(inputs)
    except ember_runtime.ArtifactError as error:
        return f"refused {type(error).__name__}"
    except Exception as error:  # noqa: BLE001 -- any other exception is a finding, reported with its type
        return f"BAD {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"
    if len(outputs) != len(reference):
        return f"BAD {len(outputs)} outputs instead of {len(reference)}"
    for got, want in zip(outputs, reference, strict=True):
        if got.shape != want.shape or got.dtype != want.dtype:
            return f"BAD output {got.dtype}{list(got.shape)} instead of {want.dtype}{list(want.shape)}"
        if not np.array_equal(got, want):  # the same code on the same inputs: bit-identical results
            return "BAD outputs differ from the original's"
    return "loaded"


def worker(argv: list[str]) -> None:
    """``python -m tests.ember_runtime.test_fuzz ARTIFACT OTHER FAMILY SEED START STOP WORKDIR``: one line per
    case, ``<case> <outcome>``, flushed as it goes so the parent knows where a crash happened."""
    import ember_runtime
    from ember_runtime.cli import bench_inputs
    from ember_runtime.format import read_artifact

    original, other, family, seed, start, stop, workdir = argv
    data, other_data = Path(original).read_bytes(), Path(other).read_bytes()
    artifact = read_artifact(original)
    regions = _regions(data, artifact)
    model = ember_runtime.load(original)
    inputs = bench_inputs(model, 2, {}, np.random.default_rng(0))
    reference = model.run(inputs)
    target = Path(workdir) / f"mutant-{os.getpid()}.ember"
    print("ready", flush=True)
    for case in range(int(start), int(stop)):
        target.write_bytes(make_mutant(family, case, int(seed), data, other_data, artifact, regions))
        print(case, _outcome(target, reference, inputs), flush=True)
    target.unlink(missing_ok=True)


# -- the parent ----------------------------------------------------------------------------------------------------
WORKER_PRELUDE = ("import sys; sys.modules['ember'] = None; import runpy; "
                  "runpy.run_module('tests.ember_runtime.test_fuzz', run_name='__main__')")


def fuzz(original: Path, other: Path, family: str, cases: int, workdir: Path, seed: int = 0,
         batch: int = 2000, timeout: float = 120.0) -> tuple[Counter, list[str]]:
    """Run ``cases`` mutants of ``original`` in worker subprocesses of ``batch`` cases each; return the outcome
    counts and the findings (crashes, hangs, bad outcomes), each naming its case so it can be replayed."""
    counts: Counter = Counter()
    findings: list[str] = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMBER_NUM_THREADS": "1"}
    next_case = 0
    while next_case < cases:
        stop = min(cases, next_case + batch)
        command = [sys.executable, "-c", WORKER_PRELUDE, str(original), str(other), family, str(seed),
                   str(next_case), str(stop), str(workdir)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
            output, returncode, hung = done.stdout, done.returncode, False
        except subprocess.TimeoutExpired as expired:
            output, returncode, hung = (expired.stdout or b"").decode(), None, True
        if "ready" not in output.splitlines()[:1] and not hung:  # the worker itself is broken: no case to blame
            raise RuntimeError(f"the fuzz worker failed before its first case (status {returncode}):\n"
                               f"{done.stderr[-3000:]}")
        last = next_case - 1
        for line in output.splitlines():
            case, _, outcome = line.partition(" ")
            if not case.isdigit():
                continue
            last = int(case)
            counts[outcome.split(":")[0]] += 1
            if outcome.startswith("BAD"):
                findings.append(f"{family} case {case}: {outcome}")
        if last == stop - 1:
            if returncode != 0:  # every case reported, then the worker died: on exit, after corrupting memory?
                findings.append(f"{family} cases {next_case}-{stop - 1}: the worker crashed on exit "
                                f"(status {returncode}): {done.stderr.strip()[-300:]}")
            next_case = stop
            continue
        what = "hang" if hung else f"crash (exit status {returncode}): {done.stderr.strip()[-300:]}"
        findings.append(f"{family} case {last + 1}: {what}")
        counts["crash" if not hung else "hang"] += 1
        next_case = last + 2  # go on after the case that crashed or hung
    return counts, findings


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> tuple[Path, Path]:
    """The CNN of tests/jit/models.py and a small MLP, traced with a dynamic batch and saved."""
    import ember
    from tests.jit.models import cnn

    directory = tmp_path_factory.mktemp("fuzz")
    ember.manual_seed(0)
    paths = []
    for name, model, shape in (("cnn", cnn(ember), (2, 3, 32, 32)),
                               ("mlp", ember.nn.Sequential(ember.nn.Linear(12, 16), ember.nn.Tanh(),
                                                           ember.nn.Linear(16, 3)), (2, 12))):
        traced = ember.jit.trace(model.eval(), ember.randn(*shape))
        paths.append(directory / f"{name}.ember")
        traced.save(paths[-1])
    return paths[0], paths[1]


def _check(counts: Counter, findings: list[str], cases: int) -> None:
    assert not findings, f"{len(findings)} findings in {cases} cases ({dict(counts)}):\n" + "\n".join(findings[:20])
    assert sum(counts.values()) == cases


@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_fast(artifacts, tmp_path, family):
    """A CI-sized run: 100 mutants of each artifact per family, one worker per artifact."""
    cnn_path, mlp_path = artifacts
    for original, other in ((cnn_path, mlp_path), (mlp_path, cnn_path)):
        counts, findings = fuzz(original, other, family, 100, tmp_path, seed=1)
        _check(counts, findings, 100)
        # The mutants damage the files: most are refused (a few flips may only touch padding after a reseal).
        assert sum(n for k, n in counts.items() if k.startswith("refused")) > 50, dict(counts)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_fuzz_slow(artifacts, tmp_path, family):
    """10^5 cases in all: 10,000 per family and artifact (5 x 2 x 10,000)."""
    for original, other in (artifacts, artifacts[::-1]):
        counts, findings = fuzz(original, other, family, 10_000, tmp_path, seed=2)
        _check(counts, findings, 10_000)


if __name__ == "__main__":
    worker(sys.argv[1:])
