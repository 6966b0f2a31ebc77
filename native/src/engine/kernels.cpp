// Decode kernel benchmark: see kernels.h for the method.
#include "kernels.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "runtime.h"

namespace moerig::kernels {
namespace {

using std::runtime_error;
using std::string;

constexpr int64_t kTemplateRows = 64;   // distinct quantized rows, repeated to fill a matrix
constexpr int     kWarmups      = 1;    // first graph pays page faults and the pool's start
constexpr int     kMaxIters     = 1000; // per thread count, however fast

std::atomic<bool> g_stop{false};

// ggml type by name, case-insensitive ("Q4_K" → GGML_TYPE_Q4_K); GGML_TYPE_COUNT when unknown.
ggml_type type_by_name(const string & name) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char * n = ggml_type_name((ggml_type) t);
        if (!n || ggml_blck_size((ggml_type) t) == 0) continue;
        if (name.size() == strlen(n) &&
            std::equal(name.begin(), name.end(), n, [](char a, char b) { return tolower(a) == tolower(b); }))
            return (ggml_type) t;
    }
    return GGML_TYPE_COUNT;
}

// Quantizable here: plain float types and types whose quantizer needs no importance matrix.
bool measurable(ggml_type t) {
    if (t == GGML_TYPE_F32 || t == GGML_TYPE_F16 || t == GGML_TYPE_BF16) return true;
    return ggml_get_type_traits(t)->is_quantized && !ggml_quantize_requires_imatrix(t);
}

// `rows` rows of k F32 values as bytes of type t: plain float types converted, the rest quantized.
std::vector<uint8_t> to_type(ggml_type t, const float * src, int64_t rows, int64_t k) {
    std::vector<uint8_t> out(ggml_row_size(t, k) * rows);
    if (t == GGML_TYPE_F32)
        memcpy(out.data(), src, out.size());
    else if (t == GGML_TYPE_F16)
        ggml_fp32_to_fp16_row(src, (ggml_fp16_t *) out.data(), k * rows);
    else if (t == GGML_TYPE_BF16)
        ggml_fp32_to_bf16_row(src, (ggml_bf16_t *) out.data(), k * rows);
    else
        ggml_quantize_chunk(t, src, out.data(), 0, rows, k, nullptr);
    return out;
}

// `n` values from N(0, sd).
std::vector<float> normal_values(size_t n, float sd, std::mt19937 & rng) {
    std::vector<float>              v(n);
    std::normal_distribution<float> nd(0.0f, sd);
    for (auto & x : v) x = nd(rng);
    return v;
}

// One matrix's bytes: kTemplateRows random rows quantized once, repeated (values do not change
// the kernels' time; addresses do, and every copy has its own). Weights N(0, 0.02); a KV cache N(0, 1).
std::vector<uint8_t> matrix_bytes(ggml_type t, int64_t k, int64_t rows, std::mt19937 & rng, float sd = 0.02f) {
    const int64_t              tr        = std::min(rows, kTemplateRows);
    const std::vector<uint8_t> tmpl      = to_type(t, normal_values(size_t(tr * k), sd, rng).data(), tr, k);
    const size_t               row_bytes = ggml_row_size(t, k);
    std::vector<uint8_t>       out(row_bytes * rows);
    for (int64_t r = 0; r < rows; r += tr) {
        const int64_t n = std::min(tr, rows - r);
        memcpy(out.data() + r * row_bytes, tmpl.data(), n * row_bytes);
    }
    return out;
}

// The buffer type llama.cpp would give weight `w` used by `op` (src/llama-model.cpp
// weight_buft_supported): the first extra type whose device takes the op with the weight in a
// (dummy) buffer of that type; else the device's own.
ggml_backend_buffer_type_t pick_buft(ggml_backend_dev_t cpu, ggml_tensor * w, ggml_tensor * op, bool extras) {
    if (extras)
        for (auto * b : cpu_extra_bufts()) {
            w->buffer = ggml_backend_buft_alloc_buffer(b, 0);
            bool ok   = w->buffer && ggml_backend_dev_supports_op(cpu, op);
            if (w->buffer) ggml_backend_buffer_free(w->buffer);
            w->buffer = nullptr;
            if (ok) return b;
        }
    return ggml_backend_dev_buffer_type(cpu);
}

