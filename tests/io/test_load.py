"""What every format shares: file objects, telling formats apart, load_state_dict, and clear
errors for damaged xpnet files."""
import io
import json
import re
import zipfile

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.testing import assert_close


def test_save_and_load_take_open_binary_files(tmp_path, device):
    model = nn.Linear(3, 2, device=device)
    with open(tmp_path / "m.npz", "wb") as f:
        xpnet.save({"model": model.state_dict(), "epoch": 2}, f)
        assert not f.closed                   # the caller's file stays open, as with torch.save
    with open(tmp_path / "m.npz", "rb") as f:
        state = xpnet.load(f, device=device)
    assert state["epoch"] == 2
    assert_close(state["model"]["weight"], model.weight, rtol=0, atol=0)
    buffer = io.BytesIO()
    xpnet.save(model.state_dict(), buffer, format="safetensors")
    buffer.seek(0)
    assert_close(xpnet.load(buffer, device=device)["bias"], model.bias, rtol=0, atol=0)


def test_a_stream_that_cannot_seek_is_read_into_memory(tmp_path):
    xpnet.save({"w": np.arange(3.0)}, tmp_path / "w.npz")

    class Pipe(io.RawIOBase):   # a pipe or socket: read() but no seek()
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, buffer):
            chunk = self.data.read(len(buffer))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    pipe = Pipe((tmp_path / "w.npz").read_bytes())
    assert xpnet.load(pipe)["w"].tolist() == [0.0, 1.0, 2.0]


def test_the_format_comes_from_the_contents_not_the_name(tmp_path):
    state = {"w": np.ones((2, 2), np.float32)}
    xpnet.save(state, tmp_path / "named.safetensors")
    (tmp_path / "named.safetensors").rename(tmp_path / "renamed.bin")
    xpnet.save(state, tmp_path / "ckpt.npz")
    (tmp_path / "ckpt.npz").rename(tmp_path / "ckpt.safetensors")
    for name in ("renamed.bin", "ckpt.safetensors"):
        assert xpnet.load(tmp_path / name)["w"].tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_load_state_dict_returns_a_flat_dict_of_tensors_from_any_format(tmp_path, device):
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    for name in ("m.npz", "m.safetensors"):
        xpnet.save(model.state_dict(), tmp_path / name)
        state = xpnet.io.load_state_dict(tmp_path / name, device=device)
        assert list(state) == list(model.state_dict())
        assert all(isinstance(v, xpnet.Tensor) and v.device == device for v in state.values())


def test_load_state_dict_refuses_a_whole_checkpoint_and_says_which_key_to_pick(tmp_path):
    xpnet.save({"model": nn.Linear(2, 2).state_dict(), "epoch": 3}, tmp_path / "c.npz")
    with pytest.raises(ValueError, match=rf"load_state_dict: {tmp_path / 'c.npz'} must hold a "
                                         r"flat dict of name -> tensor, but it holds a dict "
                                         r"with keys \['model', 'epoch'\]; pick it out: "
                                         r"xpnet.load\(...\)\['model'\]"):
        xpnet.io.load_state_dict(tmp_path / "c.npz")
    xpnet.save([np.ones(1)], tmp_path / "l.npz")
    with pytest.raises(ValueError, match=r"must hold a flat dict of name -> tensor, got list"):
        xpnet.io.load_state_dict(tmp_path / "l.npz")


@pytest.mark.parametrize("obj, target, error, message", [
    (nn.Linear(2, 2), "m.npz", TypeError, r"save: got a whole Linear at '<root>'; xpnet saves no "
                                          r"code, only weights and state: save "
                                          r"obj.state_dict\(\)"),
    ({"model": nn.Linear(2, 2)}, "m.npz", TypeError, r"got a whole Linear at 'model'"),
    (nn.Linear(2, 2), "m.pt", TypeError, r"save: got a whole Linear at '<root>'"),
    ({"w": [np.ones(1), {1.5: 2}]}, "m.pth", TypeError,
     r"save: dict keys must be str or int, got float 1.5 at 'w/1'"),
    ({True: np.ones(1)}, "m.npz", TypeError, r"dict keys must be str or int, got bool True"),
])
def test_what_cannot_be_saved_is_refused_and_nothing_is_written(tmp_path, obj, target, error,
                                                                message):
    with pytest.raises(error, match=message):
        xpnet.save(obj, tmp_path / target)
    assert list(tmp_path.iterdir()) == []


def test_save_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"format must be one of \('npz', 'safetensors', 'pt'\), "
                                         r"got 'pickle'"):
        xpnet.save({}, tmp_path / "x", format="pickle")
    with pytest.raises(TypeError, match=r"metadata= is stored only in .safetensors files"):
        xpnet.save({}, tmp_path / "x.npz", metadata={"a": "b"})


