"""An allow-list pickle interpreter: it builds containers and plain values, and calls only what it is given.

Python's ``pickle.Unpickler`` imports and calls whatever a file names, so a crafted file runs code on load.
This interpreter executes a fixed subset of opcodes itself (as ``torch._weights_only_unpickler`` does):
a global resolves only through the caller's allow-list; ``REDUCE``/``NEWOBJ`` call only allow-listed
callables; ``BUILD`` only sets attributes of an ``OrderedDict``; items are added only to real lists, dicts and
sets. Anything else raises ``pickle.UnpicklingError`` naming what was refused.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import struct
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pickle import UnpicklingError, decode_long
from typing import Any, BinaryIO

__all__ = ["Allowed", "RestrictedUnpickler", "UnpicklingError", "latin1_encode"]


@dataclass(frozen=True)
class Allowed:
    """An allow-listed global: ``value`` is what the pickle sees; ``call``, when set, is what calling it does;
    ``refuse``, when set, is the reason a known name cannot be loaded (raised on sight)."""

    value: Any = None
    call: Callable[..., Any] | None = None
    refuse: str | None = None


def latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``: only the latin-1 codec is allowed."""
    if type(text) is not str or codecs.lookup(encoding).name != "iso8859-1":
        raise UnpicklingError(f"_codecs.encode is allowed only as latin-1 text encoding, got {encoding!r}")
    return text.encode("latin1")


_CHUNK = 1 << 20
_SET_TARGETS = (dict, OrderedDict, Counter)
_BUILD_TARGETS = (OrderedDict, Counter)


