// STREAM-style memory-bandwidth benchmark: see membw.h for the method.
#include "membw.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace moerig::membw {
namespace {

constexpr double kScalar   = 3.0; // STREAM's scalar
constexpr int    kWarmups  = 1;   // first pass pays TLB and page-table walks; not counted
constexpr size_t kPage     = 4096;
constexpr size_t kHugePage = size_t(2) << 20;
// Arrays of one thread are staggered by different amounts mod 4 KiB so that a[i], b[i] and c[i]
// never share the low 12 address bits: loads that alias a pending store's 4K offset stall
// (Intel's "4K aliasing"), and STREAM pads its arrays (OFFSET) for the same reason.
constexpr size_t kStagger          = 1088; // 17 cache lines
constexpr int    kMpolPreferred    = 1;    // MPOL_PREFERRED from <linux/mempolicy.h>
constexpr int    kNodemaskBits     = kMaxNodeId + 1;
constexpr double kCheckEpsilon     = 1e-13; // STREAM's epsilon for doubles
constexpr int    kSpinsBeforeYield = 2000;  // ~1 µs of spinning, then give the core away
// Counted bytes per element per kernel (copy, scale, add, triad): arrays touched × 8 bytes.
constexpr double kBytesPerElem[4] = {16, 16, 24, 24};

// ---------------------------------------------------------------- kernels
// Each set holds the four kernels for one ISA and store kind. n is a multiple of 512 and every
// array is 64-byte aligned (see Arrays), so the vector loops need no tail.

struct KernelSet {
    const char * name;
    bool         non_temporal;
    bool (*supported)();
    void (*copy)(double * __restrict c, const double * __restrict a, size_t n);
    void (*scale)(double * __restrict b, const double * __restrict c, double s, size_t n);
    void (*add)(double * __restrict c, const double * __restrict a, const double * __restrict b, size_t n);
    void (*triad)(double * __restrict a, const double * __restrict b, const double * __restrict c, double s, size_t n);
};

// Plain loops: the compiler vectorises them for the ISA in ATTR. The stores are ordinary, so each
// one first reads its cache line (write-allocate) - real traffic STREAM does not count.
#define MEMBW_PLAIN_KERNELS(SUF, ATTR)                                                                                 \
    ATTR void copy_##SUF(double * __restrict c, const double * __restrict a, size_t n) {                               \
        for (size_t i = 0; i < n; i++) c[i] = a[i];                                                                    \
    }                                                                                                                  \
    ATTR void scale_##SUF(double * __restrict b, const double * __restrict c, double s, size_t n) {                    \
        for (size_t i = 0; i < n; i++) b[i] = s * c[i];                                                                \
    }                                                                                                                  \
    ATTR void add_##SUF(double * __restrict c, const double * __restrict a, const double * __restrict b, size_t n) {   \
        for (size_t i = 0; i < n; i++) c[i] = a[i] + b[i];                                                             \
    }                                                                                                                  \
    ATTR void triad_##SUF(double * __restrict a, const double * __restrict b, const double * __restrict c, double s,   \
                          size_t n) {                                                                                  \
        for (size_t i = 0; i < n; i++) a[i] = b[i] + s * c[i];                                                         \
    }

bool always() { return true; }
MEMBW_PLAIN_KERNELS(generic, )

#if defined(__x86_64__)
MEMBW_PLAIN_KERNELS(avx2, __attribute__((target("avx2"))))
MEMBW_PLAIN_KERNELS(avx512, __attribute__((target("avx512f"))))
bool has_avx() { return __builtin_cpu_supports("avx"); }
bool has_avx2() { return __builtin_cpu_supports("avx2"); }
bool has_avx512f() { return __builtin_cpu_supports("avx512f"); }

