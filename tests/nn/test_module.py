"""nn.Module contract against torch.nn.Module: the same small modules built in both libraries (only Parameter,
buffers and containers) must give the same names, keys, repr, errors, conversions, hooks and gradients."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import ember
import ember.nn  # noqa: F401 -- makes ember.nn an attribute, as ember's own top level will
from tests.oracle import assert_close, torch


def e(t):
    """An ember copy of a torch tensor."""
    return ember.tensor(t.detach().numpy())


def build(lib):
    """A two-level model: a block with a weight, an optional bias, a buffer and a non-persistent buffer."""
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, n_in, n_out, bias=True):
            super().__init__()
            self.n_in, self.n_out = n_in, n_out
            self.weight = nn.Parameter(lib.ones(n_out, n_in) * 0.5)
            if bias:
                self.bias = nn.Parameter(lib.zeros(n_out))
            else:
                self.register_parameter("bias", None)
            self.register_buffer("count", lib.zeros((), dtype=lib.int64))
            self.register_buffer("scale", lib.ones(n_out))
            self.register_buffer("cache", lib.zeros(2), persistent=False)

        def forward(self, x):
            y = x @ self.weight.t() * self.scale
            return y if self.bias is None else y + self.bias

        def extra_repr(self):
            return f"in_features={self.n_in}, out_features={self.n_out}, bias={self.bias is not None}"

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(Block(4, 3), Block(3, 3, bias=False))
            self.heads = nn.ModuleDict({"a": Block(3, 2), "b": Block(3, 1)})
            self.extra = nn.ModuleList([Block(2, 2), Block(2, 2)])
            self.gain = nn.Parameter(lib.full((1,), 2.0))
            self.empty = None

        def forward(self, x):
            h = self.features(x)
            return self.heads["a"](h) * self.gain, self.heads["b"](h)

    return Net()


def randomize(tm, seed=0):
    """Random torch weights, so that loading them into ember is a real check."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn(p.shape, generator=g))


def loaded_pair(seed=0):
    tm, em = build(torch), build(ember)
    randomize(tm, seed)
    em.load_state_dict({k: e(v) for k, v in tm.state_dict().items()})
    return em, tm


def names(pairs):
    return [(n, tuple(v.shape)) if hasattr(v, "shape") else n for n, v in pairs]


def ember_text(text):
    return text.replace("torch.", "ember.")


def test_names_and_keys_match_torch():
    em, tm = build(ember), build(torch)
    assert names(em.named_parameters()) == names(tm.named_parameters())
    assert names(em.named_buffers()) == names(tm.named_buffers())
    assert [n for n, _ in em.named_children()] == [n for n, _ in tm.named_children()]
    assert [n for n, _ in em.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in em.named_modules(prefix="m")] == [n for n, _ in tm.named_modules(prefix="m")]
    local = {"prefix": "p", "recurse": False}
    assert names(em.named_parameters(**local)) == names(tm.named_parameters(**local))
    assert names(em.features.named_buffers(recurse=False)) == names(tm.features.named_buffers(recurse=False))
    assert names(em.state_dict().items()) == names(tm.state_dict().items())
    assert "features.0.cache" not in em.state_dict() and "features.0.cache" in dict(em.named_buffers())
    assert len(list(em.parameters())) == len(list(tm.parameters())) == 12
    assert len(list(em.buffers())) == len(list(tm.buffers()))
    assert len(list(em.children())) == 3 and len(list(em.modules())) == len(list(tm.modules()))


def test_forward_and_gradients_after_loading_torch_weights():
    em, tm = loaded_pair()
    xt = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    oe, ot = em(e(xt)), tm(xt)
    assert_close(oe, tuple(o.detach() for o in ot), atol=1e-5, rtol=1e-5)
    (oe[0].sum() + oe[1].sum()).backward()
    (ot[0].sum() + ot[1].sum()).backward()
    for (ne, pe), (nt, pt) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        assert ne == nt
        if pt.grad is None:  # the ModuleList is not used by forward
            assert pe.grad is None and ne.startswith("extra.")
        else:
            assert_close(pe.grad, pt.grad, atol=1e-5, rtol=1e-5)