struct Ctx {
    ggml_context * p = nullptr;
    explicit Ctx(size_t tensors, size_t graph_nodes) {
        ggml_init_params ip = {ggml_tensor_overhead() * tensors + ggml_graph_overhead_custom(graph_nodes, false) + 1024,
                               nullptr, true};
        p                   = ggml_init(ip);
        if (!p) throw runtime_error("ggml_init failed");
    }
    ~Ctx() { ggml_free(p); }
};

struct Buffer {
    ggml_backend_buffer_t p = nullptr;
    ~Buffer() {
        if (p) ggml_backend_buffer_free(p);
    }
};

struct Backend {
    ggml_backend_t p = nullptr;
    CpuThreadPool  tp;
    ~Backend() {
        if (p) ggml_backend_free(p);
        if (tp.pool) tp.free(tp.pool);
    }
};

// The CPU backend on a pool of `threads` (llama-bench's set-up; without a pool each graph would
// start and join its threads).
void use_threads(Backend & be, ggml_backend_dev_t cpu, int threads) {
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
    auto * set_n  = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    auto * set_tp = (void (*)(ggml_backend_t, ggml_threadpool_t)) ggml_backend_reg_get_proc_address(
        reg, "ggml_backend_cpu_set_threadpool");
    if (set_n) set_n(be.p, threads);
    if (!set_tp) return;
    if (be.tp.pool) {
        set_tp(be.p, nullptr);
        be.tp.free(be.tp.pool);
        be.tp = {};
    }
    be.tp = cpu_threadpool_new(threads);
    if (be.tp.pool) set_tp(be.p, be.tp.pool);
}

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Times `gf` at each thread count of `o` into res.timings: a warm-up graph, then graphs until
// min_seconds and min_iters (at most kMaxIters, kMaxSeconds).
void time_graph(Result & res, ggml_cgraph * gf, const Options & o, ggml_backend_dev_t cpu,
                const std::function<bool()> & stop, const string & what) {
    Backend be;
    be.p = ggml_backend_dev_init(cpu, nullptr);
    if (!be.p) throw runtime_error("could not start the CPU backend");
    for (int threads : o.threads) {
        if (stop()) break;
        use_threads(be, cpu, threads);
        for (int i = 0; i < kWarmups; i++)
            if (ggml_backend_graph_compute(be.p, gf) != GGML_STATUS_SUCCESS)
                throw runtime_error("ggml could not compute a " + what + " graph");
        std::vector<double> ts;
        const double        t0 = now_s();
        while ((int) ts.size() < kMaxIters && ((int) ts.size() < o.min_iters || now_s() - t0 < o.min_seconds) &&
               now_s() - t0 < kMaxSeconds) {
            if (stop()) break;
            const double a = now_s();
            ggml_backend_graph_compute(be.p, gf);
            ts.push_back(now_s() - a);
        }
        if (ts.empty()) break;
        std::sort(ts.begin(), ts.end());
        Timing tm;
        tm.threads  = threads;
        tm.iters    = (int) ts.size();
        tm.best_s   = ts.front();
        tm.median_s = ts.size() % 2 ? ts[ts.size() / 2] : (ts[ts.size() / 2 - 1] + ts[ts.size() / 2]) / 2;
        res.timings.push_back(tm);
    }
}

// A case's description in its result (weight_bytes and buffer are the caller's).
Result result_of(const Case & c, ggml_type t) {
    Result r;
    r.type     = ggml_type_name(t);
    r.k        = c.k;
    r.rows     = c.rows;
    r.ops      = c.ops;
    r.repeat   = c.repeat;
    r.cols     = c.cols;
    r.experts  = c.experts;
    r.used     = c.experts > 0 ? c.used : 0;
    r.heads    = c.heads;
    r.kv_heads = c.kv_heads;
    r.dv       = c.dv;
    r.latent   = c.latent;
    return r;
}

