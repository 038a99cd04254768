"""Rewriting the JSON header of an ember checkpoint in tests (sizes, padding and CRC fixed up)."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

from ember.serialize.ember_format import _crc32

_PREAMBLE = "<8sHHIQQ"


def edit_header(data: bytes, edit: Callable[[dict], None]) -> bytes:
    """``data`` (a whole ember file) with its header passed through ``edit``, which changes it in place."""
    magic, major, minor, _, header_len, data_len = struct.unpack(_PREAMBLE, data[:32])
    header = json.loads(data[32:32 + header_len])
    data_section = data[-(-(32 + header_len) // 64) * 64:]
    edit(header)
    text = json.dumps(header).encode()
    padding = b"\0" * (-(32 + len(text)) % 64)
    preamble = struct.pack(_PREAMBLE, magic, major, minor, _crc32(text), len(text), data_len)
    return preamble + text + padding + data_section