def test_shared_parameters_and_modules_are_deduplicated():
    def make(lib):
        shared = lib.nn.Sequential()
        shared.w = lib.nn.Parameter(lib.zeros(2))
        root = lib.nn.Sequential(shared, shared)
        root.tied = shared.w
        return root

    em, tm = make(ember), make(torch)
    for kw in ({}, {"remove_duplicate": False}):
        assert names(em.named_parameters(**kw)) == names(tm.named_parameters(**kw))
        assert [n for n, _ in em.named_modules(**kw)] == [n for n, _ in tm.named_modules(**kw)]
    assert list(em.state_dict()) == list(tm.state_dict()) == ["tied", "0.w", "1.w"]
    assert len(list(em.parameters())) == 1 and len(list(em.children())) == 1


def test_state_dict_values_share_storage_and_keep_vars():
    em = build(ember)
    sd = em.state_dict()
    w = em.features[0].weight
    assert sd["features.0.weight"].data_ptr() == w.data_ptr()
    assert not sd["features.0.weight"].requires_grad
    assert type(sd["features.0.weight"]) is ember.Tensor
    kept = em.state_dict(keep_vars=True)
    assert kept["features.0.weight"] is w
    assert list(em.state_dict(prefix="model.")) == ["model." + k for k in sd]
    dest = {}
    with pytest.warns(FutureWarning, match="Positional args are being deprecated"):
        assert em.state_dict(dest, "m.", True) is dest
    assert dest["m.gain"] is em.gain and len(dest) == len(sd)


def test_load_state_dict_reports_keys_like_torch():
    em, tm = build(ember), build(torch)
    sd_t = tm.state_dict()
    del sd_t["gain"], sd_t["features.0.count"]
    sd_t["bogus"] = torch.zeros(1)
    sd_t["features.5.weight"] = torch.zeros(1)
    sd_t["extra.0.nope"] = torch.zeros(1)
    sd_e = {k: e(v) for k, v in sd_t.items()}
    re_, rt = em.load_state_dict(sd_e, strict=False), tm.load_state_dict(sd_t, strict=False)
    assert re_.missing_keys == rt.missing_keys and re_.unexpected_keys == rt.unexpected_keys
    assert re_ == (rt.missing_keys, rt.unexpected_keys)
    with pytest.raises(RuntimeError) as err_t:
        tm.load_state_dict(sd_t)
    with pytest.raises(RuntimeError) as err_e:
        em.load_state_dict(sd_e)
    assert str(err_e.value) == str(err_t.value)
    assert repr(em.load_state_dict(em.state_dict())) == "<All keys matched successfully>"


def test_load_state_dict_size_mismatch_message_and_no_partial_garbage():
    em, tm = build(ember), build(torch)
    sd_t = tm.state_dict()
    sd_t["heads.a.weight"] = torch.zeros(5, 3)
    with pytest.raises(RuntimeError) as err_t:
        tm.load_state_dict(sd_t)
    with pytest.raises(RuntimeError) as err_e:
        em.load_state_dict({k: e(v) for k, v in sd_t.items()})
    assert str(err_e.value) == ember_text(str(err_t.value))
    assert "size mismatch for heads.a.weight: copying a param with shape ember.Size([5, 3])" in str(err_e.value)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        em.load_state_dict([1, 2])


def test_load_state_dict_copies_in_place_without_grad_and_casts():
    em = build(ember)
    w = em.gain
    info = em.load_state_dict({**em.state_dict(), "gain": ember.tensor([3.0], dtype=ember.float64)})
    assert info.missing_keys == [] and em.gain is w and w.dtype == ember.float32
    assert w.grad_fn is None and w.is_leaf and w.requires_grad
    assert w.item() == 3.0
    em.load_state_dict({**em.state_dict(), "gain": ember.tensor([4.0])}, assign=True)
    assert em.gain is not w and isinstance(em.gain, ember.nn.Parameter) and em.gain.requires_grad
    assert em.gain.item() == 4.0


