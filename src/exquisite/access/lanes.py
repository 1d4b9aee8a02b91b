"""Vector operations over the lanes of a row (one lane per search root), as LLVM vector instructions.

A row is ``LANES`` consecutive ``float64`` of one array starting at a given offset. Numba leaves short
loops over lanes scalar (its SLP vectoriser is off, and a short loop is unrolled before the loop
vectoriser sees it), so these few operations are written in LLVM IR directly.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Roots searched together: a node's distances from them are two AVX-512 vectors (two cache lines). Measured
#: on the ×10 benchmark graph: 8 lanes 5–7 % slower, 32 lanes 6 % slower.
LANES = 16

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_VF = ir.VectorType(_F64, LANES)
_VI = ir.VectorType(_I64, LANES)


def _row(context, builder, arr_t, arr, at, vec_t=_VF):
    """Pointer to the row of ``arr`` at ``at``, as a pointer to a vector."""
    data = context.make_array(arr_t)(context, builder, arr).data
    return builder.bitcast(builder.gep(data, [at]), vec_t.as_pointer())


def _rows(context, builder, signature, arr, first_at, second_at):
    """Pointers to two rows of the array that is the intrinsic's first argument."""
    arr_t = signature.args[0]
    return _row(context, builder, arr_t, arr, first_at), _row(context, builder, arr_t, arr, second_at)


def _plus(builder, p_row, add):
    """The row at ``p_row`` plus ``add`` in every lane."""
    return builder.fadd(builder.load(p_row, align=8), _splat(builder, add))


def _splat(builder, x, vec_t=_VF):
    """A vector with ``x`` in every lane."""
    undef = ir.Constant(vec_t, ir.Undefined)
    one = builder.insert_element(undef, x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))


def _reduce(builder, name, vec, elem_t):
    """The LLVM reduction intrinsic ``name`` of ``vec`` (one ``elem_t``)."""
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(elem_t, [vec.type]), name)
    return builder.call(fn, [vec])


def _is_f64_array(t) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.float64 and t.ndim == 1


@intrinsic
def lanes_lower(typingctx, dist, src, dst, add, cutoff, inv_width):
    """Lower the row at ``dst`` to the row at ``src`` plus ``add`` where shorter and within ``cutoff``.

    Returns ``int64(smallest lowered distance * inv_width)``, or ``-1`` when no lane was lowered.
    """
    if not _is_f64_array(dist):
        return None
    sig = types.int64(dist, types.int64, types.int64, types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        arr, src_at, dst_at, add_v, cut_v, inv_v = args
        p_src, p_dst = _rows(context, builder, signature, arr, src_at, dst_at)
        nd = _plus(builder, p_src, add_v)
        old = builder.load(p_dst, align=8)
        better = builder.and_(
            builder.fcmp_ordered("<", nd, old), builder.fcmp_ordered("<=", nd, _splat(builder, cut_v))
        )
        builder.store(builder.select(better, nd, old), p_dst, align=8)
        # The smallest key among the lowered lanes, as an integer minimum (a tree of vector instructions).
        keys = builder.fptosi(builder.fmul(nd, _splat(builder, inv_v)), _VI)
        none = ir.Constant(_I64, 2**63 - 1)
        best = _reduce(
            builder,
            f"llvm.vector.reduce.smin.v{LANES}i64",
            builder.select(better, keys, _splat(builder, none, _VI)),
            _I64,
        )
        return builder.select(builder.icmp_signed("==", best, none), ir.Constant(_I64, -1), best)

    return sig, codegen


@intrinsic
def lanes_may_lower(typingctx, dist, src, dst, add, scale, cutoff):
    """Whether ``(row src + add) * scale`` is below the row at ``dst`` and within ``cutoff`` in some lane."""
    if not _is_f64_array(dist):
        return None
    sig = types.boolean(dist, types.int64, types.int64, types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        arr, src_at, dst_at, add_v, scale_v, cut_v = args
        p_src, p_dst = _rows(context, builder, signature, arr, src_at, dst_at)
        low = builder.fmul(_plus(builder, p_src, add_v), _splat(builder, scale_v))
        may = builder.and_(
            builder.fcmp_ordered("<", low, builder.load(p_dst, align=8)),
            builder.fcmp_ordered("<=", low, _splat(builder, cut_v)),
        )
        return _reduce(builder, f"llvm.vector.reduce.or.v{LANES}i1", may, ir.IntType(1))

    return sig, codegen


@intrinsic
def lanes_set(typingctx, dist, dst, src, add):
    """Row ``dst`` = row ``src`` plus ``add`` (``dst`` may be ``src``)."""
    if not _is_f64_array(dist):
        return None
    sig = types.void(dist, types.int64, types.int64, types.float64)

    def codegen(context, builder, signature, args):
        arr, dst_at, src_at, add_v = args
        p_src, p_dst = _rows(context, builder, signature, arr, src_at, dst_at)
        builder.store(_plus(builder, p_src, add_v), p_dst, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lanes_min(typingctx, dist, dst, src):
    """Row ``dst`` = the lane-wise minimum of rows ``dst`` and ``src``."""
    if not _is_f64_array(dist):
        return None
    sig = types.void(dist, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        arr, dst_at, src_at = args
        p_src, p_dst = _rows(context, builder, signature, arr, src_at, dst_at)
        a = builder.load(p_dst, align=8)
        b = builder.load(p_src, align=8)
        builder.store(builder.select(builder.fcmp_ordered("<", b, a), b, a), p_dst, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lanes_weight_within(typingctx, dist, at, weights, weights_at, threshold):
    """Sum of ``weights[weights_at + lane]`` over the lanes of the row at ``at`` within ``threshold``."""
    if not _is_f64_array(dist) or not (isinstance(weights, types.Array) and weights.dtype == types.int64):
        return None
    sig = types.int64(dist, types.int64, weights, types.int64, types.float64)

    def codegen(context, builder, signature, args):
        arr, at_v, w_arr, w_at, thr_v = args
        p_row = _row(context, builder, signature.args[0], arr, at_v)
        p_w = _row(context, builder, signature.args[2], w_arr, w_at, _VI)
        within = builder.fcmp_ordered("<=", builder.load(p_row, align=8), _splat(builder, thr_v))
        picked = builder.select(within, builder.load(p_w, align=8), ir.Constant(_VI, [0] * LANES))
        return _reduce(builder, f"llvm.vector.reduce.add.v{LANES}i64", picked, _I64)

    return sig, codegen
