// Decode kernel benchmark (issue 13): how long ggml's CPU backend takes for one matrix × vector
// product of a given weight type and row length, with the weights in the last-level cache or
// streamed from DRAM, at each thread count. Engine code: plain structs, no Node-API
// (native/src/binding/bind_kernels.cpp runs it on a worker thread).
//
// Why: a decoded token on the CPU is a few hundred matrix × vector products, and their speed per
// byte differs by type (Q6_K unpacks more than a repacked Q4_K), by row length (a 128-wide Q8_0 row
// is four blocks: the per-row cost dominates) and by where the weights sit. The planner's class
// constants guess those; calibrate measures them with the same kernels llama.cpp runs.
//
// Method, per case: `ops` weight matrices [k × rows] of `type` (random values quantized with
// ggml_quantize_chunk, so every block is valid), placed as llama.cpp places weights (the first
// extra buffer type of the CPU device that takes a MUL_MAT of them, e.g. CPU_REPACK, else the plain
// CPU buffer); one graph of ops × repeat MUL_MAT nodes y = W·x (x: F32 [k × cols]) cycling over the
// matrices (with `experts`, MUL_MAT_ID over expert stacks, as a routed MoE layer runs in prefill); computed on a
// persistent thread pool, as llama-bench does. Cached: the matrices fit the last-level cache and each graph reads them
// `repeat` times; streamed: they total several times the cache and `repeat` is 1. Per thread count: a warm-up graph,
// then graphs until min_seconds and min_iters have passed; the fastest and the median graph time are reported.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace moerig::kernels {

// Limits checked by validate(); each says why it exists.
constexpr int64_t kMaxK          = int64_t(1) << 20; // longest row (R1's widest is 18432)
constexpr int64_t kMaxOps        = 4096;             // nodes of one graph (ops × repeat)
constexpr double  kMaxTotalBytes = 8.0 * (1 << 30);  // weights of one case (8 GiB)
constexpr int     kMaxThreads    = 1024;
constexpr double  kMaxSeconds    = 60;   // per thread count of one case
constexpr int64_t kMaxCols       = 4096; // activation columns (a prefill ubatch; llama.cpp's default n_ubatch is 512)
constexpr int     kMaxExperts    = 1024; // experts of a MUL_MAT_ID case (Kimi-K2 has 384)
constexpr int     kMaxHeads      = 1024; // heads of a stacked case (R1 has 128)

struct Case {
    std::string type;       // ggml type name, any case: "Q4_K", "q8_0", "F16"
    int64_t     k      = 0; // row length (ne0); a multiple of the type's block size
    int64_t     rows   = 0; // rows per matrix (ne1)
    int         ops    = 1; // distinct matrices
    int         repeat = 1; // passes over them per graph
    int64_t     cols = 1; // activation columns (ne11): 1 = matrix × vector (decode), n = a prefill ubatch of n tokens
    int         experts = 0; // > 0: each matrix is a stack of `experts` [k × rows] experts and the op is
                             // MUL_MAT_ID (llama.cpp's routed experts), each column routed to `used` of them
    int used  = 1;           // experts per column (1..experts), spread evenly: cols × used ÷ experts rows each
    int heads = 0;           // > 0: each matrix is a stack of `heads` [k × rows] matrices, each multiplied by its
                             // own head's columns (a 3-D MUL_MAT, as MLA's attn_k_b/attn_v_b run), the
                             // activations a permuted view with rows 1.5 k apart, as q_nope is in q
    // Flash attention (kv_heads > 0): one FLASH_ATTN_EXT node per op, as llama.cpp's build_attn_mha runs it
    // with -fa: `heads` query heads of `k` dims (F32, a permuted view) attend `rows` cached keys of
    // `type` (F16 is llama.cpp's default cache), `kv_heads` of them (GQA: heads ÷ kv_heads queries
    // share one), values `dv` dims; the `cols` queries are the last `cols` positions, causally masked
    // (an F16 mask, as with -fa), so the kernel skips the tiles llama.cpp's skips.
    int     kv_heads = 0;
    int64_t dv       = 0;     // value dims (≤ k with latent)
    bool    latent   = false; // V is K's first dv dims (MLA's latent cache, one kv head), not a tensor of its own
};

struct Options {
    std::vector<Case> cases;
    std::vector<int>  threads;           // thread counts, each 1..kMaxThreads
    double            min_seconds = 0.2; // per case and thread count
    int               min_iters   = 3;
    bool              extra_bufts = true; // place weights as llama.cpp does (CPU_REPACK, AMX); false: plain CPU buffer
};

struct Timing {
    int    threads  = 0;
    int    iters    = 0;
    double best_s   = 0; // fastest graph
    double median_s = 0;
};

struct Result {
    std::string         type; // ggml's name ("q4_K")
    int64_t             k = 0, rows = 0;
    int                 ops = 0, repeat = 0;
    int64_t             cols    = 1;
    int                 experts = 0, used = 0;
    int                 heads        = 0;
    int                 kv_heads     = 0; // flash attention: see Case
    int64_t             dv           = 0;
    bool                latent       = false;
    double              weight_bytes = 0; // all matrices of the case (flash attention: its K/V caches)
    std::string         buffer;           // buffer type the weights went to ("CPU_REPACK", "CPU")
    std::vector<Timing> timings;          // one per thread count, in the order given
};

// Throws std::invalid_argument naming the first bad field.
void validate(const Options & o);

// Runs every case at every thread count. `stop` is polled between graphs (true: return what is
// done, the case in progress without its unfinished thread counts); `progress(done, total)` after
// each case. Throws std::runtime_error when ggml cannot allocate or has no CPU device.
std::vector<Result> run(const Options & o, const std::function<bool()> & stop,
                        const std::function<void(size_t, size_t)> & progress);

// A process-wide stop flag for callers on another thread (the binding's decodeKernelsStop):
// run's `stop` can poll stop_requested().
void request_stop();
void clear_stop();
bool stop_requested();

} // namespace moerig::kernels