// Every element of a tensor (of any type to_type takes) from N(0, sd).
void fill_random(ggml_tensor * t, float sd, std::mt19937 & rng) {
    const int64_t              k = t->ne[0], rows = ggml_nrows(t);
    const std::vector<uint8_t> b = to_type(t->type, normal_values(size_t(k * rows), sd, rng).data(), rows, k);
    ggml_backend_tensor_set(t, b.data(), 0, b.size());
}

// A flash-attention case (Case::kv_heads > 0), laid out as llama.cpp's KV cache and graph hold it
// (llama-kv-cache.cpp get_k/get_v, llama-graph.cpp build_attn_mha): q [k, heads, cols] permuted to
// [k, cols, heads]; each op's cache [k · kv_heads, rows] viewed [k, kv_heads, rows] and permuted to
// [k, rows, kv_heads]; V the same with dv, or with `latent` a view of K's first dv dims; the mask
// F16 [rows, cols], 0 where query j (position rows − cols + j) may see the key, −∞ past it.
Result run_attn_case(const Case & c, const Options & o, ggml_backend_dev_t cpu, const std::function<bool()> & stop,
                     std::mt19937 & rng) {
    const ggml_type            t     = type_by_name(c.type);
    const int                  nodes = c.ops * c.repeat;
    Ctx                        wctx(size_t(c.ops) * 2 + 1, 0);
    Ctx                        cctx(size_t(nodes) * 8 + 8, size_t(nodes) * 8 + 8);
    std::vector<ggml_tensor *> ks, vs;
    for (int i = 0; i < c.ops; i++) {
        ks.push_back(ggml_new_tensor_2d(wctx.p, t, c.k * c.kv_heads, c.rows));
        if (!c.latent) vs.push_back(ggml_new_tensor_2d(wctx.p, t, c.dv * c.kv_heads, c.rows));
    }
    ggml_tensor * q     = ggml_new_tensor_3d(cctx.p, GGML_TYPE_F32, c.k, c.heads, c.cols);
    ggml_tensor * mask  = ggml_new_tensor_2d(cctx.p, GGML_TYPE_F16, c.rows, c.cols);
    ggml_tensor * qp    = ggml_permute(cctx.p, q, 0, 2, 1, 3);
    ggml_cgraph * gf    = ggml_new_graph_custom(cctx.p, size_t(nodes) * 8 + 8, false);
    const float   scale = 1.0f / sqrtf(float(c.k));
    for (int r = 0; r < c.repeat; r++)
        for (int i = 0; i < c.ops; i++) {
            ggml_tensor * kc = ks[i];
            ggml_tensor * kv = ggml_view_3d(cctx.p, kc, c.k, c.kv_heads, c.rows, ggml_row_size(t, c.k), kc->nb[1], 0);
            ggml_tensor * vv =
                c.latent
                    ? ggml_view_3d(cctx.p, kc, c.dv, c.kv_heads, c.rows, ggml_row_size(t, c.k), kc->nb[1], 0)
                    : ggml_view_3d(cctx.p, vs[i], c.dv, c.kv_heads, c.rows, ggml_row_size(t, c.dv), vs[i]->nb[1], 0);
            ggml_tensor * y = ggml_flash_attn_ext(cctx.p, qp, ggml_permute(cctx.p, kv, 0, 2, 1, 3),
                                                  ggml_permute(cctx.p, vv, 0, 2, 1, 3), mask, scale, 0.0f, 0.0f);
            ggml_flash_attn_ext_set_prec(y, GGML_PREC_F32);
            ggml_build_forward_expand(gf, y);
        }

    Result res = result_of(c, t);
    res.weight_bytes =
        double(ggml_row_size(t, c.k * c.kv_heads) + (c.latent ? 0 : ggml_row_size(t, c.dv * c.kv_heads))) *
        double(c.rows) * c.ops;
    res.buffer = ggml_backend_buft_name(ggml_backend_dev_buffer_type(cpu));
    if (!ggml_backend_dev_supports_op(cpu, ggml_graph_node(gf, -1)))
        throw runtime_error("the CPU backend has no flash attention for a " + res.type + " cache of k " +
                            std::to_string(c.k) + ", dv " + std::to_string(c.dv));
    Buffer wbuf, cbuf;
    wbuf.p = ggml_backend_alloc_ctx_tensors_from_buft(wctx.p, ggml_backend_dev_buffer_type(cpu));
    cbuf.p = ggml_backend_alloc_ctx_tensors_from_buft(cctx.p, ggml_backend_dev_buffer_type(cpu));
    if (!wbuf.p || !cbuf.p)
        throw runtime_error("could not allocate " + std::to_string(res.weight_bytes / 1e6) + " MB of " + res.type +
                            " cache");
    if (c.cols == 1) {
        // decode: every op's cache the same template rows (a whole cache of normal values took
        // seconds per case, 64–512 MB streamed; per pair at one thread, Zen 4 guest, the four
        // geometries 91.6/56.2/63.1/21.4 ns random, 91–93/55–56/64–68/21 templated: within noise)
        const std::vector<uint8_t> kb = matrix_bytes(t, c.k * c.kv_heads, c.rows, rng, 1.0f);
        for (auto * x : ks) ggml_backend_tensor_set(x, kb.data(), 0, kb.size());
        if (!vs.empty()) {
            const std::vector<uint8_t> vb = matrix_bytes(t, c.dv * c.kv_heads, c.rows, rng, 1.0f);
            for (auto * x : vs) ggml_backend_tensor_set(x, vb.data(), 0, vb.size());
        }
    } else {
        // prefill: one small cache, random throughout (repeated rows ran R1's latent geometry ≈ 20 %
        // faster, 37–40 against 44–48 ns per pair at one thread)
        for (auto * x : ks) fill_random(x, 1.0f, rng);
        for (auto * x : vs) fill_random(x, 1.0f, rng);
    }
    fill_random(q, 1.0f, rng);
    {
        std::vector<ggml_fp16_t> m(size_t(c.rows * c.cols));
        const ggml_fp16_t        zero = ggml_fp32_to_fp16(0.0f), ninf = ggml_fp32_to_fp16(-INFINITY);
        for (int64_t j = 0; j < c.cols; j++)
            for (int64_t i = 0; i < c.rows; i++) m[size_t(j * c.rows + i)] = i <= c.rows - c.cols + j ? zero : ninf;
        ggml_backend_tensor_set(mask, m.data(), 0, m.size() * sizeof(ggml_fp16_t));
    }
    time_graph(res, gf, o, cpu, stop, res.type + " FLASH_ATTN_EXT");
    return res;
}