def test_a_file_opened_in_text_mode_or_a_non_file_is_refused(tmp_path):
    xpnet.save({"a": 1}, tmp_path / "a.npz")
    with open(tmp_path / "a.npz", encoding="latin1") as f:
        with pytest.raises(TypeError, match=r"a.npz is open in text mode; open it with 'rb'"):
            xpnet.load(f)
    with pytest.raises(TypeError, match=r"load: expected a path or an open binary file, got "
                                        r"int"):
        xpnet.load(3)


def xpnet_npz(path, tree, arrays=None, meta=None):
    """An .npz laid out as xpnet.save lays it out, with any metadata."""
    meta = meta if meta is not None else {"format": "xpnet", "version": 1, "tree": tree}
    text = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    np.savez(path, __xpnet__=np.frombuffer(text, np.uint8), **(arrays or {}))
    return path


@pytest.mark.parametrize("tree, arrays, meta, message", [
    ({"dict": 5}, {}, None, r"a 'dict' node must hold a list, got int"),
    ({"dict": [["a", 1, 2]]}, {}, None, r"a 'dict' node must hold \[key, value\] pairs with str "
                                        r"or int keys, got \[\"a\", 1, 2\]"),
    ({"dict": [[1.5, 1]]}, {}, None,
     r"a 'dict' node must hold \[key, value\] pairs with str or int keys, got \[1.5, 1\]"),
    ({"dict": [["m", {"list": "abc"}]]}, {}, None, r"a 'list' node must hold a list, got str "
                                                   r"at 'm'"),
    ({"dict": [["m", {"set": []}]]}, {}, None, r"unknown metadata node 'set' at 'm'"),
    ({"dict": [["m", {"list": [], "tuple": []}]]}, {}, None,
     r"a metadata node must be a value or a one-key object .* at 'm'"),
    ({"dict": [["m", [1, 2]]]}, {}, None, r"a metadata node must be a value or a one-key object "
                                          r".*got \[1, 2\] at 'm'"),
    ({"dict": [["w", {"array": 3}]]}, {}, None, r"an array reference must be a member name, "
                                                r"got int 3 at 'w'"),
    ({"array": "gone"}, {}, None, r"the array 'gone' named in its metadata is missing"),
    (None, {}, {"format": "xpnet", "version": "1", "tree": None},
     r"its metadata must hold an int 'version' and a 'tree', got version '1'"),
    (None, {}, {"format": "xpnet", "version": 1}, r"its metadata must hold an int 'version' "
                                                          r"and a 'tree', got version 1 and keys "
                                                          r"\['format', 'version'\]"),
    (None, {}, b"{not json", r"its metadata cannot be read \(JSONDecodeError\)"),
    (None, {}, b"\xff\xfe", r"its metadata cannot be read \(UnicodeDecodeError\)"),
])
def test_damaged_metadata_names_the_file_and_the_key_path(tmp_path, tree, arrays, meta, message):
    path = xpnet_npz(tmp_path / "bad.npz", tree, arrays, meta)
    with pytest.raises(ValueError, match=rf"load: {path} is damaged: {message}"):
        xpnet.load(path)


@pytest.mark.parametrize("array", [np.array(["a", "bc"]), np.array([b"x"]),
                                   np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_an_array_of_strings_or_dates_in_a_file_is_refused_by_key(tmp_path, array):
    path = xpnet_npz(tmp_path / "s.npz", {"dict": [["w", {"array": "w"}]]}, {"w": array})
    with pytest.raises(ValueError, match=rf"load: {path}: the array 'w' has dtype "
                                         rf"{re.escape(str(array.dtype))}; "
                                         r"xpnet reads only bool, integer, float and complex"):
        xpnet.load(path)


@pytest.mark.parametrize("content, message", [
    (b"", r"is not an xpnet file .*; it is empty"),
    (b"epoch 3, loss 0.1\n", r"is not an xpnet file .*; it looks like text"),
    (b"PK\x03\x04" + b"\0" * 30, r"is damaged \(truncated or corrupted: BadZipFile\)"),
    (b"\x80\x04\x95", r"is not an xpnet file .*looks like a Python pickle, which xpnet never "
                      r"loads"),
    (b"\x1f\x8b\x08\x00", r"is not an xpnet file .*gzip-compressed"),
])
def test_files_of_other_kinds_are_named_with_what_they_look_like(tmp_path, content, message):
    path = tmp_path / "other.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"load: {path} {message}"):
        xpnet.load(path)


def test_a_zip_that_is_neither_ours_nor_torchs_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=r"z.zip is not an xpnet file"):
        xpnet.load(tmp_path / "z.zip")