def test_train_eval_recurse():
    em, tm = build(ember), build(torch)
    for mode in (em.eval(), tm.eval()):
        assert all(not m.training for m in mode.modules())
    assert em.train() is em and all(m.training for m in em.modules())
    em.features.train(False)
    tm.train()
    tm.features.train(False)
    assert [m.training for m in em.modules()] == [m.training for m in tm.modules()]
    assert not em.features[1].training and em.heads.a.training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        em.train("yes")


@pytest.mark.parametrize("method, dtype", [("double", ember.float64), ("half", ember.float16),
                                           ("bfloat16", ember.bfloat16), ("float", ember.float32)])
def test_dtype_conversion_keeps_parameter_objects(method, dtype):
    em, tm = build(ember).double(), build(torch).double()
    before = list(em.parameters())
    assert getattr(em, method)() is em
    getattr(tm, method)()
    assert [p is q for p, q in zip(before, em.parameters(), strict=True)] == [True] * len(before)
    assert [str(p.dtype) for p in em.parameters()] == [ember_text(str(p.dtype)) for p in tm.parameters()]
    assert [str(b.dtype) for b in em.buffers()] == [ember_text(str(b.dtype)) for b in tm.buffers()]
    assert em.features[0].count.dtype == ember.int64
    assert all(isinstance(p, ember.nn.Parameter) and p.requires_grad for p in em.parameters())
    assert dtype in {p.dtype for p in em.parameters()}


def test_to_dtype_device_and_tensor():
    em, tm = loaded_pair()
    em.gain.grad = ember.ones(1)
    assert em.to(ember.float64) is em and em.gain.dtype == ember.float64 and em.gain.grad.dtype == ember.float64
    em.to("cpu", dtype=ember.float32)
    assert em.gain.dtype == ember.float32
    em.to(ember.zeros(1, dtype=ember.float16))
    tm.to(torch.zeros(1, dtype=torch.float16))
    dtypes_t = [ember_text(str(p.dtype)) for p in tm.state_dict().values()]
    assert [str(p.dtype) for p in em.state_dict().values()] == dtypes_t
    assert_close(em.heads.a.weight.detach(), tm.heads.a.weight.detach())
    assert em.cpu() is em and em.to(ember.device("cpu")) is em
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex dtypes, but got desired "
                                        "dtype=ember.int64"):
        em.to(ember.int64)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    em, tm = loaded_pair()
    for m, x in ((em, ember.ones(2, 4)), (tm, torch.ones(2, 4))):
        out = m(x)
        (out[0].sum() + out[1].sum()).backward()
        m.zero_grad(set_to_none=set_to_none)
    for pe, pt in zip(em.parameters(), tm.parameters(), strict=True):
        if set_to_none or pt.grad is None:
            assert pe.grad is None and pt.grad is None
        else:
            assert_close(pe.grad, pt.grad)
            assert not pe.grad.requires_grad
    em.zero_grad()
    assert all(p.grad is None for p in em.parameters())


def test_apply_order_and_requires_grad():
    seen_e, seen_t = [], []
    em, tm = build(ember), build(torch)
    assert em.apply(lambda m: seen_e.append(type(m).__name__)) is em
    tm.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_e == seen_t
    assert em.requires_grad_(False) is em and not any(p.requires_grad for p in em.parameters())
    em.requires_grad_()
    assert all(p.requires_grad for p in em.parameters())