// Non-temporal ("streaming") stores write whole lines straight to memory: no write-allocate read,
// so the bytes moved equal the bytes counted. Tuned STREAM builds use them. sfence orders them
// before the barrier that ends the timed region.
#define MEMBW_NT_KERNELS(SUF, ATTR, W, VEC, LOAD, STREAM, MUL, ADD, SET1)                                              \
    ATTR void copy_##SUF(double * __restrict c, const double * __restrict a, size_t n) {                               \
        for (size_t i = 0; i < n; i += W) STREAM(c + i, LOAD(a + i));                                                  \
        _mm_sfence();                                                                                                  \
    }                                                                                                                  \
    ATTR void scale_##SUF(double * __restrict b, const double * __restrict c, double s, size_t n) {                    \
        const VEC vs = SET1(s);                                                                                        \
        for (size_t i = 0; i < n; i += W) STREAM(b + i, MUL(vs, LOAD(c + i)));                                         \
        _mm_sfence();                                                                                                  \
    }                                                                                                                  \
    ATTR void add_##SUF(double * __restrict c, const double * __restrict a, const double * __restrict b, size_t n) {   \
        for (size_t i = 0; i < n; i += W) STREAM(c + i, ADD(LOAD(a + i), LOAD(b + i)));                                \
        _mm_sfence();                                                                                                  \
    }                                                                                                                  \
    ATTR void triad_##SUF(double * __restrict a, const double * __restrict b, const double * __restrict c, double s,   \
                          size_t n) {                                                                                  \
        const VEC vs = SET1(s);                                                                                        \
        for (size_t i = 0; i < n; i += W) STREAM(a + i, ADD(LOAD(b + i), MUL(vs, LOAD(c + i))));                       \
        _mm_sfence();                                                                                                  \
    }

MEMBW_NT_KERNELS(sse2_nt, , 2, __m128d, _mm_load_pd, _mm_stream_pd, _mm_mul_pd, _mm_add_pd, _mm_set1_pd)
MEMBW_NT_KERNELS(avx_nt, __attribute__((target("avx"))), 4, __m256d, _mm256_load_pd, _mm256_stream_pd, _mm256_mul_pd,
                 _mm256_add_pd, _mm256_set1_pd)
MEMBW_NT_KERNELS(avx512_nt, __attribute__((target("avx512f"))), 8, __m512d, _mm512_load_pd, _mm512_stream_pd,
                 _mm512_mul_pd, _mm512_add_pd, _mm512_set1_pd)
#endif

#define MEMBW_SET(NAME, NT, SUPPORTED, SUF)                                                                            \
    { NAME, NT, SUPPORTED, copy_##SUF, scale_##SUF, add_##SUF, triad_##SUF }

// Best first within each store kind; pick() takes the first one the CPU supports.
const KernelSet kKernelSets[] = {
#if defined(__x86_64__)
    MEMBW_SET("avx512f", true, has_avx512f, avx512_nt), MEMBW_SET("avx", true, has_avx, avx_nt),
    MEMBW_SET("sse2", true, always, sse2_nt),           MEMBW_SET("avx512f", false, has_avx512f, avx512),
    MEMBW_SET("avx2", false, has_avx2, avx2),
#endif
    MEMBW_SET("generic", false, always, generic),
};

const KernelSet & pick(Stores stores) {
    const bool want_nt = stores != Stores::Temporal;
    for (const KernelSet & k : kKernelSets)
        if (k.non_temporal == want_nt && k.supported()) return k;
    // Only reached for Auto on a CPU without streaming stores (validate() rejects NonTemporal there).
    return kKernelSets[sizeof(kKernelSets) / sizeof(kKernelSets[0]) - 1];
}

// ---------------------------------------------------------------- helpers

std::string human_bytes(double b) {
    const char * units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int          u       = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g %s", b, units[u]);
    return buf;
}

double physical_bytes() { return double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE)); }