class RestrictedUnpickler:
    """Unpickle ``file`` allowing only the globals in ``allowed`` (keyed by ``(module, name)``).

    Args:
        file: a binary file positioned at the pickle; it is read up to the STOP opcode, no further.
        allowed: the allow-list.
        persistent_load: called with each persistent id; None refuses persistent ids.
        what: names the source at the start of every error message.
        refusal: appended to the message when a global is refused (why, and what the user can do).
        encoding: how Python 2 ``str`` objects are decoded ('bytes' keeps them as bytes).
    """

    def __init__(self, file: BinaryIO, allowed: Mapping[tuple[str, str], Allowed],
                 persistent_load: Callable[[Any], Any] | None = None, *, what: str = "pickle data", refusal: str = "",
                 encoding: str = "ASCII"):
        self.what = what
        self.read = file.read
        self.readline = file.readline
        self.allowed = allowed
        self.callables = {id(a.value): a for a in allowed.values() if a.call is not None}
        self.persistent_load = persistent_load
        self.refusal = refusal
        self.encoding = encoding

    def load(self) -> Any:
        """The unpickled object.

        Raises:
            pickle.UnpicklingError: a refused global or opcode, or malformed pickle data.
        """
        # MARK starts a fresh stack (the old one waits on the metastack), so a mark is never a value.
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        try:
            while True:
                key = self.read(1)
                if not key:
                    raise UnpicklingError("pickle data was truncated")
                handler = _OPS.get(key[0])
                if handler is None:
                    raise UnpicklingError(f"unsupported pickle opcode {key!r}")
                if handler(self):
                    return self.stack.pop()
        except UnpicklingError as exc:
            raise UnpicklingError(f"{self.what}: {exc}") from None
        except (IndexError, KeyError, struct.error, TypeError, ValueError, UnicodeDecodeError, OverflowError) as exc:
            raise UnpicklingError(f"{self.what}: malformed pickle data ({type(exc).__name__}: {exc})") from None

    # ----- helpers --------------------------------------------------------------------------------------------
    def _exact(self, n: int) -> bytes:
        if n < 0:
            raise UnpicklingError("pickle data has a negative length")
        # Read in bounded chunks: a hostile length must not become one huge allocation before EOF shows.
        parts, remaining = [], n
        while remaining:
            chunk = self.read(min(remaining, _CHUNK))
            if not chunk:
                raise UnpicklingError("pickle data was truncated")
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def _unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self._exact(struct.calcsize(fmt)))[0]

    def _pop_mark(self) -> list:
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def _pop_n(self, n: int) -> tuple:
        if len(self.stack) < n:
            raise UnpicklingError("pickle data underflows its stack")
        items = tuple(self.stack[len(self.stack) - n:])
        del self.stack[len(self.stack) - n:]
        return items

    def _global(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        found = self.allowed.get((module, name))
        if found is None:
            raise UnpicklingError(f"refused global '{module}.{name}': it is not on the allow-list. {self.refusal}")
        if found.refuse is not None:
            raise UnpicklingError(f"cannot load '{module}.{name}': {found.refuse}")
        return found.value

    def _call(self, func: Any, args: Any, opcode: str) -> Any:
        entry = self.callables.get(id(func))
        if entry is None or entry.value is not func:
            raise UnpicklingError(f"{opcode} of {func!r} refused: only allow-listed callables may be called")
        if type(args) is not tuple:
            raise UnpicklingError(f"{opcode} arguments must be a tuple, got {type(args).__name__}")
        return entry.call(*args)

    def _text(self, data: bytes) -> str | bytes:
        return data if self.encoding == "bytes" else data.decode(self.encoding, "strict")

    # ----- opcodes (each returns True only at STOP) -----------------------------------------------------------
    def op_proto(self):
        if self._exact(1)[0] > 5:
            raise UnpicklingError("unsupported pickle protocol")

    def op_frame(self):
        self._exact(8)

    def op_stop(self):
        if len(self.stack) != 1 or self.metastack:
            raise UnpicklingError("pickle data left a malformed stack at STOP")
        return True

    def op_mark(self):
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self):
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def op_pop_mark(self):
        self._pop_mark()

    def op_dup(self):
        self.stack.append(self.stack[-1])

    def op_none(self):
        self.stack.append(None)

    def op_true(self):
        self.stack.append(True)

    def op_false(self):
        self.stack.append(False)

    def op_empty_tuple(self):
        self.stack.append(())

    def op_empty_list(self):
        self.stack.append([])

    def op_empty_dict(self):
        self.stack.append({})

    def op_empty_set(self):
        self.stack.append(set())

    def op_binint(self):
        self.stack.append(self._unpack("<i"))

    def op_binint1(self):
        self.stack.append(self._exact(1)[0])

    def op_binint2(self):
        self.stack.append(self._unpack("<H"))

    def op_long1(self):
        self.stack.append(decode_long(self._exact(self._exact(1)[0])))

    def op_long4(self):
        self.stack.append(decode_long(self._exact(self._unpack("<i"))))

    def op_binfloat(self):
        self.stack.append(self._unpack(">d"))

    def op_binunicode(self, fmt: str = "<I"):
        self.stack.append(str(self._exact(self._unpack(fmt)), "utf-8", "surrogatepass"))

    def op_short_binunicode(self):
        self.stack.append(str(self._exact(self._exact(1)[0]), "utf-8", "surrogatepass"))

    def op_binunicode8(self):
        self.op_binunicode("<Q")

    def op_short_binstring(self):
        self.stack.append(self._text(self._exact(self._exact(1)[0])))

    def op_binstring(self):
        self.stack.append(self._text(self._exact(self._unpack("<i"))))

    def op_binbytes(self, fmt: str = "<I"):
        self.stack.append(self._exact(self._unpack(fmt)))

    def op_short_binbytes(self):
        self.stack.append(self._exact(self._exact(1)[0]))

    def op_binbytes8(self):
        self.op_binbytes("<Q")

    def op_bytearray8(self):
        self.stack.append(bytearray(self._exact(self._unpack("<Q"))))

    # Each MARK-collecting opcode pops the mark first: ``self.stack`` is a different list afterwards.
    def op_tuple(self):
        items = self._pop_mark()
        self.stack.append(tuple(items))

    def op_tuple1(self):
        self.stack.append(self._pop_n(1))

    def op_tuple2(self):
        self.stack.append(self._pop_n(2))

    def op_tuple3(self):
        self.stack.append(self._pop_n(3))

    def op_list(self):
        items = self._pop_mark()
        self.stack.append(items)

    def op_dict(self):
        items = self._pop_mark()
        self.stack.append(dict(zip(items[::2], items[1::2], strict=True)))

    def op_frozenset(self):
        items = self._pop_mark()
        self.stack.append(frozenset(items))

    def _target(self, kinds: tuple, opcode: str) -> Any:
        target = self.stack[-1]
        if type(target) not in kinds:
            raise UnpicklingError(f"{opcode} on a {type(target).__name__} refused")
        return target

    def op_append(self):
        item = self.stack.pop()
        self._target((list,), "APPEND").append(item)

    def op_appends(self):
        items = self._pop_mark()
        self._target((list,), "APPENDS").extend(items)

    def op_setitem(self):
        value, key = self.stack.pop(), self.stack.pop()
        self._target(_SET_TARGETS, "SETITEM")[key] = value

    def op_setitems(self):
        items = self._pop_mark()
        target = self._target(_SET_TARGETS, "SETITEMS")
        if len(items) % 2:
            raise UnpicklingError("SETITEMS needs key/value pairs")
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def op_additems(self):
        items = self._pop_mark()
        self._target((set,), "ADDITEMS").update(items)

    def op_global(self):
        module = self.readline()[:-1].decode("utf-8")
        name = self.readline()[:-1].decode("utf-8")
        self.stack.append(self._global(module, name))

    def op_stack_global(self):
        name, module = self.stack.pop(), self.stack.pop()
        if type(module) is not str or type(name) is not str:
            raise UnpicklingError("STACK_GLOBAL needs two strings")
        self.stack.append(self._global(module, name))

    def op_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args, "REDUCE")

    def op_newobj(self):
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args, "NEWOBJ")

    def op_build(self):
        state = self.stack.pop()
        target = self._target(_BUILD_TARGETS, "BUILD")
        if type(state) is not dict or not all(type(k) is str and not k.startswith("__") for k in state):
            raise UnpicklingError("BUILD state of an OrderedDict must be a dict of attribute names")
        vars(target).update(state)

    def op_binpersid(self):
        if self.persistent_load is None:
            raise UnpicklingError("this pickle may not hold persistent ids")
        self.stack[-1] = self.persistent_load(self.stack[-1])

    def op_binget(self):
        self.stack.append(self.memo[self._exact(1)[0]])

    def op_long_binget(self):
        self.stack.append(self.memo[self._unpack("<I")])

    def op_binput(self):
        self.memo[self._exact(1)[0]] = self.stack[-1]

    def op_long_binput(self):
        self.memo[self._unpack("<I")] = self.stack[-1]

    def op_memoize(self):
        self.memo[len(self.memo)] = self.stack[-1]