Result run_case(const Case & c, const Options & o, ggml_backend_dev_t cpu, const std::function<bool()> & stop,
                std::mt19937 & rng) {
    const ggml_type            t     = type_by_name(c.type);
    const int                  nodes = c.ops * c.repeat;
    Ctx                        wctx(size_t(c.ops) + 1, 0);
    Ctx                        cctx(size_t(nodes) + 4, size_t(nodes) + 4);
    std::vector<ggml_tensor *> ws;
    const bool                 moe   = c.experts > 0;
    const int64_t              stack = moe ? c.experts : c.heads > 0 ? c.heads : 1; // matrices per weight
    for (int i = 0; i < c.ops; i++)
        ws.push_back(stack > 1 || moe ? ggml_new_tensor_3d(wctx.p, t, c.k, c.rows, stack)
                                      : ggml_new_tensor_2d(wctx.p, t, c.k, c.rows));
    // MUL_MAT_ID: the activations broadcast over the used experts ([k, 1, cols], as llama.cpp's
    // gate/up projections take them), ids [used, cols]. Stacked: q as llama.cpp's deepseek2 graph
    // holds it ([1.5 k, heads, cols]: the nope part and the rope part of each head), its first k of each
    // head viewed and permuted to [k, cols, heads], one head's columns for each matrix of the stack
    const int64_t xk  = c.heads > 0 ? c.k + c.k / 2 : c.k;
    ggml_tensor * x   = moe           ? ggml_new_tensor_3d(cctx.p, GGML_TYPE_F32, c.k, 1, c.cols)
                        : c.heads > 0 ? ggml_new_tensor_3d(cctx.p, GGML_TYPE_F32, xk, c.heads, c.cols)
                                      : ggml_new_tensor_2d(cctx.p, GGML_TYPE_F32, c.k, c.cols);
    ggml_tensor * ids = moe ? ggml_new_tensor_2d(cctx.p, GGML_TYPE_I32, c.used, c.cols) : nullptr;
    ggml_tensor * xin =
        c.heads > 0
            ? ggml_permute(cctx.p, ggml_view_3d(cctx.p, x, c.k, c.heads, c.cols, x->nb[1], x->nb[2], 0), 0, 2, 1, 3)
            : x;
    ggml_cgraph *              gf = ggml_new_graph_custom(cctx.p, size_t(nodes) + 4, false);
    std::vector<ggml_tensor *> ys;
    for (int r = 0; r < c.repeat; r++)
        for (int i = 0; i < c.ops; i++) {
            ggml_tensor * y = moe ? ggml_mul_mat_id(cctx.p, ws[i], x, ids) : ggml_mul_mat(cctx.p, ws[i], xin);
            ggml_build_forward_expand(gf, y);
            ys.push_back(y);
        }

    Result res       = result_of(c, t);
    res.weight_bytes = double(ggml_row_size(t, c.k)) * double(c.rows) * double(stack) * c.ops;

    ggml_backend_buffer_type_t wbuft = pick_buft(cpu, ws[0], ys[0], o.extra_bufts);
    res.buffer                       = ggml_backend_buft_name(wbuft);
    Buffer wbuf, cbuf;
    wbuf.p = ggml_backend_alloc_ctx_tensors_from_buft(wctx.p, wbuft);
    cbuf.p = ggml_backend_alloc_ctx_tensors_from_buft(cctx.p, ggml_backend_dev_buffer_type(cpu));
    if (!wbuf.p || !cbuf.p)
        throw runtime_error("could not allocate " + std::to_string(res.weight_bytes / 1e6) + " MB of " + res.type +
                            " weights");
    {
        std::vector<uint8_t> bytes = matrix_bytes(t, c.k, c.rows * stack, rng);
        for (auto * w : ws) ggml_backend_tensor_set(w, bytes.data(), 0, bytes.size()); // CPU_REPACK repacks here
        fill_random(x, 1.0f, rng);
        if (moe) {
            // column j routed to experts (j·used + u) mod experts: distinct within a column, every
            // expert the same number of rows
            std::vector<int32_t> id(size_t(c.used) * size_t(c.cols));
            for (int64_t j = 0; j < c.cols; j++)
                for (int u = 0; u < c.used; u++) id[size_t(j) * c.used + u] = int32_t((j * c.used + u) % c.experts);
            ggml_backend_tensor_set(ids, id.data(), 0, id.size() * sizeof(int32_t));
        }
    }

    time_graph(res, gf, o, cpu, stop, res.type + (moe ? " MUL_MAT_ID" : " MUL_MAT"));
    return res;
}

} // namespace

