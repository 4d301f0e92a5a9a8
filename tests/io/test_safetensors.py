import io
import json
import struct

import numpy as np
import pytest

import xpnet
from xpnet import nn
from xpnet.io import safetensors
from xpnet.testing import assert_close

DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32",
          "int16": "I16", "int8": "I8", "uint8": "U8", "uint16": "U16", "uint32": "U32",
          "uint64": "U64", "bool": "BOOL"}


def sample(dtype):
    values = np.arange(-3, 3).reshape(2, 3)
    return (values > 0) if dtype == "bool" else (values % 7).astype(dtype) \
        if dtype.startswith("u") else values.astype(dtype) / (3 if "float" in dtype else 1)


def test_every_dtype_round_trips_onto_the_device(tmp_path, device):
    # array-api-strict (both of its devices) has no float16
    names = [n for n in DTYPES if not (n == "float16" and device.startswith("strict"))]
    state = {name: xpnet.tensor(sample(name), device=device) for name in names}
    state["scalar"] = xpnet.tensor(np.float32(2.5), device=device)
    state["empty"] = xpnet.zeros(0, 4, device=device)
    xpnet.save(state, tmp_path / "all.safetensors")
    loaded = xpnet.load(tmp_path / "all.safetensors", device=device)
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].device == device and loaded[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy(), err_msg=key)


def header(path):
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return size, json.loads(raw[8:8 + size]), raw[8 + size:]


def test_the_file_is_a_length_a_json_header_and_little_endian_data(tmp_path):
    weight = np.array([[1.0, -2.0, 3.5]], dtype=np.float32)
    xpnet.save({"w": weight, "n": np.array([7], dtype=">i8")}, tmp_path / "m.safetensors",
               metadata={"format": "pt", "epoch": "3"})
    size, head, data = header(tmp_path / "m.safetensors")
    assert size % 8 == 0
    assert head == {"__metadata__": {"format": "pt", "epoch": "3"},
                    "w": {"dtype": "F32", "shape": [1, 3], "data_offsets": [0, 12]},
                    "n": {"dtype": "I64", "shape": [1], "data_offsets": [12, 20]}}
    assert data == weight.astype("<f4").tobytes() + (7).to_bytes(8, "little")
    with open(tmp_path / "m.safetensors", "rb") as f:
        _, metadata = safetensors.read(f, "m")
    assert metadata == {"format": "pt", "epoch": "3"}


def test_the_safetensors_package_reads_what_xpnet_writes_and_the_other_way():
    st = pytest.importorskip("safetensors.numpy")
    state = {name: sample(name) for name in DTYPES}
    buffer = io.BytesIO()
    xpnet.save(state, buffer, format="safetensors")
    theirs = st.load(buffer.getvalue())
    assert sorted(theirs) == sorted(state)
    for key, value in state.items():
        np.testing.assert_array_equal(theirs[key], value, err_msg=key)
    ours = xpnet.load(io.BytesIO(st.save(state)))
    for key, value in state.items():
        np.testing.assert_array_equal(ours[key].numpy(), value, err_msg=key)


def test_bfloat16_is_read_as_float32_exactly_and_written_back_as_bf16(tmp_path):
    bits = np.array([0x3FC0, 0xC010, 0x7F7F, 0x0001], dtype="<u2")   # 1.5, -2.25, max, tiny
    head = json.dumps({"b": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(head)) + head + bits.tobytes())
    value = xpnet.load(tmp_path / "b.safetensors")["b"]
    assert xpnet.backend.dtype_name(value.dtype) == "float32"
    np.testing.assert_array_equal(value.numpy().view("<u4"), bits.astype("<u4") << 16)
    torch_device = xpnet.backend.resolve_or_skip("torch").name
    as_bf16 = xpnet.tensor(value.numpy(), device=torch_device).to(dtype="bfloat16")
    xpnet.save({"b": as_bf16}, tmp_path / "again.safetensors")
    _, head, data = header(tmp_path / "again.safetensors")
    assert head["b"]["dtype"] == "BF16" and data == bits.tobytes()


def test_tied_weights_are_written_under_both_names_and_load_back_tied(tmp_path, device):
    class Tied(nn.Module):
        def __init__(self):
            self.emb = nn.Embedding(5, 2, device=device)
            self.head = nn.Linear(2, 5, bias=False, device=device)
            self.head.weight = self.emb.weight

    source = Tied()
    xpnet.save(source.state_dict(), tmp_path / "t.safetensors")
    assert list(header(tmp_path / "t.safetensors")[1]) == ["emb.weight", "head.weight"]
    xpnet.manual_seed(1)
    model = Tied()
    model.load_state_dict(xpnet.load(tmp_path / "t.safetensors", device=device))
    assert model.head.weight is model.emb.weight
    assert_close(model.head.weight, source.emb.weight, rtol=0, atol=0)


