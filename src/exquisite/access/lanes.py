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
_VI32 = ir.VectorType(_I32, LANES)


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


def _is_i64_array(t) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.int64


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


def _mask(builder, lane_bits):
    """A vector of ``LANES`` booleans as an ``int64`` bit mask (bit ``lane``)."""
    return builder.zext(builder.bitcast(lane_bits, ir.IntType(LANES)), _I64)


@intrinsic
def lanes_within(typingctx, dist, at, threshold):
    """The lanes of the row at ``at`` within ``threshold``, as a bit mask (bit ``lane``)."""
    if not _is_f64_array(dist):
        return None
    sig = types.int64(dist, types.int64, types.float64)

    def codegen(context, builder, signature, args):
        arr, at_v, thr_v = args
        row = builder.load(_row(context, builder, signature.args[0], arr, at_v), align=8)
        return _mask(builder, builder.fcmp_ordered("<=", row, _splat(builder, thr_v)))

    return sig, codegen


@intrinsic
def lanes_equal(typingctx, values, value):
    """The lanes of ``values`` (``LANES`` int64) equal to ``value``, as a bit mask (bit ``lane``)."""
    if not _is_i64_array(values):
        return None
    sig = types.int64(values, types.int64)

    def codegen(context, builder, signature, args):
        arr, value_v = args
        row = builder.load(_row(context, builder, signature.args[0], arr, ir.Constant(_I64, 0), _VI), align=8)
        return _mask(builder, builder.icmp_signed("==", row, _splat(builder, value_v, _VI)))

    return sig, codegen


@intrinsic
def lanes_bins(typingctx, dist, at, thresholds, bins):
    """Set ``bins[lane]`` (int64) to how many of ``thresholds`` the row at ``at`` exceeds in that lane.

    Returns the lanes within the last threshold, as a bit mask (bit ``lane``).
    """
    if not (_is_f64_array(dist) and _is_f64_array(thresholds) and thresholds.layout == "C"):
        return None
    if not _is_i64_array(bins):
        return None
    sig = types.int64(dist, types.int64, thresholds, bins)

    def codegen(context, builder, signature, args):
        arr, at_v, thr_arr, bins_arr = args
        row = builder.load(_row(context, builder, signature.args[0], arr, at_v), align=8)
        thr = context.make_array(signature.args[2])(context, builder, thr_arr)
        (n_thr,) = cgutils.unpack_tuple(builder, thr.shape, 1)
        above = cgutils.alloca_once_value(builder, ir.Constant(_VI, [0] * LANES))
        with cgutils.for_range(builder, n_thr) as loop:
            t = builder.load(builder.gep(thr.data, [loop.index]))
            over = builder.zext(builder.fcmp_ordered(">", row, _splat(builder, t)), _VI)
            builder.store(builder.add(builder.load(above), over), above)
        n_above = builder.load(above)
        p_bins = _row(context, builder, signature.args[3], bins_arr, ir.Constant(_I64, 0), _VI)
        builder.store(n_above, p_bins, align=8)
        return _mask(builder, builder.icmp_signed("<", n_above, _splat(builder, n_thr, _VI)))

    return sig, codegen


@intrinsic
def lanes_add_band_counts(typingctx, counts, counts_at, bands, table, table_at, shift):
    """Add bit counts to the ``LANES`` int32 at ``counts_at`` of ``counts``.

    Lane ``lane`` gets the number of set bits of ``bands[t] & table[table_at + t * LANES + lane]`` over
    every ``t`` of ``bands`` (masks with no bit in common), shifted left by ``shift``.
    """
    if not (isinstance(counts, types.Array) and counts.dtype == types.int32 and counts.layout == "C"):
        return None
    if not (_is_i64_array(bands) and _is_i64_array(table)):
        return None
    sig = types.void(counts, types.int64, bands, table, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        counts_arr, counts_at, bands_arr, table_arr, table_at, shift_v = args
        bands_a = context.make_array(signature.args[2])(context, builder, bands_arr)
        (n_bands,) = cgutils.unpack_tuple(builder, bands_a.shape, 1)
        picked = cgutils.alloca_once_value(builder, ir.Constant(_VI, [0] * LANES))
        with cgutils.for_range(builder, n_bands) as loop:
            band = builder.load(builder.gep(bands_a.data, [loop.index]))
            at = builder.add(table_at, builder.mul(loop.index, ir.Constant(_I64, LANES)))
            p_table = _row(context, builder, signature.args[3], table_arr, at, _VI)
            bits = builder.and_(_splat(builder, band, _VI), builder.load(p_table, align=8))
            builder.store(builder.or_(builder.load(picked), bits), picked)
        ctpop = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VI, [_VI]), f"llvm.ctpop.v{LANES}i64"
        )
        n = builder.shl(builder.call(ctpop, [builder.load(picked)]), _splat(builder, shift_v, _VI))
        p_counts = _row(context, builder, signature.args[0], counts_arr, counts_at, _VI32)
        total = builder.add(builder.load(p_counts, align=4), builder.trunc(n, _VI32))
        builder.store(total, p_counts, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def lowest_bit(typingctx, mask):
    """Index of the lowest set bit of ``mask`` (64 when none is set)."""
    if not isinstance(mask, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        i1 = ir.IntType(1)
        cttz = ir.FunctionType(_I64, [_I64, i1])
        fn = cgutils.get_or_insert_function(builder.module, cttz, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(i1, 0)])

    return types.int64(types.int64), codegen
