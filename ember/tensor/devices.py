"""``ember.device``: where a tensor's storage lives, parsed as PyTorch parses it."""

from __future__ import annotations

__all__ = ["device", "as_device"]

_KNOWN_TYPES = ("cpu", "cuda")


class device:  # noqa: N801 - PyTorch's public name
    """A device type with an optional index: ``device('cpu')``, ``device('cuda:1')``, ``device('cuda', 0)``.

    Example::

        >>> ember.device("cuda:1")
        device(type='cuda', index=1)
    """

    __slots__ = ("type", "index")

    def __init__(self, type_or_string: str | device, index: int | None = None):
        if isinstance(type_or_string, device):
            if index is not None:
                raise ValueError("device(): index must not be given with a device object")
            self.type, self.index = type_or_string.type, type_or_string.index
            return
        if not isinstance(type_or_string, str):
            raise TypeError(f"device(): expected a string or device, got {type(type_or_string).__name__}")
        text = type_or_string.strip()
        dev_type, sep, idx_text = text.partition(":")
        if dev_type not in _KNOWN_TYPES:
            raise RuntimeError(
                f"Expected one of {', '.join(_KNOWN_TYPES)} device type at start of device string: {type_or_string}"
            )
        if sep:
            if index is not None:
                raise RuntimeError(f"device(): index given twice in {type_or_string!r} and index={index}")
            if not idx_text.isdigit():
                raise RuntimeError(f"Invalid device string: '{type_or_string}'")
            index = int(idx_text)
        if index is not None and (not isinstance(index, int) or isinstance(index, bool) or index < 0):
            raise RuntimeError(f"Device index must be a non-negative integer, got {index!r}")
        self.type = dev_type
        self.index = index

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))


CPU = device("cpu")
_INTERNED: dict[object, device] = {"cpu": CPU}


def as_device(value: str | device | int | None) -> device:
    """Normalise a user's ``device=`` argument (None means the CPU, an int means that CUDA index).

    Equal devices come back as one shared object, so the dispatcher's same-device check is an identity test.
    """
    if value is None:
        return CPU
    key = value if isinstance(value, str) else (value.type, value.index) if isinstance(value, device) else None
    found = _INTERNED.get(key) if key is not None else None
    if found is not None:
        return found
    if isinstance(value, device):
        dev = value
    elif isinstance(value, int) and not isinstance(value, bool):
        dev = device("cuda", value)
    else:
        dev = device(value)
    if len(_INTERNED) < 64:
        _INTERNED[key if key is not None else (dev.type, dev.index)] = dev
    return dev
