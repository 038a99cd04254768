"""Hostile files: a pickle whose ``__reduce__`` runs a shell command, and pickles that try to misuse the
allow-listed names, must be refused without running anything."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest

import ember
from tests.oracle import torch


class Evil:
    """Unpickling this runs ``touch <marker>`` through os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def touch(path: str) -> str:
    with open(path, "w"):
        pass
    return path


class Touch:
    """Unpickling this creates ``path`` (harmlessly) to show that weights_only=False runs pickled code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (touch, (self.path,))


def torch_style_zip(path, pickle_bytes: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/version", "3\n")
    return path


REFUSED_SYSTEM = r"refused global '(posix|nt|os)\.system': it is not on the allow-list"


@pytest.mark.parametrize("weights_only", [True, False])
@pytest.mark.parametrize("fmt", [True, False], ids=["zip", "legacy"])
def test_torch_save_of_a_malicious_object(tmp_path, fmt, weights_only):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(2), "payload": Evil(marker)}, path, _use_new_zipfile_serialization=fmt)
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_SYSTEM):
        ember.load(path, weights_only=weights_only)
    assert not marker.exists()


def test_hand_made_torch_zip_with_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    path = torch_style_zip(tmp_path / "evil.pt", pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_SYSTEM):
        ember.load(path)
    path = torch_style_zip(tmp_path / "evil4.pt", pickle.dumps([Evil(marker)], protocol=4))
    with pytest.raises(pickle.UnpicklingError, match=REFUSED_SYSTEM):
        ember.load(path)
    assert not marker.exists()


def test_ember_file_with_malicious_pickle(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    ember.save({"w": ember.ones(2), "payload": Evil(marker)}, path)
    with pytest.raises(pickle.UnpicklingError, match=r"weights_only=True refuses this file: it holds arbitrary Python "
                                                     r"objects \(the object\['payload'\] is a .*Evil\)"):
        ember.load(path)
    with pytest.raises(pickle.UnpicklingError):
        ember.load(path, weights_only=None)
    assert not marker.exists()


def test_weights_only_false_is_the_users_explicit_choice(tmp_path):
    created = tmp_path / "created"
    buffer = io.BytesIO()
    ember.save({"payload": Touch(created)}, buffer)
    buffer.seek(0)
    assert ember.load(buffer, weights_only=False) == {"payload": str(created)}
    assert created.exists()


# Opcode-level attacks on names that are allowed: each must be refused, and ember's objects stay intact.
PROTO = b"\x80\x02"
ATTACKS = {
    "build-on-dtype": (PROTO + b"ctorch\nfloat32\nN}X\x08\x00\x00\x00itemsizeKds\x86b.", r"BUILD on a dtype refused"),
    "setitem-on-class": (PROTO + b"ccollections\nOrderedDict\nX\x01\x00\x00\x00kK\x01s.", r"SETITEM on a type refused"),
    "call-a-dtype": (PROTO + b"ctorch\nfloat32\n)R.", r"REDUCE of ember.float32 refused"),
    "codecs-other-codec": (PROTO + b"c_codecs\nencode\nX\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R.",
                           r"only as latin-1"),
    "non-storage-persistent-id": (PROTO + b"X\x03\x00\x00\x00abcQ.", r"only storages may be persistent ids"),
    "stack-global": (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", r"refused global 'os.system'"),
    "inst-opcode": (PROTO + b"(ios\nsystem\n.", r"unsupported pickle opcode b'i'"),
    "ext-opcode": (PROTO + b"\x82\x01.", r"unsupported pickle opcode b'\\x82'"),
    "stack-underflow": (PROTO + b"R.", r"malformed pickle data"),
    "truncated": (PROTO + b"X\xff\x00\x00\x00ab", r"truncated"),
    "negative-length": (PROTO + b"T\xff\xff\xff\xff.", r"negative length"),
    "tensor-from-non-storage": (PROTO + b"ctorch._utils\n_rebuild_tensor_v2\n(K\x00K\x00)))\x89}tR.",
                                r"rebuilt from a storage"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_opcode_level_attacks_are_refused(tmp_path, name):
    payload, message = ATTACKS[name]
    path = torch_style_zip(tmp_path / f"{name}.pt", payload)
    with pytest.raises(pickle.UnpicklingError, match=message):
        ember.load(path)
    assert ember.float32.itemsize == 4 and ember.float32.name == "float32"
    assert not hasattr(__import__("collections").OrderedDict, "k")