_OPS: dict[int, Callable[[RestrictedUnpickler], Any]] = {
    ord(code): getattr(RestrictedUnpickler, f"op_{name}") for code, name in [
        (b"\x80", "proto"), (b"\x95", "frame"), (b".", "stop"), (b"(", "mark"), (b"0", "pop"), (b"1", "pop_mark"),
        (b"2", "dup"), (b"N", "none"), (b"\x88", "true"), (b"\x89", "false"), (b")", "empty_tuple"),
        (b"]", "empty_list"), (b"}", "empty_dict"), (b"\x8f", "empty_set"), (b"J", "binint"), (b"K", "binint1"),
        (b"M", "binint2"), (b"\x8a", "long1"), (b"\x8b", "long4"), (b"G", "binfloat"), (b"X", "binunicode"),
        (b"\x8c", "short_binunicode"), (b"\x8d", "binunicode8"), (b"U", "short_binstring"), (b"T", "binstring"),
        (b"B", "binbytes"), (b"C", "short_binbytes"), (b"\x8e", "binbytes8"), (b"\x96", "bytearray8"),
        (b"t", "tuple"), (b"\x85", "tuple1"), (b"\x86", "tuple2"), (b"\x87", "tuple3"), (b"l", "list"),
        (b"d", "dict"), (b"\x91", "frozenset"), (b"a", "append"), (b"e", "appends"), (b"s", "setitem"),
        (b"u", "setitems"), (b"\x90", "additems"), (b"c", "global"), (b"\x93", "stack_global"), (b"R", "reduce"),
        (b"\x81", "newobj"), (b"b", "build"), (b"Q", "binpersid"), (b"h", "binget"), (b"j", "long_binget"),
        (b"q", "binput"), (b"r", "long_binput"), (b"\x94", "memoize"),
    ]
}
