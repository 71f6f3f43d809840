/*
 * The memory-ordering primitives of the shared scheduler core, in one place.
 *
 * The queue, the dependency counters, the pools and the worker barrier are
 * written once, in C that compiles three ways:
 *   - host C11 (the cpu backend, the tests): <stdatomic.h> on _Atomic words;
 *   - the device pass of nvcc (__CUDA_ARCH__): plain PTX, ld.acquire.gpu,
 *     st.release.gpu, atom.<sem>.gpu.<op>, all at GPU scope because the
 *     workers of the persistent kernel are blocks spread over every SM;
 *   - the host pass of nvcc (C++): the GCC __atomic builtins, so the same
 *     __host__ __device__ functions also compile (and work) on the host.
 *
 * Shared words have the types gn_atomic_u32 / gn_atomic_u64: _Atomic in C,
 * plain integers in C++ and CUDA, with the same size and alignment (checked
 * below), so one struct layout serves both sides without an #ifdef inside
 * it. Touch them only through these functions.
 *
 * Only four orderings are used, and each call site says what it pairs with:
 *   relaxed  - a counter whose value alone matters (tickets, slots, stats);
 *   acquire  - a load that reads a value some release wrote, after which
 *              everything the releasing thread did before is visible;
 *   release  - a store that publishes everything this thread did before;
 *   acq_rel  - a read-modify-write that both consumes earlier releases on
 *              the same word (a release sequence) and publishes its own.
 * The functions here carry no pairing of their own: they are the vocabulary.
 *
 * gn_spin_pause() is the one back-off of every wait: a CPU pause for the
 * first GN_SPIN_FAST_HOST spins (host) or nothing for GN_SPIN_FAST_DEVICE
 * (device), then sched_yield() (host) or a 64 ns __nanosleep (device) up to
 * GN_SPIN_YIELD spins (tens of milliseconds on the host), then a ~50 us
 * sleep (host) or 1 us __nanosleep (device) per spin. A waiter never starves the thread it waits for, even
 * with more workers than cores; a short wait keeps its latency low, and only
 * a long one (idle workers between passes) sleeps.
 */
#ifndef GN_RUNTIME_ATOMICS_H
#define GN_RUNTIME_ATOMICS_H

#include <stdint.h>

#if defined(__CUDACC__)
#define GN_HD static inline __host__ __device__
#else
#define GN_HD static inline
#endif

#if defined(__cplusplus)
#define GN_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define GN_ALIGNOF(type) alignof(type)
#else
#define GN_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define GN_ALIGNOF(type) _Alignof(type)
#endif

/* Spins of gn_spin_pause() that only pause (host: a few microseconds, so a
 * short wait does not pay a system call's latency; much longer pause loops
 * made a virtual machine deschedule the vCPU, pause-loop exiting: 1024 gave
 * 10x slower chain hops on a 2-vCPU VM; device: 32 hot polls), and spins
 * before it sleeps. */
#define GN_SPIN_FAST_HOST 128u
#define GN_SPIN_FAST_DEVICE 32u
#define GN_SPIN_YIELD 65536u

#if defined(__cplusplus)

#include <sched.h>
#include <time.h>

typedef uint32_t gn_atomic_u32;
typedef uint64_t gn_atomic_u64;

#else

#include <sched.h>
#include <stdatomic.h>
#include <time.h>

typedef _Atomic uint32_t gn_atomic_u32;
typedef _Atomic uint64_t gn_atomic_u64;

#endif

GN_STATIC_ASSERT(sizeof(gn_atomic_u32) == 4 && GN_ALIGNOF(gn_atomic_u32) == 4,
                 "gn_atomic_u32 is shared with the device as a plain uint32_t");
GN_STATIC_ASSERT(sizeof(gn_atomic_u64) == 8 && GN_ALIGNOF(gn_atomic_u64) == 8,
                 "gn_atomic_u64 is shared with the device as a plain uint64_t");