// MemAvailable from /proc/meminfo (free + reclaimable cache), or -1 where it is not readable.
double available_bytes() {
    FILE * f = std::fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char   line[256];
    double kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    std::fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

size_t total_threads(const Options & opt) {
    size_t t = 0;
    for (const Node & n : opt.nodes) t += n.cpus.size();
    return t;
}

// Spinning barrier with sense reversal. Spinning (not a futex) keeps the release skew at a few
// hundred ns, so short kernels are timed fairly; after a while it yields, so an oversubscribed box
// still makes progress. The two counters sit on their own cache lines.
class Barrier {
  public:
    explicit Barrier(int n) : n_(n) {}
    void wait() {
        const int phase = phase_.load(std::memory_order_acquire);
        if (waiting_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
            waiting_.store(0, std::memory_order_relaxed);
            phase_.fetch_add(1, std::memory_order_release);
            return;
        }
        for (int spins = 0; phase_.load(std::memory_order_acquire) == phase;)
            if (spins < kSpinsBeforeYield)
                spins++;
            else
                std::this_thread::yield();
    }

  private:
    const int n_;
    alignas(64) std::atomic<int> waiting_{0};
    alignas(64) std::atomic<int> phase_{0};
};

// The three arrays of one thread, in one mapping: a at 0, b and c after it, each staggered.
class Arrays {
  public:
    double * a     = nullptr;
    double * b     = nullptr;
    double * c     = nullptr;
    bool     huge  = false; // MADV_HUGEPAGE accepted
    bool     bound = false; // mbind accepted

    Arrays()                           = default;
    Arrays(const Arrays &)             = delete;
    Arrays & operator=(const Arrays &) = delete;
    ~Arrays() {
        if (base_) munmap(base_, len_);
    }

    // Maps, advises and binds; no page is touched yet. Returns an error line or "".
    std::string allocate(size_t bytes, int node) {
        const size_t span = 3 * bytes + 2 * kStagger;
        len_              = span + kHugePage; // room to align the start to a huge page
        void * p          = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            len_ = 0;
            return "could not map " + human_bytes(double(span)) + " for the arrays of one thread";
        }
        base_        = p;
        char * start = reinterpret_cast<char *>((reinterpret_cast<uintptr_t>(p) + kHugePage - 1) & ~(kHugePage - 1));
        // Huge pages: fewer TLB misses in a pure streaming loop. Best effort (THP may be off).
        huge = madvise(start, span, MADV_HUGEPAGE) == 0;
        // First touch from the pinned thread already places pages on its node; MPOL_PREFERRED also
        // holds when the process runs under another policy (numactl --interleave), yet still falls
        // back instead of failing when the node is full. No libnuma: one raw syscall.
        unsigned long mask[kNodemaskBits / (8 * sizeof(unsigned long))] = {};
        mask[node / (8 * sizeof(unsigned long))]                        = 1UL << (node % (8 * sizeof(unsigned long)));
        bound = syscall(SYS_mbind, start, span, kMpolPreferred, mask, kNodemaskBits + 1, 0) == 0;
        a     = reinterpret_cast<double *>(start);
        b     = reinterpret_cast<double *>(start + bytes + kStagger);
        c     = reinterpret_cast<double *>(start + 2 * bytes + 2 * kStagger);
        return "";
    }

  private:
    void * base_ = nullptr;
    size_t len_  = 0;
};

std::string pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0) return "could not pin a thread to cpu " + std::to_string(cpu) + " (error " + std::to_string(rc) + ")";
    return "";
}

// The values STREAM's kernels leave in a, b, c after `iters` passes from a=1, b=2, c=0.
void expected_values(int iters, double & a, double & b, double & c) {
    a = 1.0, b = 2.0, c = 0.0;
    for (int i = 0; i < iters; i++) {
        c = a;
        b = kScalar * c;
        c = a + b;
        a = b + kScalar * c;
    }
}

