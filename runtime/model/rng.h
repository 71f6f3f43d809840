/*
 * Counter-based random numbers: every draw is a pure function of
 * (seed, stream, index), so any backend, in any order, on any thread or on
 * the device, draws the same numbers. splitmix64 finalizer as the mixer.
 */
#ifndef GN_RUNTIME_RNG_H
#define GN_RUNTIME_RNG_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define GN_RNG_FN static inline __host__ __device__
#else
#define GN_RNG_FN static inline
#endif

/* Streams: what the numbers are for, so no two uses collide. */
enum gn_rng_stream {
    GN_RNG_INIT = 1,    /* weight initialisation, index = (edge, element) */
    GN_RNG_SHUFFLE = 2, /* epoch shuffles */
    GN_RNG_GROW = 3,    /* growth policy choice, index = (step, group) */
    GN_RNG_NOISE = 4,   /* widthwise symmetry breaking, index = (step, group, element) */
    GN_RNG_TEST = 5,    /* tests */
};

GN_RNG_FN uint64_t gn_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

GN_RNG_FN uint64_t gn_rng_u64(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    return gn_mix64(gn_mix64(gn_mix64(seed ^ (stream << 56)) ^ a) ^ gn_mix64(b + stream));
}

/* Uniform in [0, 1): 24 random bits. */
GN_RNG_FN float gn_rng_uniform(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    return (float)(gn_rng_u64(seed, stream, a, b) >> 40) * (1.0f / 16777216.0f);
}

/* Standard normal (Box-Muller from two 32-bit halves), computed in double on
 * every backend so host and device agree bitwise. */
GN_RNG_FN float gn_rng_normal(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b)
{
    uint64_t r = gn_rng_u64(seed, stream, a, b);
    double u1 = ((double)(r >> 32) + 1.0) * (1.0 / 4294967296.0); /* (0, 1] */
    double u2 = (double)(r & 0xffffffffu) * (1.0 / 4294967296.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