#if defined(__CUDA_ARCH__)

/* Device: PTX at .gpu scope (generic addresses, so global or shared words). */

GN_HD uint32_t gn_atomic_load_relaxed_u32(gn_atomic_u32 *p)
{
    uint32_t v;
    asm volatile("ld.relaxed.gpu.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

GN_HD uint32_t gn_atomic_load_acquire_u32(gn_atomic_u32 *p)
{
    uint32_t v;
    asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}

GN_HD void gn_atomic_store_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    asm volatile("st.relaxed.gpu.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

GN_HD void gn_atomic_store_release_u32(gn_atomic_u32 *p, uint32_t v)
{
    asm volatile("st.release.gpu.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

GN_HD uint32_t gn_atomic_fetch_add_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    uint32_t old;
    asm volatile("atom.relaxed.gpu.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
}

GN_HD uint32_t gn_atomic_fetch_add_acq_rel_u32(gn_atomic_u32 *p, uint32_t v)
{
    uint32_t old;
    asm volatile("atom.acq_rel.gpu.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(v) : "memory");
    return old;
}

/* Returns the value found; the swap happened iff it equals expected. */
GN_HD uint32_t gn_atomic_cas_acq_rel_u32(gn_atomic_u32 *p, uint32_t expected, uint32_t desired)
{
    uint32_t old;
    asm volatile("atom.acq_rel.gpu.cas.b32 %0, [%1], %2, %3;"
                 : "=r"(old)
                 : "l"(p), "r"(expected), "r"(desired)
                 : "memory");
    return old;
}

GN_HD uint64_t gn_atomic_load_relaxed_u64(gn_atomic_u64 *p)
{
    uint64_t v;
    asm volatile("ld.relaxed.gpu.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

GN_HD uint64_t gn_atomic_load_acquire_u64(gn_atomic_u64 *p)
{
    uint64_t v;
    asm volatile("ld.acquire.gpu.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

GN_HD void gn_atomic_store_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    asm volatile("st.relaxed.gpu.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

GN_HD void gn_atomic_store_release_u64(gn_atomic_u64 *p, uint64_t v)
{
    asm volatile("st.release.gpu.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

GN_HD uint64_t gn_atomic_fetch_add_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    uint64_t old;
    asm volatile("atom.relaxed.gpu.add.u64 %0, [%1], %2;" : "=l"(old) : "l"(p), "l"(v) : "memory");
    return old;
}

/* Returns the value found; the swap happened iff it equals expected. */
GN_HD uint64_t gn_atomic_cas_relaxed_u64(gn_atomic_u64 *p, uint64_t expected, uint64_t desired)
{
    uint64_t old;
    asm volatile("atom.relaxed.gpu.cas.b64 %0, [%1], %2, %3;"
                 : "=l"(old)
                 : "l"(p), "l"(expected), "l"(desired)
                 : "memory");
    return old;
}

GN_HD void gn_spin_pause(uint64_t spins)
{
    if (spins >= GN_SPIN_YIELD)
        __nanosleep(1000);
    else if (spins >= GN_SPIN_FAST_DEVICE)
        __nanosleep(64);
}

#elif defined(__cplusplus)

/* Host pass of nvcc: GCC builtins on the plain words. */

GN_HD uint32_t gn_atomic_load_relaxed_u32(gn_atomic_u32 *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

GN_HD uint32_t gn_atomic_load_acquire_u32(gn_atomic_u32 *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

GN_HD void gn_atomic_store_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

GN_HD void gn_atomic_store_release_u32(gn_atomic_u32 *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

GN_HD uint32_t gn_atomic_fetch_add_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

GN_HD uint32_t gn_atomic_fetch_add_acq_rel_u32(gn_atomic_u32 *p, uint32_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}

GN_HD uint32_t gn_atomic_cas_acq_rel_u32(gn_atomic_u32 *p, uint32_t expected, uint32_t desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return expected;
}

GN_HD uint64_t gn_atomic_load_relaxed_u64(gn_atomic_u64 *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

GN_HD uint64_t gn_atomic_load_acquire_u64(gn_atomic_u64 *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

GN_HD void gn_atomic_store_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

GN_HD void gn_atomic_store_release_u64(gn_atomic_u64 *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

GN_HD uint64_t gn_atomic_fetch_add_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

GN_HD uint64_t gn_atomic_cas_relaxed_u64(gn_atomic_u64 *p, uint64_t expected, uint64_t desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return expected;
}

GN_HD void gn_spin_pause(uint64_t spins)
{
    if (spins >= GN_SPIN_FAST_HOST)
        sched_yield();
}

#else

/* Host C11. */

GN_HD uint32_t gn_atomic_load_relaxed_u32(gn_atomic_u32 *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

GN_HD uint32_t gn_atomic_load_acquire_u32(gn_atomic_u32 *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

GN_HD void gn_atomic_store_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

GN_HD void gn_atomic_store_release_u32(gn_atomic_u32 *p, uint32_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

GN_HD uint32_t gn_atomic_fetch_add_relaxed_u32(gn_atomic_u32 *p, uint32_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

GN_HD uint32_t gn_atomic_fetch_add_acq_rel_u32(gn_atomic_u32 *p, uint32_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_acq_rel);
}

/* Returns the value found; the swap happened iff it equals expected. */
GN_HD uint32_t gn_atomic_cas_acq_rel_u32(gn_atomic_u32 *p, uint32_t expected, uint32_t desired)
{
    atomic_compare_exchange_strong_explicit(p, &expected, desired, memory_order_acq_rel,
                                            memory_order_acquire);
    return expected;
}

GN_HD uint64_t gn_atomic_load_relaxed_u64(gn_atomic_u64 *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

GN_HD uint64_t gn_atomic_load_acquire_u64(gn_atomic_u64 *p)
{
    return atomic_load_explicit(p, memory_order_acquire);
}

GN_HD void gn_atomic_store_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_relaxed);
}

GN_HD void gn_atomic_store_release_u64(gn_atomic_u64 *p, uint64_t v)
{
    atomic_store_explicit(p, v, memory_order_release);
}

GN_HD uint64_t gn_atomic_fetch_add_relaxed_u64(gn_atomic_u64 *p, uint64_t v)
{
    return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

/* Returns the value found; the swap happened iff it equals expected. */
GN_HD uint64_t gn_atomic_cas_relaxed_u64(gn_atomic_u64 *p, uint64_t expected, uint64_t desired)
{
    atomic_compare_exchange_strong_explicit(p, &expected, desired, memory_order_relaxed,
                                            memory_order_relaxed);
    return expected;
}

GN_HD void gn_spin_pause(uint64_t spins)
{
    if (spins < GN_SPIN_FAST_HOST) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    } else if (spins < GN_SPIN_YIELD) {
        sched_yield();
    } else {
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
}

#endif

/*
 * Common to every side: a clock and the system-scope ordering used on
 * memory that the host and the device share (mapped pinned memory).
 *
 * gn_clock_ns(): nanoseconds of a monotonic clock (host CLOCK_MONOTONIC;
 * device %globaltimer, a 64-bit ns counter shared by all SMs, updated
 * every ~32 ns on Hopper, which is what bounded waits and deadlines need).
 * gn_fence_system(): a full fence at system scope (device
 * __threadfence_system: orders this thread's writes to mapped memory
 * before its later ones, as the host sees them; host: seq_cst fence).
 * gn_load_acquire_sys_i64(): an acquire load of a word the other side
 * writes (device ld.acquire.sys; pairs with the host's release store or
 * fence before its flag store).
 * gn_load_cg_f32(): a plain load of data another worker wrote before a
 * synchronisation this thread (or its block) took part in; on the device it
 * reads L2 (ld.cg), past the SM's L1, which is not coherent across SMs.
 */
#if defined(__CUDA_ARCH__)

GN_HD uint64_t gn_clock_ns(void)
{
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

GN_HD void gn_fence_system(void)
{
    __threadfence_system();
}

GN_HD int64_t gn_load_acquire_sys_i64(const volatile int64_t *p)
{
    int64_t v;
    asm volatile("ld.acquire.sys.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
    return v;
}

GN_HD float gn_load_cg_f32(const float *p)
{
    return __ldcg(p);
}

#else

GN_HD uint64_t gn_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

GN_HD void gn_fence_system(void)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

GN_HD int64_t gn_load_acquire_sys_i64(const volatile int64_t *p)
{
    return __atomic_load_n((const int64_t *)p, __ATOMIC_ACQUIRE);
}

GN_HD float gn_load_cg_f32(const float *p)
{
    return *p;
}

#endif

/*
 * Batched release and polled acquire: the scheduler's hot path on the
 * device, where every ordered atomic costs a fence (measured on an H200:
 * fence.acq_rel.gpu ~195 ns, atom.acq_rel ~400-500 ns, atom.relaxed ~110
 * ns, ld.acquire ~200 ns, ld.relaxed ~160 ns: tools/bench/sync_cost.cu).
 *
 *   gn_release_fence()            a release for every RMW and store that
 *                                 follows (device: fence.acq_rel.gpu);
 *   gn_atomic_fetch_add_released_u32()
 *                                 an RMW after gn_release_fence(): device
 *                                 relaxed (several issue back to back, the
 *                                 fence already published what precedes);
 *   gn_atomic_store_released_u64()  a store after a fence, likewise;
 *   gn_atomic_load_polled_u64()   a polling load (device relaxed: no L1
 *                                 invalidation per spin); the poll that
 *                                 sees its value is followed by
 *   gn_acquire_fence()            the acquire that makes the writer's data
 *                                 visible (device: fence.acq_rel.gpu).
 * A relaxed RMW or load followed by the fence is an acquire pattern, and
 * the fence followed by a relaxed RMW or store a release pattern, in the
 * PTX memory model: together they order what the plain acq_rel atomics
 * ordered, with one fence per batch instead of one per atomic.
 * On the host the RMWs stay acq_rel, the store release and the poll an
 * acquire, and the fences are empty: x86 RMWs are full barriers anyway,
 * and ThreadSanitizer models ordered atomics, not free-standing fences.
 */
#if defined(__CUDA_ARCH__)

GN_HD void gn_release_fence(void)
{
    asm volatile("fence.acq_rel.gpu;" ::: "memory");
}

GN_HD void gn_acquire_fence(void)
{
    asm volatile("fence.acq_rel.gpu;" ::: "memory");
}

GN_HD uint32_t gn_atomic_fetch_add_released_u32(gn_atomic_u32 *p, uint32_t v)
{
    return gn_atomic_fetch_add_relaxed_u32(p, v);
}

GN_HD void gn_atomic_store_released_u64(gn_atomic_u64 *p, uint64_t v)
{
    gn_atomic_store_relaxed_u64(p, v);
}

GN_HD uint64_t gn_atomic_load_polled_u64(gn_atomic_u64 *p)
{
    return gn_atomic_load_relaxed_u64(p);
}

#else

GN_HD void gn_release_fence(void)
{
}

GN_HD void gn_acquire_fence(void)
{
}

GN_HD uint32_t gn_atomic_fetch_add_released_u32(gn_atomic_u32 *p, uint32_t v)
{
    return gn_atomic_fetch_add_acq_rel_u32(p, v);
}

GN_HD void gn_atomic_store_released_u64(gn_atomic_u64 *p, uint64_t v)
{
    gn_atomic_store_release_u64(p, v);
}

GN_HD uint64_t gn_atomic_load_polled_u64(gn_atomic_u64 *p)
{
    return gn_atomic_load_acquire_u64(p);
}

#endif

#endif