// Checks every element: proves the kernels ran (and were not optimised away) and that no thread
// wrote outside its arrays. Returns an error line or "".
std::string check(const Arrays & arr, size_t n, int iters, int cpu) {
    double ea, eb, ec;
    expected_values(iters, ea, eb, ec);
    const double * arrays[3]   = {arr.a, arr.b, arr.c};
    const double   expected[3] = {ea, eb, ec};
    for (int j = 0; j < 3; j++) {
        for (size_t i = 0; i < n; i++) {
            if (std::fabs(arrays[j][i] - expected[j]) > kCheckEpsilon * std::fabs(expected[j])) {
                char buf[160];
                std::snprintf(buf, sizeof buf,
                              "result check failed on cpu %d: array %c element %zu is %.17g, expected %.17g", cpu,
                              "abc"[j], i, arrays[j][i], expected[j]);
                return buf;
            }
        }
    }
    return "";
}

// ---------------------------------------------------------------- one run

struct Member {
    int cpu;
    int node;
};

// Set from the JS thread (memBandwidthStop); read by the leader once per repetition.
std::atomic<bool> g_stop{false};

// State shared by the threads of one run. best[] is written by the leader (thread 0) only.
struct Run {
    const KernelSet * ks          = nullptr;
    size_t            bytes       = 0; // per array per thread
    size_t            n           = 0; // doubles per array per thread
    int               repetitions = 0;
    Barrier           barrier;
    double            best[4] = {}; // seconds, best timed repetition per kernel
    std::atomic<bool> gate{false};  // opened once every thread exists (or creating one failed)
    std::atomic<bool> failed{false};
    // the leader copies g_stop here before a barrier, so every thread leaves at the same repetition
    std::atomic<bool>  halt{false};
    std::atomic<int>   huge_ok{0}, bound_ok{0};
    std::mutex         mu;
    std::string        error; // first failure, guarded by mu
    const ProgressFn * on_progress   = nullptr;
    int                progress_node = -1, progress_base = 0, progress_total = 0;

    explicit Run(int threads) : barrier(threads) { std::fill(best, best + 4, std::numeric_limits<double>::infinity()); }
    void fail(const std::string & msg) {
        std::lock_guard<std::mutex> lock(mu);
        if (error.empty()) error = msg;
        failed = true;
    }
};

void run_kernel(const KernelSet & ks, int k, const Arrays & x, size_t n) {
    switch (k) {
        case 0: ks.copy(x.c, x.a, n); break;
        case 1: ks.scale(x.b, x.c, kScalar, n); break;
        case 2: ks.add(x.c, x.a, x.b, n); break;
        default: ks.triad(x.a, x.b, x.c, kScalar, n); break;
    }
}

// Pins, maps and first-touches. Returns an error line or ""; never throws, so that every thread
// reaches the first barrier.
std::string set_up(Run & r, Member m, Arrays & arr) {
    try {
        std::string err = pin_to(m.cpu);
        if (err.empty()) err = arr.allocate(r.bytes, m.node);
        if (!err.empty()) return err;
        // First touch while pinned: the kernel places each page on the node of the touching CPU.
        for (size_t i = 0; i < r.n; i++) arr.a[i] = 1.0, arr.b[i] = 2.0, arr.c[i] = 0.0;
        r.huge_ok += arr.huge;
        r.bound_ok += arr.bound;
        return "";
    } catch (const std::exception & e) {
        return e.what();
    }
}

