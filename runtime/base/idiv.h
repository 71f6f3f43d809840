/*
 * Index division by a float reciprocal: floor(a / b) for the small
 * non-negative integers of the task math's index arithmetic (a thread's
 * column and row, a chunk's width, a stage's rows), in a few instructions
 * where C's signed division by a value known only at run time is ~22 on
 * the GPU (its own reciprocal, a refinement and the signs' handling).
 *
 * The device's form (device/common.cuh, GN_IDIV under -DGN_BLOCK_UDIV=2)
 * passes the hardware's approximate reciprocal (rcp.approx.f32, at most
 * one unit in the last place from 1/b); this header is the rule, host and
 * device, and tests/test_idiv.c checks it with every reciprocal within two
 * units of the last place of 1/b.
 *
 * Why it is exact. For 0 <= a < 2^21 and 1 <= b < 2^24 the conversions to
 * float are exact. With r = (1/b)(1 + e1), |e1| <= 2^-22 (two units in
 * the last place), and the product rounded once (|e2| <= 2^-24),
 * a r = (a/b)(1 + e) with |e| < 2^-21, so a r lies within (a/b) 2^-21 < 1
 * of a/b: its truncation q is floor(a/b) - 1, floor(a/b) or
 * floor(a/b) + 1. The remainder a - q b (no overflow: |q b| <= a + b)
 * says which (negative: one less; b or more: one more), and one
 * correction each way gives floor(a/b) exactly.
 */
#ifndef GN_BASE_IDIV_H
#define GN_BASE_IDIV_H

#include <stdint.h>

#include "atomics.h" /* GN_HD */

/* The largest dividend (exclusive) and divisor (exclusive) the rule holds
 * for. */
#define GN_IDIV_A_LIMIT (1 << 21)
#define GN_IDIV_B_LIMIT (1 << 24)

/* floor(a / b) from r, a reciprocal of b within 2^-22 of 1/b relative;
 * 0 <= a < GN_IDIV_A_LIMIT, 1 <= b < GN_IDIV_B_LIMIT. */
GN_HD int32_t gn_idiv_rcp(int32_t a, int32_t b, float r)
{
    int32_t q = (int32_t)((float)a * r); /* truncated: floor(a/b) +- 1 */
    const int32_t rem = a - q * b;
    if (rem < 0) q -= 1;
    else if (rem >= b) q += 1;
    return q;
}

#endif
