"""A CUDA kernel's text run on the CPU: a ``Source`` of :mod:`xpnet.cuda.elementwise` compiled by
the host's C++ compiler against a stand-in for CuPy's ``CArray`` (its documented interface:
``shape()``, ``strides()`` in bytes, ``operator[]`` with a multi-dimensional index), its body run
for i in range(size), as ``cupy.ElementwiseKernel`` runs it on the GPU."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

_C_TYPES = {"int64": ("long long", ctypes.c_longlong), "uint64": ("unsigned long long",
                                                                   ctypes.c_ulonglong),
            "uint32": ("unsigned int", ctypes.c_uint)}
_T = {np.dtype(np.float64): "double", np.dtype(np.float32): "float"}

_PRELUDE = """
#include <cmath>
#include <cstddef>
using std::tanh;
#define __device__
template <typename T, int N> struct CArray {
    T* data_; const long long* shape_; const long long* strides_;
    ptrdiff_t shape_copy_[N];
    const ptrdiff_t* shape() const { return shape_copy_; }
    template <typename Int> T& operator[](const Int (&idx)[N]) const {
        char* p = (char*)data_;
        for (int d = 0; d < N; ++d) p += idx[d] * strides_[d];
        return *(T*)p;
    }
};
"""


def build(source, tmp_path, dtype=np.float64, ndims=None):
    """``run(size, *args)``: the kernel of ``source`` with T = ``dtype``; raw arrays of the
    ``ndims`` given per name, other outputs indexed by i, other inputs scalars of their declared
    type."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler to run the CUDA kernel text on the CPU")
    ndims = ndims or {}
    c_params, setup, argtypes, kinds = [], [], [ctypes.c_longlong], []
    for type_, name, raw, output in source.params():
        c_type = "T" if type_ == "T" else _C_TYPES[type_][0]
        if raw:
            n = ndims[name]
            c_params.append(f"{c_type}* {name}_data, const long long* {name}_shape, "
                            f"const long long* {name}_strides")
            setup.append(f"CArray<{c_type}, {n}> {name} = {{{name}_data, {name}_shape, "
                         f"{name}_strides}}; for (int d = 0; d < {n}; ++d) "
                         f"{name}.shape_copy_[d] = {name}_shape[d];")
            argtypes += [ctypes.c_void_p] * 3
            kinds.append("raw")
        elif output:
            c_params.append(f"{c_type}* {name}_data")
            setup.append(f"#define {name} ({name}_data[i])")
            argtypes.append(ctypes.c_void_p)
            kinds.append("array")
        else:
            c_params.append(f"{c_type} {name}")
            argtypes.append(_C_TYPES[type_][1])
            kinds.append("scalar")
    prologue = "\n".join(line for line in setup if not line.startswith("#define"))
    defines = "\n".join(line for line in setup if line.startswith("#define"))
    text = (f"{_PRELUDE}\ntypedef {_T[np.dtype(dtype)]} T;\n{source.preamble}\n{defines}\n"
            f"extern \"C\" void run(long long size, {', '.join(c_params)}) {{\n{prologue}\n"
            f"for (ptrdiff_t i = 0; i < size; ++i) {{\n{source.body}\n}}\n}}\n")
    src = tmp_path / f"{source.name}_{np.dtype(dtype)}.cpp"
    src.write_text(text)
    lib = src.with_suffix(".so")
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True,
                   capture_output=True)
    function = ctypes.CDLL(str(lib)).run
    function.argtypes, function.restype = argtypes, None

    def run(size, *args):
        keep, values = [], []
        for kind, arg in zip(kinds, args):
            if kind == "raw":
                meta = [np.asarray(arg.shape, np.int64), np.asarray(arg.strides, np.int64)]
                keep += meta
                values += [arg.ctypes.data, meta[0].ctypes.data, meta[1].ctypes.data]
            elif kind == "array":
                assert arg.flags.c_contiguous
                values.append(arg.ctypes.data)
            else:
                values.append(arg)
        function(size, *values)
    return run