def test_setattr_registration_and_deletion():
    nn = ember.nn
    m = nn.Module()
    m.p = nn.Parameter(ember.zeros(2))
    m.register_buffer("b", ember.ones(1))
    m.c = nn.Module()
    m.plain = 3
    assert list(m._parameters) == ["p"] and list(m._buffers) == ["b"] and list(m._modules) == ["c"]
    m.b = ember.zeros(3)
    assert m.b.shape == (3,) and "b" in m._buffers
    m.p = None
    m.c = None
    m.b = None
    assert m.p is None and m.c is None and m.b is None and list(m.parameters()) == [] and list(m.state_dict()) == []
    m.p = nn.Parameter(ember.zeros(1))
    m.b = nn.Parameter(ember.zeros(1))
    m.plain = nn.Module()
    assert "b" not in m._buffers and "b" in m._parameters and "plain" in m._modules and "plain" not in m.__dict__
    with pytest.raises(TypeError, match="as parameter 'p'"):
        m.p = nn.Module()
    del m.p
    m.p = nn.Module()
    assert "p" not in m._parameters and "p" in m._modules
    del m.p
    m.plain = nn.Parameter(ember.zeros(1))
    assert "plain" not in m._modules and "plain" in m._parameters
    m.plain = None
    m.plain = nn.Parameter(ember.zeros(1))
    assert "plain" not in m.__dict__ and "plain" in m._parameters
    m.register_buffer("nb", ember.zeros(1), persistent=False)
    m.c = nn.Module()
    del m.nb, m.plain, m.c
    assert "nb" not in m._buffers and "nb" not in m._non_persistent_buffers_set
    assert "plain" not in m._parameters and "c" not in m._modules
    with pytest.raises(AttributeError):
        del m.missing


def test_getattr_and_dir():
    em, tm = build(ember), build(torch)
    with pytest.raises(AttributeError) as err_e:
        _ = em.nope
    with pytest.raises(AttributeError) as err_t:
        _ = tm.nope
    assert str(err_e.value) == str(err_t.value) == "'Net' object has no attribute 'nope'"
    de, dt = set(dir(em)), set(dir(tm))
    for name in ("gain", "features", "heads", "extra", "forward", "training"):
        assert name in de and name in dt
    assert not any(k[0].isdigit() for k in dir(em.features))


def _error(fn):
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 -- the test compares whatever both libraries raise
        return type(exc), ember_text(str(exc))
    return None


@pytest.mark.parametrize("action", [
    lambda lib, m: m.register_parameter("a.b", None),
    lambda lib, m: m.register_parameter("", None),
    lambda lib, m: m.register_parameter(3, None),
    lambda lib, m: m.register_parameter("z", lib.zeros(1)),
    lambda lib, m: m.register_parameter("w", None),
    lambda lib, m: m.register_buffer("a.b", None),
    lambda lib, m: m.register_buffer("", None),
    lambda lib, m: m.register_buffer("q", 3),
    lambda lib, m: m.register_buffer("w", None),
    lambda lib, m: m.add_module("a.b", None),
    lambda lib, m: m.add_module("", None),
    lambda lib, m: m.add_module("q", 3),
    lambda lib, m: m.add_module("w", None),
    lambda lib, m: setattr(m, "p", lib.zeros(1)),
    lambda lib, m: setattr(m, "sub", 5),
    lambda lib, m: m(1),
    lambda lib, m: lib.nn.Module(3),
    lambda lib, m: lib.nn.Module(foo=3),
])
def test_registration_errors_match_torch(action):
    def make(lib):
        m = lib.nn.Module()
        m.w = 3
        m.p = lib.nn.Parameter(lib.zeros(1))
        m.sub = lib.nn.Module()
        return m

    err_e = _error(lambda: action(ember, make(ember)))
    err_t = _error(lambda: action(torch, make(torch)))
    assert err_e is not None and err_e[0] is err_t[0]
    assert err_e[1] == err_t[1].replace("torch Tensor", "ember Tensor")


def test_non_leaf_parameter_refused():
    m = ember.nn.Module()
    p = ember.nn.Parameter(ember.zeros(2))
    q = p * 2
    with pytest.raises(TypeError, match="cannot assign 'ember.FloatTensor' object to parameter 'q'"):
        m.register_parameter("q", q)