void thread_main(Run & r, Member m, bool leader) {
    while (!r.gate) std::this_thread::yield();
    if (r.failed) return; // a sibling thread could not be created: the barrier would never fill
    Arrays      arr;
    std::string err = set_up(r, m, arr);
    if (!err.empty()) r.fail(err);
    // Every thread reaches this barrier, failed or not, so a failure never leaves others waiting.
    r.barrier.wait();
    if (r.failed) return;

    const int iters = kWarmups + r.repetitions;
    for (int it = 0; it < iters; it++) {
        for (int k = 0; k < 4; k++) {
            r.barrier.wait();
            const auto t0 = std::chrono::steady_clock::now();
            run_kernel(*r.ks, k, arr, r.n);
            r.barrier.wait(); // the kernel ends when the slowest thread ends
            if (leader && it >= kWarmups) {
                const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                r.best[k]       = std::min(r.best[k], dt);
            }
        }
        if (leader && r.on_progress && *r.on_progress) {
            try {
                (*r.on_progress)(Progress{r.progress_node, r.progress_base + it + 1, r.progress_total});
            } catch (...) {
                // progress is advisory; the other threads are already waiting at the next barrier
            }
        }
        if (leader) r.halt = g_stop.load();
        r.barrier.wait(); // every thread sees the same halt
        if (r.halt) {
            if (leader) r.fail("stopped");
            return; // no result check: the arrays hold fewer iterations than check() expects
        }
    }
    err = check(arr, r.n, iters, m.cpu);
    if (!err.empty()) r.fail(err);
}

// Runs all kernels on `members` (one thread each) and returns GB/s per kernel.
Kernels run_once(Run & r, const std::vector<Member> & members) {
    std::vector<std::thread> threads;
    threads.reserve(members.size());
    try {
        for (size_t i = 0; i < members.size(); i++)
            threads.emplace_back([&r, &members, i] {
                try {
                    thread_main(r, members[i], i == 0);
                } catch (const std::exception & e) {
                    r.fail(e.what()); // only check() can still throw here (out of memory for its message)
                }
            });
    } catch (const std::system_error & e) {
        // The threads already started wait at the gate; failed makes them leave before the barrier.
        r.fail(std::string("could not start a benchmark thread (") + e.what() + ")");
    }
    r.gate = true;
    for (std::thread & t : threads) t.join();
    if (r.failed) throw std::runtime_error("memBandwidth: " + r.error);

    const double elems = double(r.n) * double(members.size());
    Kernels      g;
    g.copy_gbs  = kBytesPerElem[0] * elems / r.best[0] / 1e9;
    g.scale_gbs = kBytesPerElem[1] * elems / r.best[1] / 1e9;
    g.add_gbs   = kBytesPerElem[2] * elems / r.best[2] / 1e9;
    g.triad_gbs = kBytesPerElem[3] * elems / r.best[3] / 1e9;
    return g;
}

} // namespace

// ---------------------------------------------------------------- public

void validate(const Options & opt) {
    auto bad = [](const std::string & msg) { throw std::invalid_argument("memBandwidth: " + msg); };
    if (opt.nodes.empty()) bad("nodes is empty; give at least one NUMA node with its CPUs");
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) bad("could not read the CPUs this process may use");
    std::vector<bool> seen_cpu(CPU_SETSIZE, false), seen_node(kMaxNodeId + 1, false);
    for (size_t i = 0; i < opt.nodes.size(); i++) {
        const Node &      node  = opt.nodes[i];
        const std::string where = "nodes[" + std::to_string(i) + "]";
        if (node.id < 0 || node.id > kMaxNodeId)
            bad(where + ".id " + std::to_string(node.id) + " is out of range 0.." + std::to_string(kMaxNodeId));
        if (seen_node[node.id]) bad(where + ".id " + std::to_string(node.id) + " appears twice");
        seen_node[node.id] = true;
        if (node.cpus.empty()) bad(where + ".cpus is empty; give one CPU per physical core");
        for (int cpu : node.cpus) {
            if (cpu < 0 || cpu >= CPU_SETSIZE)
                bad(where + ".cpus has " + std::to_string(cpu) + ", out of range 0.." +
                    std::to_string(CPU_SETSIZE - 1));
            if (!CPU_ISSET(cpu, &allowed))
                bad(where + ".cpus has cpu " + std::to_string(cpu) +
                    ", which does not exist or is not available to this process");
            if (seen_cpu[cpu]) bad("cpu " + std::to_string(cpu) + " is given twice; each CPU runs one thread");
            seen_cpu[cpu] = true;
        }
    }
    if (opt.array_bytes < kMinArrayBytes || opt.array_bytes > kMaxArrayBytes)
        bad("arrayBytesPerThread " + std::to_string(opt.array_bytes) + " is out of range " +
            human_bytes(double(kMinArrayBytes)) + ".." + human_bytes(double(kMaxArrayBytes)));
    if (opt.repetitions < 1 || opt.repetitions > kMaxRepetitions)
        bad("repetitions " + std::to_string(opt.repetitions) + " is out of range 1.." +
            std::to_string(kMaxRepetitions));
    const double need = 3.0 * double(opt.array_bytes) * double(total_threads(opt));
    const double phys = physical_bytes();
    if (need > kMaxMemoryFraction * phys)
        bad("3 arrays x " + human_bytes(double(opt.array_bytes)) + " x " + std::to_string(total_threads(opt)) +
            " threads = " + human_bytes(need) + " exceeds 75% of physical memory (" + human_bytes(phys) + ")");
    // Threads fault the pages in; running out there is an OOM kill, not an error anyone can catch.
    const double avail = available_bytes();
    if (avail > 0 && need > kMaxAvailableFraction * avail)
        bad("3 arrays x " + human_bytes(double(opt.array_bytes)) + " x " + std::to_string(total_threads(opt)) +
            " threads = " + human_bytes(need) + " exceeds 90% of available memory (" + human_bytes(avail) + ")");
