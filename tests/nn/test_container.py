"""Sequential, ModuleList, ModuleDict and ParameterList against torch.nn: the same operations give the same
keys, order, lengths, errors and repr."""

from __future__ import annotations

from collections import OrderedDict

import pytest

import ember
import ember.nn  # noqa: F401 -- makes ember.nn an attribute, as ember's own top level will
from tests.oracle import torch


def tagged(lib, tag):
    """A module whose repr names it, so that order and identity show in keys and repr."""

    class Tag(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.tag = tag

        def forward(self, x):
            return x * 2 + tag

        def extra_repr(self):
            return f"tag={tag}"

    return Tag()


def seq(lib, n=4):
    return lib.nn.Sequential(*(tagged(lib, i) for i in range(n)))


def layout(m):
    return [(k, getattr(v, "tag", None)) for k, v in m._modules.items()]


def tags(modules):
    return [m.tag for m in modules]


def both(fn, raises=False):
    """Run ``fn(lib)`` with ember and torch and check both give the same value, or (with ``raises``) both raise
    the same error type; returns the value, or ``(error type, message)``."""
    results = []
    for lib in (ember, torch):
        try:
            value = fn(lib)
        except Exception as exc:  # noqa: BLE001 -- compared across libraries below
            if not raises:
                raise
            results.append((type(exc), str(exc)))
        else:
            assert not raises, f"{lib.__name__} did not raise"
            results.append(value)
    assert results[0] == results[1]
    return results[0]


@pytest.mark.parametrize("idx", [0, 2, -1, -4, slice(1, 3), slice(None, None, -1), slice(1, None, 2), slice(5, 9)])
def test_sequential_getitem(idx):
    def run(lib):
        item = seq(lib)[idx]
        return layout(item) if isinstance(idx, slice) else item.tag

    both(run)


@pytest.mark.parametrize("idx", [4, -5])
def test_sequential_index_error(idx):
    assert both(lambda lib: seq(lib)[idx], raises=True) == (IndexError, f"index {idx} is out of range")


def test_sequential_mutations():
    def run(lib):
        s = seq(lib)
        out = [len(s), tags(s)]
        s.append(tagged(lib, 10))
        s[1] = tagged(lib, 11)
        s[-1] = tagged(lib, 12)
        out.append(layout(s))
        del s[0]
        out.append(layout(s))
        del s[1:3]
        out.append(layout(s))
        s.insert(1, tagged(lib, 13))
        s.insert(-1, tagged(lib, 14))
        s.extend([tagged(lib, 15)])
        out.append(layout(s))
        out.append(layout(s + seq(lib, 2)))
        out.append(s.append(tagged(lib, 16)) is s)
        return out

    both(run)


def test_sequential_ordered_dict_forward_and_repr():
    def run(lib):
        s = lib.nn.Sequential(OrderedDict([("first", tagged(lib, 1)), ("second", tagged(lib, 2))]))
        return layout(s), layout(s[1:]), s(lib.ones(2)).tolist(), repr(s), s.first.tag

    both(run)
    assert both(lambda lib: repr(seq(lib)[2:])).startswith("Sequential(\n  (2): Tag(tag=2)")


def test_module_list():
    def run(lib):
        ml = lib.nn.ModuleList([tagged(lib, i) for i in range(3)])
        out = [len(ml), tags(ml), ml[-1].tag, layout(ml[::2])]
        ml.append(tagged(lib, 3))
        ml.extend([tagged(lib, 4), tagged(lib, 5)])
        ml += [tagged(lib, 6)]
        ml.insert(1, tagged(lib, 7))
        ml[0] = tagged(lib, 8)
        out.append(layout(ml))
        out.append(ml.pop(2).tag)
        del ml[-1]
        del ml[1:3]
        out.append(layout(ml))
        out.append(layout(ml + lib.nn.ModuleList([tagged(lib, 9)])))
        out.append([n for n, _ in lib.nn.Sequential(ml).named_modules()])
        out.append(repr(lib.nn.ModuleList([lib.nn.Sequential(), lib.nn.Sequential(), tagged(lib, 1)])))
        return out

    both(run)
    out_of_range = (IndexError, "index 1 is out of range")
    assert both(lambda lib: lib.nn.ModuleList([tagged(lib, 0)])[1], raises=True) == out_of_range
    assert both(lambda lib: lib.nn.ModuleList().extend(3), raises=True)[0] is TypeError


def test_module_dict():
    def run(lib):
        md = lib.nn.ModuleDict({"b": tagged(lib, 1), "a": tagged(lib, 2)})
        out = [list(md), list(md.keys()), tags(md.values()), [(k, v.tag) for k, v in md.items()], len(md), "a" in md]
        md["c"] = tagged(lib, 3)
        md.update([("d", tagged(lib, 4))])
        md.update(lib.nn.ModuleDict({"a": tagged(lib, 5)}))
        out.append(layout(md))
        out.append(md.pop("b").tag)
        del md["c"]
        out.append(layout(md))
        out.append(repr(md))
        md.clear()
        out.append(len(md))
        return out

    both(run)
    assert both(lambda lib: lib.nn.ModuleDict().update([("a", tagged(lib, 0), 1)]), raises=True)[0] is ValueError
    assert both(lambda lib: lib.nn.ModuleDict().update([3]), raises=True)[0] is TypeError
    assert both(lambda lib: lib.nn.ModuleDict({"a.b": tagged(lib, 0)}), raises=True)[0] is KeyError


def test_parameter_list():
    def run(lib):
        pl = lib.nn.ParameterList([lib.zeros(2), lib.nn.Parameter(lib.ones(3), requires_grad=False)])
        pl.append(lib.full((1,), 5.0))
        pl.extend([lib.zeros(2, 2)])
        pl += [lib.zeros(4)]
        pl[0] = lib.ones(2)
        out = [len(pl), [tuple(p.shape) for p in pl], [p.requires_grad for p in pl], pl[-3].tolist()]
        out.append([type(p).__name__ for p in pl])
        out.append([(n, tuple(p.shape)) for n, p in pl.named_parameters()])
        out.append([tuple(p.shape) for p in pl[1:4:2]])
        out.append(list(lib.nn.Sequential(lib.nn.ModuleList([lib.nn.Module()])).state_dict()))
        out.append(list(pl.state_dict()))
        return out

    both(run)
    out_of_range = (IndexError, "index 1 is out of range")
    assert both(lambda lib: lib.nn.ParameterList([lib.zeros(1)])[1], raises=True) == out_of_range
    assert both(lambda lib: lib.nn.ParameterList().extend(lib.zeros(2)), raises=True)[0] is TypeError
    assert both(lambda lib: lib.nn.ParameterList()(), raises=True)[0] is RuntimeError


def test_parameter_list_shares_given_parameters():
    p = ember.nn.Parameter(ember.zeros(2))
    pl = ember.nn.ParameterList([p])
    assert pl[0] is p and list(pl.parameters())[0] is p
