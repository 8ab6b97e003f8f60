"""Bit-level primitives for the chain kernel, written as Numba intrinsics (LLVM IR).

``lane_masks`` compares 32 unsigned 16-bit lanes with two threshold rows in one vector operation and
returns the results as 32-bit masks (bit j = lane j).  LLVM lowers the ``<32 x i1>`` to ``i32``
bitcast to packed compares and a byte movemask on x86 (AVX2: a handful of instructions for 32
lanes); on targets without vector units it falls back to scalar code with the same result.  The
lane-to-bit order of that bitcast is little-endian (lane 0 is the least significant bit), which
``tests/test_chain.py`` checks against a scalar loop.
"""
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Lanes per block of the chain kernel.
LANES = 32


@intrinsic
def popcount(typingctx, x):
    """Number of set bits of a uint64."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.ctpop(builder.zext(args[0], ir.IntType(64)))

    return signature, codegen


@intrinsic
def trailing_zeros(typingctx, x):
    """Index of the lowest set bit of a non-zero uint64."""
    signature = types.uint64(types.uint64)

    def codegen(context, builder, sig, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return signature, codegen


@intrinsic
def lane_masks(typingctx, lanes, below, above, offset):
    """For the 32 uint16 ``lanes`` and the rows ``below[offset:offset+32]``,
    ``above[offset:offset+32]`` (uint16 arrays, C-contiguous): returns uint64 masks
    (lanes < below, lanes > above, (lanes == below) | (lanes == above))."""
    if not all(isinstance(a, types.Array) and a.dtype == types.uint16 for a in (lanes, below, above)):
        return None
    signature = types.UniTuple(types.uint64, 3)(lanes, below, above, types.intp)

    def codegen(context, builder, sig, args):
        vector = ir.VectorType(ir.IntType(16), LANES)

        def load(array_type, value, start):
            data = context.make_array(array_type)(context, builder, value).data
            pointer = builder.bitcast(builder.gep(data, [start]), vector.as_pointer())
            return builder.load(pointer, align=2)

        offset = context.cast(builder, args[3], sig.args[3], types.intp)
        k = load(sig.args[0], args[0], ir.Constant(ir.IntType(64), 0))
        low = load(sig.args[1], args[1], offset)
        high = load(sig.args[2], args[2], offset)

        def mask(bits):
            return builder.zext(builder.bitcast(bits, ir.IntType(LANES)), ir.IntType(64))

        tie = builder.or_(builder.icmp_unsigned("==", k, low), builder.icmp_unsigned("==", k, high))
        result = (mask(builder.icmp_unsigned("<", k, low)), mask(builder.icmp_unsigned(">", k, high)),
                  mask(tie))
        return context.make_tuple(builder, sig.return_type, result)

    return signature, codegen