#if !defined(__x86_64__)
    if (opt.stores == Stores::NonTemporal) bad("non-temporal stores are implemented for x86-64 only");
#endif
}

void request_stop() { g_stop = true; }

void clear_stop() { g_stop = false; }

Result run(const Options & opt, const ProgressFn & on_progress) {
    validate(opt);
    const KernelSet & ks            = pick(opt.stores);
    const size_t      bytes         = opt.array_bytes / kPage * kPage; // whole pages: n is a multiple of 512
    const bool        separate      = opt.per_node && opt.nodes.size() > 1;
    const int         runs          = separate ? int(opt.nodes.size()) + 1 : 1;
    const int         iters_per_run = kWarmups + opt.repetitions;

    Result res;
    res.array_bytes = bytes;
    res.repetitions = opt.repetitions;
    res.kernels     = std::string(ks.name) + (ks.non_temporal ? ", non-temporal stores" : ", temporal stores");
    res.huge_pages  = true;
    res.numa_bind   = true;

    int  run_index = 0;
    auto measure   = [&](const std::vector<Member> & members, int progress_node) {
        Run r(int(members.size()));
        r.ks             = &ks;
        r.bytes          = bytes;
        r.n              = bytes / sizeof(double);
        r.repetitions    = opt.repetitions;
        r.on_progress    = &on_progress;
        r.progress_node  = progress_node;
        r.progress_base  = run_index * iters_per_run;
        r.progress_total = runs * iters_per_run;
        run_index++;
        Kernels g      = run_once(r, members);
        res.huge_pages = res.huge_pages && r.huge_ok == int(members.size());
        res.numa_bind  = res.numa_bind && r.bound_ok == int(members.size());
        return g;
    };

    std::vector<Member> everyone;
    for (const Node & node : opt.nodes) {
        std::vector<Member> mine;
        for (int cpu : node.cpus) mine.push_back({cpu, node.id});
        everyone.insert(everyone.end(), mine.begin(), mine.end());
        if (separate) res.per_node.push_back({node.id, int(mine.size()), measure(mine, node.id)});
    }
    res.all     = measure(everyone, -1);
    res.threads = int(everyone.size());
    // One node: its own figure is the all-nodes figure; measuring it twice would only cost time.
    if (opt.per_node && !separate) res.per_node.push_back({opt.nodes[0].id, res.threads, res.all});
    return res;
}

} // namespace moerig::membw