void validate(const Options & o) {
    using std::invalid_argument;
    if (o.cases.empty()) throw invalid_argument("cases: at least one");
    if (o.threads.empty()) throw invalid_argument("threads: at least one");
    for (int t : o.threads)
        if (t < 1 || t > kMaxThreads)
            throw invalid_argument("threads: each must be 1.." + std::to_string(kMaxThreads) + ", got " +
                                   std::to_string(t));
    if (!(o.min_seconds >= 0 && o.min_seconds <= kMaxSeconds))
        throw invalid_argument("minSeconds must be 0.." + std::to_string((int) kMaxSeconds));
    if (o.min_iters < 1 || o.min_iters > kMaxIters)
        throw invalid_argument("minIters must be 1.." + std::to_string(kMaxIters));
    for (size_t i = 0; i < o.cases.size(); i++) {
        const Case & c  = o.cases[i];
        const string at = "cases[" + std::to_string(i) + "]";
        ggml_type    t  = type_by_name(c.type);
        if (t == GGML_TYPE_COUNT) throw invalid_argument(at + ".type: unknown ggml type \"" + c.type + "\"");
        if (!measurable(t))
            throw invalid_argument(at + ".type: " + c.type + " needs an importance matrix to quantize; not measured");
        if (c.k < 1 || c.k > kMaxK || c.k % ggml_blck_size(t) != 0)
            throw invalid_argument(at + ".k: must be a positive multiple of " + std::to_string(ggml_blck_size(t)) +
                                   " (the " + c.type + " block) up to " + std::to_string(kMaxK));
        if (c.rows < 1) throw invalid_argument(at + ".rows: must be ≥ 1");
        if (c.cols < 1 || c.cols > kMaxCols)
            throw invalid_argument(at + ".cols: must be 1.." + std::to_string(kMaxCols));
        if (c.experts < 0 || c.experts > kMaxExperts)
            throw invalid_argument(at + ".experts: must be 0.." + std::to_string(kMaxExperts));
        if (c.experts > 0 && (c.used < 1 || c.used > c.experts))
            throw invalid_argument(at + ".used: must be 1..experts (" + std::to_string(c.experts) + ")");
        if (c.heads < 0 || c.heads > kMaxHeads)
            throw invalid_argument(at + ".heads: must be 0.." + std::to_string(kMaxHeads));
        if (c.heads > 0 && c.experts > 0 && c.kv_heads == 0)
            throw invalid_argument(at + ".heads: a stacked case has no experts");
        if (c.kv_heads < 0 || c.kv_heads > kMaxHeads)
            throw invalid_argument(at + ".kvHeads: must be 0.." + std::to_string(kMaxHeads));
        if (c.kv_heads == 0 && (c.dv != 0 || c.latent))
            throw invalid_argument(at + ".dv: only a flash-attention case (kvHeads > 0) has value dims");
        if (c.kv_heads > 0) {
            if (c.experts > 0) throw invalid_argument(at + ".experts: a flash-attention case has no experts");
            if (c.heads < 1 || c.heads % c.kv_heads != 0)
                throw invalid_argument(at +
                                       ".heads: a flash-attention case needs query heads, a multiple of kvHeads (" +
                                       std::to_string(c.kv_heads) + ")");
            if (c.dv < 1 || c.dv > kMaxK || (c.latent && c.dv > c.k))
                throw invalid_argument(at + ".dv: must be 1.." + std::to_string(c.latent ? c.k : kMaxK) +
                                       (c.latent ? " (a latent V is part of K)" : ""));
            if (c.latent && c.kv_heads != 1) throw invalid_argument(at + ".kvHeads: a latent cache has one kv head");
            if (c.cols > c.rows)
                throw invalid_argument(at + ".cols: the queries (" + std::to_string(c.cols) +
                                       ") are positions of the cache: at most rows (" + std::to_string(c.rows) + ")");
            if (ggml_blck_size(t) > 1 && (c.dv % ggml_blck_size(t) != 0))
                throw invalid_argument(at + ".dv: must be a multiple of " + std::to_string(ggml_blck_size(t)) +
                                       " (the " + c.type + " block)");
        }
        if (c.ops < 1 || c.repeat < 1 || int64_t(c.ops) * c.repeat > kMaxOps)
            throw invalid_argument(at + ": ops and repeat must be ≥ 1 with ops × repeat ≤ " + std::to_string(kMaxOps));
        const int stack = c.kv_heads > 0 ? 2 * c.kv_heads : std::max({1, c.experts, c.heads});
        if (double(ggml_row_size(t, c.k)) * double(c.rows) * stack * c.ops > kMaxTotalBytes)
            throw invalid_argument(at + ": weights over 8 GiB");
    }
}

std::vector<Result> run(const Options & o, const std::function<bool()> & stop,
                        const std::function<void(size_t, size_t)> & progress) {
    validate(o);
    require_init();
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw runtime_error("no CPU device loaded");
    std::mt19937        rng(12345);
    std::vector<Result> out;
    for (size_t i = 0; i < o.cases.size() && !stop(); i++) {
        out.push_back(o.cases[i].kv_heads > 0 ? run_attn_case(o.cases[i], o, cpu, stop, rng)
                                              : run_case(o.cases[i], o, cpu, stop, rng));
        progress(i + 1, o.cases.size());
    }
    return out;
}

void request_stop() { g_stop = true; }
void clear_stop() { g_stop = false; }
bool stop_requested() { return g_stop; }

} // namespace moerig::kernels