@pytest.mark.parametrize("obj, kwargs, error, message", [
    ({"a": {"b": np.ones(1)}}, {}, TypeError, r"holds only tensors, got dict at 'a'"),
    ({"a": 1.0}, {}, TypeError, r"holds only tensors, got float at 'a'"),
    ([np.ones(1)], {}, TypeError, r"holds a flat dict of name -> tensor, got list"),
    ({1: np.ones(1)}, {}, TypeError, r"names its tensors with strings .*got int 1"),
    ({"__metadata__": np.ones(1)}, {}, TypeError, r"other than '__metadata__'"),
    ({"c": np.ones(2, np.complex64)}, {}, TypeError, r"'c' has dtype complex64, which "
                                                     r"safetensors cannot hold"),
    ({"s": np.array(["x"])}, {}, TypeError, r"the array at 's' has dtype <U1"),
    ({"a": np.ones(1)}, {"metadata": {"epoch": 3}}, TypeError,
     r"metadata must be a dict of str -> str"),
])
def test_what_safetensors_cannot_hold_is_refused_and_nothing_is_written(
        tmp_path, obj, kwargs, error, message):
    with pytest.raises(error, match=message):
        xpnet.save(obj, tmp_path / "x.safetensors", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_a_whole_module_is_refused_with_a_pointer_to_its_state_dict(tmp_path):
    with pytest.raises(TypeError, match=r"save: got a whole Linear at '<root>'; xpnet saves no "
                                        r"code, .*xpnet.save\(model.state_dict\(\), path\)"):
        xpnet.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def raw_file(head, data=b"", size=None):
    raw = head if isinstance(head, bytes) else json.dumps(head).encode()
    return struct.pack("<Q", len(raw) if size is None else size) + raw + data


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize("content, message", [
    (b"\x10\x00\x00", r"it holds 3 bytes, fewer than the 8 of the header length \(truncated\?\)"),
    (raw_file(b'{"a": 1}', size=40), r"the header should be 40 bytes, the file ends after 8 "
                                     r"\(truncated\)"),
    (raw_file(b"{not json"), r"its header is not valid JSON"),
    (raw_file(b"\xff\xfe{}"), r"its header is not valid JSON"),
    (raw_file([1, 2]), r"its header must be a JSON object, got list"),
    (raw_file({"a": 5}), r"tensor 'a' must be an object with 'dtype', 'shape' and "
                         r"'data_offsets', got 5"),
    (raw_file({"a": {**F32, "dtype": "F8_E4M3"}}, b"\0" * 8),
     r"tensor 'a' has dtype 'F8_E4M3'; xpnet reads F64, F32, F16, BF16"),
    (raw_file({"a": {**F32, "shape": 2}}, b"\0" * 8),
     r"tensor 'a': shape must be a list of non-negative ints, got 2"),
    (raw_file({"a": {**F32, "shape": [-2]}}, b"\0" * 8),
     r"tensor 'a': shape must be a list of non-negative"),
    (raw_file({"a": {**F32, "data_offsets": [8, 0]}}, b"\0" * 8),
     r"tensor 'a': data_offsets must be \[begin, end\] with 0 <= begin <= end, got \[8, 0\]"),
    (raw_file({"a": {**F32, "data_offsets": "0-8"}}, b"\0" * 8),
     r"tensor 'a': data_offsets must be"),
    (raw_file({"a": {**F32, "data_offsets": [0, 12]}}, b"\0" * 12),
     r"tensor 'a' \(F32, shape \(2,\)\) needs 8 bytes, its data_offsets \[0, 12\] span 12"),
    (raw_file({"a": F32}, b"\0" * 5), r"the tensors need 8 bytes of data, the file holds 5 "
                                      r"\(truncated\)"),
    (raw_file({"a": F32, "b": {**F32, "data_offsets": [4, 12]}}, b"\0" * 12),
     r"tensor 'b' \(bytes \[4, 12\)\) overlaps the tensor before it, which ends at byte 8"),
    (raw_file({"a": {**F32, "data_offsets": [4, 12]}}, b"\0" * 12),
     r"bytes \[0, 4\) of the data belong to no tensor"),
    (raw_file({"a": F32}, b"\0" * 10), r"the file holds 2 bytes after the last tensor's data"),
    (raw_file({"__metadata__": {"epoch": 3}}), r"'__metadata__' must be an object of str -> "
                                               r"str, got \{\"epoch\": 3\}"),
    (raw_file({"__metadata__": [1]}), r"'__metadata__' must be an object of str -> str"),
    (struct.pack("<Q", 2 ** 40) + b"{}", r"its header length is 1099511627776 bytes, more than"),
], ids=lambda v: "" if isinstance(v, bytes) else v[:30])
def test_a_malformed_safetensors_file_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"load: {path} is not a valid safetensors file: "
                                         rf"{message}"):
        xpnet.load(path)
