// STREAM-style memory-bandwidth benchmark (copy, scale, add, triad), engine code: plain structs, no
// Node-API. native/src/binding/bind_membw.cpp converts JS values to these structs and runs membw::run
// on a worker thread.
//
// Decode speed of a CPU-resident MoE is bound by DRAM bandwidth, so this is the one figure probe
// measures. Method (McCalpin's STREAM, https://www.cs.virginia.edu/stream/ref.html):
//   copy  c = a          16 bytes per element (2 arrays × 8 bytes)
//   scale b = s*c        16
//   add   c = a + b      24 (3 arrays × 8 bytes)
//   triad a = b + s*c    24
// one pinned thread per CPU given, each with its own arrays placed on its NUMA node; all threads run
// each kernel together between two barriers; best of N timed repetitions after one warm-up;
// GB/s = 1e9 bytes/s of the counted bytes (write-allocate traffic is not counted, as in STREAM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace moerig::membw {

// Limits checked by validate(); each says why it exists.
constexpr size_t kMinArrayBytes  = 4096;            // one page: smaller arrays only measure the barrier
constexpr size_t kMaxArrayBytes  = size_t(1) << 40; // 1 TiB per array per thread: beyond any real box
constexpr int    kMaxRepetitions = 100;             // values grow ×15 per STREAM pass (s = 3); after
                                                    // 101 passes (1e119) they are still finite doubles
constexpr int    kMaxNodeId            = 1023;      // nodemask passed to mbind has 1024 bits
constexpr double kMaxMemoryFraction    = 0.75;      // of physical RAM for all arrays of one run
constexpr double kMaxAvailableFraction = 0.9;       // of MemAvailable: leave room for everything else

struct Node {
    int              id;   // NUMA node id (sysfs node<N>)
    std::vector<int> cpus; // logical CPUs to run on, one per physical core; one thread each
};

enum class Stores {
    Auto,        // non-temporal where the CPU has them (x86-64): what tuned STREAM builds do
    Temporal,    // plain stores: a write-allocate read per store, as most compiled code does
    NonTemporal, // streaming stores that bypass the cache (x86-64 only)
};

struct Options {
    std::vector<Node> nodes;              // at least one; CPUs distinct across nodes
    size_t            array_bytes = 0;    // bytes per array per thread (3 arrays a, b, c per thread)
    int               repetitions = 10;   // timed repetitions per kernel; the best one counts
    bool              per_node    = true; // also measure each node alone before all nodes together
    Stores            stores      = Stores::Auto;
};

struct Kernels {
    double copy_gbs = 0, scale_gbs = 0, add_gbs = 0, triad_gbs = 0;
};

struct NodeResult {
    int     node    = 0;
    int     threads = 0;
    Kernels gbs;
};

struct Result {
    Kernels                 all;             // every node together
    int                     threads     = 0; // threads of the all-nodes run
    size_t                  array_bytes = 0; // per array per thread, after rounding down to whole pages
    int                     repetitions = 0;
    std::string             kernels;            // e.g. "avx512f, non-temporal stores": what actually ran
    bool                    huge_pages = false; // madvise(MADV_HUGEPAGE) accepted for every array
    bool                    numa_bind  = false; // mbind(MPOL_PREFERRED) accepted for every array
    std::vector<NodeResult> per_node;           // one per node, in the order given (empty if !per_node)
};

// Sent after every repetition (4 kernels) of every run; done/total count across all runs.
struct Progress {
    int node; // node id of the run, or -1 for the all-nodes run
    int done;
    int total;
};

using ProgressFn = std::function<void(const Progress &)>;

// Throws std::invalid_argument with one line naming the bad field. Checks what the JS side cannot:
// CPUs this process may run on, physical memory.
void validate(const Options & opt);

// Runs the whole benchmark (validate() first). Blocks; call it from a worker thread. on_progress is
// called from a benchmark thread. Throws std::runtime_error on pinning, allocation or a wrong result.
Result run(const Options & opt, const ProgressFn & on_progress);

// Ask a run to stop after its current repetition (Ctrl-C): it then throws
// std::runtime_error("memBandwidth: stopped"). Safe from any thread. A request made after the run
// was queued but before its worker thread started still counts: the caller clears old requests
// with clear_stop() when it queues the run (run() itself does not, or that stop would be lost).
void request_stop();
void clear_stop();

} // namespace moerig::membw