def test_forward_hooks_pre_hooks_and_handles():
    def run(lib):
        log = []
        m = build(lib)
        blk = m.heads["b"]
        h1 = blk.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = blk.register_forward_hook(lambda mod, args, out: log.append("late") or out + 1)
        h3 = blk.register_forward_hook(lambda mod, args, out: log.append("early"), prepend=True)
        h4 = blk.register_forward_pre_hook(lambda mod, args, kwargs: log.append(sorted(kwargs)), with_kwargs=True)
        h5 = blk.register_forward_hook(lambda mod, args, kwargs, out: log.append(("kw", len(args))), with_kwargs=True)
        x = lib.ones(2, 4)
        outs = [m(x)[1].detach().numpy().copy()]
        for h in (h1, h2):
            h.remove()
        outs.append(m(x)[1].detach().numpy().copy())
        h3.remove()
        h4.remove()
        with h5:
            m(x)
        m(x)
        return log, outs

    (log_e, outs_e), (log_t, outs_t) = run(ember), run(torch)
    assert log_e == log_t
    for a, b in zip(outs_e, outs_t, strict=True):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("lib", [ember, torch], ids=["ember", "torch"])
def test_always_call_hook_runs_when_forward_raises(lib):
    log = []

    class Bad(lib.nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m = Bad()
    m.register_forward_hook(lambda mod, args, out: log.append("always"), always_call=True)
    m.register_forward_hook(lambda mod, args, out: log.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(1)
    assert log == ["always"]


def test_repr_matches_torch():
    em, tm = build(ember), build(torch)
    assert repr(em) == repr(tm)
    assert repr(ember.nn.Sequential()) == repr(torch.nn.Sequential()) == "Sequential()"

    def lists(lib):
        blk = lib.nn.Sequential
        return lib.nn.ModuleList([blk(), blk(), blk(lib.nn.Module()), blk(), blk()])

    assert repr(lists(ember)) == repr(lists(torch))
    assert repr(ember.nn.ModuleList()) == "ModuleList()"
    pe = ember.nn.ParameterList([ember.zeros(2, 3), ember.zeros(2, dtype=ember.float64), "x"])
    pt = torch.nn.ParameterList([torch.zeros(2, 3), torch.zeros(2, dtype=torch.float64), "x"])
    assert repr(pe) == ember_text(repr(pt))
    assert repr(ember.nn.ParameterList([ember.zeros(1)])) == ember_text(repr(torch.nn.ParameterList([torch.zeros(1)])))


def test_parameter():
    data = ember.arange(6.0).reshape(2, 3)
    p = ember.nn.Parameter(data)
    assert isinstance(p, ember.Tensor) and p.requires_grad and p.is_leaf and p.data_ptr() == data.data_ptr()
    assert repr(p) == ember_text(repr(torch.nn.Parameter(torch.arange(6.0).reshape(2, 3))))
    assert not ember.nn.Parameter(data, requires_grad=False).requires_grad
    empty = ember.nn.Parameter()
    assert empty.shape == (0,) and empty.requires_grad
    assert type(p * 2) is ember.Tensor and type(p.detach()) is ember.Tensor
    for clone in (copy.deepcopy(p), pickle.loads(pickle.dumps(p))):
        assert type(clone) is ember.nn.Parameter and clone.requires_grad
        assert clone.data_ptr() != p.data_ptr() and clone.tolist() == p.tolist()
    with pytest.raises(TypeError, match="must be Tensor"):
        ember.nn.Parameter([1.0])


def test_module_deepcopy_and_pickle_keep_structure():
    em, _ = loaded_pair()
    other = copy.deepcopy(em)
    assert list(other.state_dict()) == list(em.state_dict())
    assert other.gain is not em.gain and isinstance(other.gain, ember.nn.Parameter)
    assert other(ember.ones(1, 4))[0].tolist() == em(ember.ones(1, 4))[0].tolist()
    seq = ember.nn.Sequential(ember.nn.ModuleDict({"a": ember.nn.ParameterList([ember.ones(2)])}))
    seq.register_buffer("nb", ember.zeros(1), persistent=False)
    back = pickle.loads(pickle.dumps(seq))
    assert list(back.state_dict()) == ["0.a.0"] and "nb" in back._non_persistent_buffers_set
    assert back[0]["a"][0].tolist() == [1.0, 1.0] and isinstance(back[0]["a"][0], ember.nn.Parameter)
