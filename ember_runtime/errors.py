"""The errors an artifact can fail verification with: one :class:`ArtifactError` subclass per failure.

Every message names the file, the part of it concerned (the header, the manifest, a section or a tensor), the
byte offset where that part lies when it has one, what was expected and what was found, so that a user (or a
fuzzer) can tell a damaged download from a file of a newer ember from a file that was tampered with. The loader
never lets a bad file reach the compiler or the machine code: every check runs before anything is compiled.
"""

from __future__ import annotations

__all__ = ["ArtifactError", "BadMagic", "ChecksumMismatch", "ForbiddenSymbol", "InlineAssembly",
           "MalformedManifest", "MalformedSection", "MissingCpuFeatures", "OffsetOutOfRange", "Truncated",
           "UnsupportedVersion"]


class ArtifactError(Exception):
    """A ``.ember`` file that cannot be loaded (base class of every verification failure).

    Attributes:
        path: the file.
        part: which part of it failed (``"header"``, ``"manifest"``, ``"section 'weights'"``...).
        offset: the byte offset of that part in the file, or ``None`` where it has none.
        expected / found: what the check wanted and what the file holds (short texts).
    """

    def __init__(self, path: str, part: str, message: str, *, offset: int | None = None,
                 expected: object = None, found: object = None):
        self.path, self.part, self.offset = str(path), part, offset
        self.expected, self.found = expected, found
        where = f"{self.path}: {part}" + ("" if offset is None else f" at byte offset {offset}")
        detail = ""
        if expected is not None or found is not None:
            detail = f" (expected {expected}, found {found})"
        super().__init__(f"{where}: {message}{detail}")


class BadMagic(ArtifactError):
    """The file does not start with the artifact magic: it is not an ``.ember`` artifact."""


class UnsupportedVersion(ArtifactError):
    """The format's major version is one this runtime does not know (a newer ember wrote it)."""


class ChecksumMismatch(ArtifactError):
    """A SHA-256 (whole file, manifest, section or tensor) differs from the one recorded: the bytes changed."""


class Truncated(ArtifactError):
    """The file's length differs from the length its header records (cut short, or bytes appended)."""


class OffsetOutOfRange(ArtifactError):
    """A manifest, section or tensor lies (partly) outside the file or its section, or is misaligned."""


class MalformedManifest(ArtifactError):
    """The manifest is not valid UTF-8 JSON of the documented schema (a key missing, a value of a wrong type)."""


class MissingCpuFeatures(ArtifactError):
    """The CPU code requires features (or an architecture) this host's CPU lacks."""


class ForbiddenSymbol(ArtifactError):
    """The LLVM IR declares an external function or global outside the runtime's allow-list."""


class InlineAssembly(ArtifactError):
    """The LLVM IR holds inline assembly (``asm`` calls or ``module asm``), which the runtime never compiles."""


class MalformedSection(ArtifactError):
    """A section's content is not what its kind requires (LLVM IR that does not parse, or lacks the entry
    functions the manifest names)."""
