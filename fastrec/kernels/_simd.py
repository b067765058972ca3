"""Register-blocked float64 tiles written in LLVM vector IR, for the ALS solver's inner loops.

Numba compiles a plain loop nest such as ``gram[b, a] += buf[p, b] * buf[p, a]`` to vector
code, but it keeps the accumulators in memory (a load and a store of ``gram`` for every few
multiply-adds) and reaches about a third of the core's floating-point peak. The functions
here are Numba intrinsics that emit the loop themselves: a tile of ``R x 8V`` accumulators
stays in vector registers while the whole sum over ``p`` runs, so each step is ``V`` vector
loads, ``R`` broadcasts and ``R * V`` fused multiply-adds. At ``R, V = 8, 2`` (16 of the 32
AVX-512 registers) the Gram matrices of ALS run near the peak of an AVX-512 core.

The IR is generic (``<8 x double>`` and ``llvm.fma``), so LLVM lowers it to AVX-512, to two
AVX2 registers, or to four NEON registers as the host allows. Sixteen ``<8 x double>``
accumulators fill an AVX-512 register file but would spill on AVX2 (16 registers of four
doubles) or NEON, so :data:`WIDE_VECTORS` tells the callers which tiles fit: ``8 x 16`` and
``4 x 4`` dot tiles with 512-bit vectors, ``4 x 8`` and ``2 x 2`` otherwise. Every lane adds
its terms in the same fixed order, ``p = 0, 1, ...``, whatever the tile: the results depend
on the inputs only, never on the tile shape or the number of threads.

Arrays passed to these functions must be C-contiguous 2-D float64 arrays (checked at typing);
the caller guarantees the index ranges (no bounds checks: these are inner loops).
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_V8 = ir.VectorType(_F64, 8)
_I8P = ir.IntType(8).as_pointer()
# LLVM names overloaded intrinsics by their pointer type: ``p0`` with opaque pointers (LLVM 15
# and later, as Numba builds them now), ``p0i8`` with the typed pointers of older releases.
_PREFETCH = "llvm.prefetch.p0" if str(_I8P) == "ptr" else "llvm.prefetch.p0i8"


def _target_has_avx512() -> bool:
    """Whether Numba compiles for a CPU with 512-bit vectors (``NUMBA_CPU_FEATURES`` if set,
    else the host's)."""
    features = numba.config.CPU_FEATURES or llvm.get_host_cpu_features().flatten()
    return "+avx512f" in features.split(",")


#: True where Numba's target has 32 512-bit vector registers (AVX-512): the large tiles fit.
WIDE_VECTORS = _target_has_avx512()


def _is_matrix(ty) -> bool:
    return (
        isinstance(ty, types.Array)
        and ty.ndim == 2
        and ty.dtype == types.float64
        and ty.layout == "C"
    )


def _row_ptr(builder, arr, row):
    """``double*`` to ``arr[row, 0]`` (``arr``: the struct of a C-contiguous 2-D array)."""
    stride = builder.extract_value(arr.strides, 0)  # in bytes
    base = builder.ptrtoint(arr.data, _I64)
    return builder.inttoptr(builder.add(base, builder.mul(row, stride)), _F64.as_pointer())


def _vector_at(builder, row, col):
    """``<8 x double>*`` to ``row[col : col + 8]``."""
    return builder.bitcast(builder.gep(row, [col]), _V8.as_pointer())


def _fma(builder):
    fnty = ir.FunctionType(_V8, [_V8, _V8, _V8])
    return cgutils.get_or_insert_function(builder.module, fnty, "llvm.fma.v8f64")


def _const(n):
    return ir.Constant(_I64, n)


def _counted_loop(builder, n, n_carried, step):
    """Open ``for i in range(0, n, step)`` carrying ``n_carried`` zero-started vectors.

    Returns ``(i, carried, close)``: emit the body, then ``close(new_values)`` returns the
    carried vectors' final values (zeros when ``n <= 0``) with the builder after the loop.
    """
    pre = builder.block
    loop = builder.append_basic_block("tile.loop")
    done = builder.append_basic_block("tile.done")
    zero = ir.Constant(_V8, [0.0] * 8)
    builder.cbranch(builder.icmp_signed(">", n, _const(0)), loop, done)
    builder.position_at_end(loop)
    i = builder.phi(_I64)
    i.add_incoming(_const(0), pre)
    carried = []
    for _ in range(n_carried):
        phi = builder.phi(_V8)
        phi.add_incoming(zero, pre)
        carried.append(phi)

    def close(new_values):
        nxt = builder.add(i, _const(step))
        for phi, value in zip(carried, new_values, strict=True):
            phi.add_incoming(value, builder.block)
        i.add_incoming(nxt, builder.block)
        builder.cbranch(builder.icmp_signed("<", nxt, n), loop, done)
        builder.position_at_end(done)
        out = []
        for value in new_values:
            phi = builder.phi(_V8)
            phi.add_incoming(zero, pre)
            phi.add_incoming(value, loop)
            out.append(phi)
        return out

    return i, carried, close


def _make_outer_tile(rows: int, vectors: int, subtract: bool):
    """``out[b + i, a + j] +=`` (or ``-=``) ``sum_{p < m} buf[p, b + i] * buf[p, a + j]``
    for ``i < rows``, ``j < 8 * vectors``: a block of ``buf[:m]^T buf[:m]``."""

    def tile(typingctx, buf, m, b, a, out):
        if not (_is_matrix(buf) and _is_matrix(out)):
            return None
        sig = types.void(buf, m, b, a, out)

        def codegen(context, builder, signature, args):
            src = context.make_array(signature.args[0])(context, builder, args[0])
            dst = context.make_array(signature.args[4])(context, builder, args[4])
            m_, b_, a_ = (
                context.cast(builder, args[n], signature.args[n], types.int64) for n in (1, 2, 3)
            )
            fma = _fma(builder)
            undef = ir.Constant(_V8, ir.Undefined)
            splat = ir.Constant(ir.VectorType(_I32, 8), [0] * 8)
            p, acc, close = _counted_loop(builder, m_, rows * vectors, 1)
            row = _row_ptr(builder, src, p)
            vecs = [
                builder.load(_vector_at(builder, row, builder.add(a_, _const(8 * v))), align=8)
                for v in range(vectors)
            ]
            new = []
            for i in range(rows):
                s = builder.load(builder.gep(row, [builder.add(b_, _const(i))]))
                s = builder.shuffle_vector(builder.insert_element(undef, s, _I32(0)), undef, splat)
                new += [
                    builder.call(fma, [s, vecs[v], acc[i * vectors + v]]) for v in range(vectors)
                ]
            sums = close(new)
            for i in range(rows):
                out_row = _row_ptr(builder, dst, builder.add(b_, _const(i)))
                for v in range(vectors):
                    ptr = _vector_at(builder, out_row, builder.add(a_, _const(8 * v)))
                    old = builder.load(ptr, align=8)
                    total = sums[i * vectors + v]
                    new_value = builder.fsub(old, total) if subtract else builder.fadd(old, total)
                    builder.store(new_value, ptr, align=8)
            return context.get_dummy_value()

        return sig, codegen

    name = f"{'sub' if subtract else 'add'}_outer_{rows}x{vectors * 8}"
    tile.__name__ = tile.__qualname__ = name
    return intrinsic(tile)


def _hsum(builder, v):
    """The sum of the 8 lanes of ``v`` as a fixed tree: (0+4, 1+5, 2+6, 3+7), then pairs."""

    def half(vec, lanes):
        mask = ir.Constant(ir.VectorType(_I32, len(lanes)), lanes)
        return builder.shuffle_vector(vec, ir.Constant(vec.type, ir.Undefined), mask)

    s4 = builder.fadd(half(v, [0, 1, 2, 3]), half(v, [4, 5, 6, 7]))
    s2 = builder.fadd(half(s4, [0, 1]), half(s4, [2, 3]))
    return builder.fadd(builder.extract_element(s2, _I32(0)), builder.extract_element(s2, _I32(1)))


def _make_dot_tile(rows: int, cols: int):
    """``out[p + i, q + j] = buf[p + i, :n] . buf[q + j, :n]`` for ``i < rows``, ``j < cols``
    (``n`` a multiple of 8): a block of ``buf buf^T``."""

    def tile(typingctx, buf, n, p, q, out):
        if not (_is_matrix(buf) and _is_matrix(out)):
            return None
        sig = types.void(buf, n, p, q, out)

        def codegen(context, builder, signature, args):
            src = context.make_array(signature.args[0])(context, builder, args[0])
            dst = context.make_array(signature.args[4])(context, builder, args[4])
            n_, p_, q_ = (
                context.cast(builder, args[k], signature.args[k], types.int64) for k in (1, 2, 3)
            )
            fma = _fma(builder)
            rows_p = [_row_ptr(builder, src, builder.add(p_, _const(i))) for i in range(rows)]
            rows_q = [_row_ptr(builder, src, builder.add(q_, _const(j))) for j in range(cols)]
            a, acc, close = _counted_loop(builder, n_, rows * cols, 8)
            xs = [builder.load(_vector_at(builder, r, a), align=8) for r in rows_p]
            ys = [builder.load(_vector_at(builder, r, a), align=8) for r in rows_q]
            new = [
                builder.call(fma, [xs[i], ys[j], acc[i * cols + j]])
                for i in range(rows)
                for j in range(cols)
            ]
            sums = close(new)
            for i in range(rows):
                out_row = _row_ptr(builder, dst, builder.add(p_, _const(i)))
                for j in range(cols):
                    ptr = builder.gep(out_row, [builder.add(q_, _const(j))])
                    builder.store(_hsum(builder, sums[i * cols + j]), ptr)
            return context.get_dummy_value()

        return sig, codegen

    tile.__name__ = tile.__qualname__ = f"dot_{rows}x{cols}"
    return intrinsic(tile)


@intrinsic
def prefetch_row(typingctx, arr, row):
    """Ask the caches for ``arr[row, :]`` (every 64-byte line of it) without waiting for it.

    A hint: a wrong address costs nothing but the hint (prefetches never fault).
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(row, types.Integer)):
        return None
    sig = types.void(arr, row)

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        fnty = ir.FunctionType(ir.VoidType(), [_I8P, _I32, _I32, _I32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        r = context.cast(builder, args[1], signature.args[1], types.int64)
        itemsize = _const(context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype)))
        nbytes = builder.mul(builder.extract_value(a.shape, 1), itemsize)
        base = builder.add(
            builder.ptrtoint(a.data, _I64), builder.mul(r, builder.extract_value(a.strides, 0))
        )
        flags = [_I32(0), _I32(3), _I32(1)]  # read, keep in all cache levels, data
        with cgutils.for_range_slice(builder, _const(0), nbytes, _const(64)) as (offset, _):
            builder.call(fn, [builder.inttoptr(builder.add(base, offset), _I8P), *flags])
        last = builder.add(base, builder.sub(nbytes, _const(1)))  # the line of the last byte
        builder.call(fn, [builder.inttoptr(last, _I8P), *flags])
        return context.get_dummy_value()

    return sig, codegen


#: ``out[b:b+8, a:a+16] += buf[:m, b:b+8]^T buf[:m, a:a+16]`` (the Gram matrices' tile)
add_outer_8x16 = _make_outer_tile(8, 2, subtract=False)
#: the same with 8 columns (the last tile of a row when its width is 8 mod 16)
add_outer_8x8 = _make_outer_tile(8, 1, subtract=False)
#: the Gram tile where 512-bit vectors are missing (8 accumulators of AVX2's 16 registers)
add_outer_4x8 = _make_outer_tile(4, 1, subtract=False)
#: ``out[b:b+4, a:a+16] -= buf[:m, b:b+4]^T buf[:m, a:a+16]`` (the Cholesky's panel update)
sub_outer_4x16 = _make_outer_tile(4, 2, subtract=True)
sub_outer_4x8 = _make_outer_tile(4, 1, subtract=True)
#: ``out[p:p+4, q:q+4] = buf[p:p+4, :n] buf[q:q+4, :n]^T`` (the dual's Gram matrix)
dot_4x4 = _make_dot_tile(4, 4)
#: the same, 2 x 2, where 512-bit vectors are missing
dot_2x2 = _make_dot_tile(2, 2)
