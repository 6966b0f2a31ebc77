// The runner engine over llama.cpp's public C API. See engine.h for the shapes.
#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <regex>
#include <stdexcept>

#include "ggml-backend-impl.h" // struct ggml_backend_buffer_type: the guard's plain host buffer type
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

namespace moerig {

using std::runtime_error;
using std::string;

namespace {

uint64_t now_ns() {
    return (uint64_t) std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

} // namespace

// ---------------------------------------------------------------- model

Model::~Model() {
    if (model) llama_model_free(model);
}

namespace {

string lower(string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return (char) std::tolower(c); });
    return s;
}

// A device name ("CPU", "Vulkan0", case-insensitive) or a buffer-type name ("CUDA_Host") → buffer type.
ggml_backend_buffer_type_t resolve_buft(const string & device) {
    if (lower(device) == "cpu") return ggml_backend_cpu_buffer_type();
    string names;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t         dev  = ggml_backend_dev_get(i);
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
        if (lower(ggml_backend_dev_name(dev)) == lower(device) || lower(ggml_backend_buft_name(buft)) == lower(device))
            return buft;
        names += (names.empty() ? "" : ", ") + string(ggml_backend_dev_name(dev));
    }
    throw runtime_error("unknown device \"" + device + "\" in a tensor override (available: " + names + ")");
}

int meta_int(const llama_model * m, const string & key, int dflt) {
    char buf[64];
    if (llama_model_meta_val_str(m, key.c_str(), buf, sizeof(buf)) < 0) return dflt;
    return atoi(buf);
}

string meta_str(const llama_model * m, const char * key) {
    char buf[256];
    if (llama_model_meta_val_str(m, key, buf, sizeof(buf)) < 0) return "";
    return buf;
}

// ---------------------------------------------------------------- AMX guard
//
// ggml's AMX buffer type (llama.cpp ggml/src/ggml-cpu/amx/amx.cpp, mmq.cpp) packs and sizes a weight as one ne0 × ne1
// matrix: ggml_backend_amx_get_alloc_size and ggml_backend_amx_convert_weight ignore ne2. The
// loader still offers it the 3-D MLA weights blk.N.attn_k_b / attn_v_b ([.., .., n_head]),
// because its supports_op test multiplies a 3-D weight like a 2-D one. Two failures follow on
// AMX CPUs (libggml-cpu-sapphirerapids.so and later), seen with this release:
//   - a 3-D weight whose matmul input is a permuted (non-contiguous) view (attn_v_b under flash
//     attention, attn_k_b of F16 files) is supported by no backend: the scheduler aborts with
//     GGML_ASSERT(*cur_backend_id != -1) while the context is created;
//   - where it does run (q4_K attn_v_b, flash attention off) the result is wrong: only the first
//     head was packed (a prompt's logits came out all zero on synth tiny).
// test/native/variants.test.ts is the check: on an AMX CPU it fails with MOERIG_AMX_GUARD=0 (README.md,
// "CPU variants, AMX and repacking", says how).
// A tensor override to "CPU" does not help (the loader re-selects among the CPU's extra buffer
// types). So these weights get a plain host buffer type ("CPU_Plain", below) by an exact-name
// override, only where they would live in CPU memory; every other weight keeps AMX / CPU_REPACK.

// "CPU_Plain": host memory allocated like the CPU buffer type's, under a type of its own. The loader
// re-selects among the CPU's extra buffer types only for the CPU buffer type itself, and it logs
// each type's total ("CPU_Plain model buffer size = …"), so the guard's bytes are visible apart
// from the mapped file span.
const char *          plain_name(ggml_backend_buffer_type_t) { return "CPU_Plain"; }
ggml_backend_buffer_t plain_alloc(ggml_backend_buffer_type_t buft, size_t size) {
    ggml_backend_buffer_t b = ggml_backend_buft_alloc_buffer(ggml_backend_cpu_buffer_type(), size);
    if (b) b->buft = buft; // the CPU buffer's functions never look at their type
    return b;
}
size_t plain_alignment(ggml_backend_buffer_type_t) {
    return ggml_backend_buft_get_alignment(ggml_backend_cpu_buffer_type());
}
bool plain_is_host(ggml_backend_buffer_type_t) { return true; }

ggml_backend_buffer_type_t plain_host_buft() {
    // device NULL, like the CPU buffer type's in this release (llama.cpp handles it: "FIXME: workaround")
    static ggml_backend_buffer_type buft = {
        {plain_name, plain_alloc, plain_alignment, nullptr, nullptr, plain_is_host}, nullptr, nullptr};
    return &buft;
}

bool amx_offers_type(ggml_type t) {
    // the types AMX's supports_op accepts (ggml/src/ggml-cpu/amx/amx.cpp: Q4_0/Q4_1/Q8_0, Q4_K/Q5_K/Q6_K/IQ4_XS, F16)
    switch (t) {
        case GGML_TYPE_Q4_0:
        case GGML_TYPE_Q4_1:
        case GGML_TYPE_Q8_0:
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
        case GGML_TYPE_IQ4_XS:
        case GGML_TYPE_F16: return true;
        default: return false;
    }
}

bool has_gpu_device() {
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        auto t = ggml_backend_dev_type(ggml_backend_dev_get(i));
        if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) return true;
    }
    return false;
}

// --device's names → the NULL-terminated list llama_model_params.devices takes ({nullptr} = none),
// as common/arg.cpp's parse_device_list: a CPU device or an unknown name is refused.
std::vector<ggml_backend_dev_t> offload_devices(const std::vector<string> & names) {
    std::vector<ggml_backend_dev_t> out;
    for (const auto & name : names) {
        ggml_backend_dev_t found = nullptr;
        string             avail;
        for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
            ggml_backend_dev_t dev = ggml_backend_dev_get(i);
            if (ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_CPU) continue;
            if (lower(ggml_backend_dev_name(dev)) == lower(name)) found = dev;
            avail += (avail.empty() ? "" : ", ") + string(ggml_backend_dev_name(dev));
        }
        if (found == nullptr)
            throw runtime_error("unknown offload device \"" + name +
                                "\" (available: " + (avail.empty() ? "none, this engine sees no GPU" : avail) + ")");
        out.push_back(found);
    }
    out.push_back(nullptr);
    return out;
}

struct OverrideRule {
    std::regex                 re;
    ggml_backend_buffer_type_t buft;
};

// The files of a model: `path`, or every shard of a split GGUF ("<prefix>-0000N-of-0000M.gguf",
// split.no / split.count in the header), found the way llama.cpp's src/llama-model-loader.cpp finds them.
std::vector<string> model_files(const string & path, gguf_context * first) {
    int64_t kc = gguf_find_key(first, "split.count"), kn = gguf_find_key(first, "split.no");
    if (kc < 0 || gguf_get_kv_type(first, kc) != GGUF_TYPE_UINT16) return {path};
    const int count = gguf_get_val_u16(first, kc);
    const int no    = kn >= 0 && gguf_get_kv_type(first, kn) == GGUF_TYPE_UINT16 ? gguf_get_val_u16(first, kn) : 0;
    if (count <= 1) return {path};
    std::vector<char> buf(4096);
    const int         n = llama_split_prefix(buf.data(), buf.size(), path.c_str(), no, count);
    if (n <= 0) return {path}; // the loader will say what is wrong with the name
    const string        prefix(buf.data(), (size_t) n);
    std::vector<string> out;
    for (int i = 0; i < count; i++) {
        const int m = llama_split_path(buf.data(), buf.size(), prefix.c_str(), i, count);
        out.emplace_back(buf.data(), (size_t) std::max(0, m));
    }
    return out;
}

// Names of the 3-D (or 4-D) matmul weights of the model at p.path (every shard) that would end up
// in CPU memory under the placement p and the overrides `rules` (first match wins, as in
// llama.cpp's loader). Routed experts (_exps) are 3-D too but run as MUL_MAT_ID, which AMX never takes.
std::vector<string> amx_guard_names(const ModelParams & p, const std::vector<OverrideRule> & rules) {
    std::vector<string> out;
    gguf_context *      g0 = gguf_init_from_file(p.path.c_str(), {true, nullptr});
    if (!g0) return out; // the loader reports what is wrong with the file
    int     n_layer = -1;
    int64_t ka      = gguf_find_key(g0, "general.architecture");
    if (ka >= 0 && gguf_get_kv_type(g0, ka) == GGUF_TYPE_STRING) {
        int64_t kb = gguf_find_key(g0, (string(gguf_get_val_str(g0, ka)) + ".block_count").c_str());
        if (kb >= 0 && gguf_get_kv_type(g0, kb) == GGUF_TYPE_UINT32) n_layer = (int) gguf_get_val_u32(g0, kb);
    }
    const std::vector<string> files = model_files(p.path, g0);
    gguf_free(g0);
    const bool              gpu         = has_gpu_device();
    const int               n_gpu       = p.n_gpu_layers >= 0 ? p.n_gpu_layers : n_layer + 1;
    const int               i_gpu_start = std::max(n_layer + 1 - n_gpu, 0); // src/llama-model.cpp load_tensors
    static const std::regex block_re("^blk\\.(\\d+)\\.");
    for (const string & file : files) {
        ggml_context * meta = nullptr;
        gguf_context * g    = gguf_init_from_file(file.c_str(), {true, &meta});
        if (!g) continue;
        for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
            const string        name = gguf_get_tensor_name(g, i);
            const ggml_tensor * t    = ggml_get_tensor(meta, name.c_str());
            if (!t || ggml_n_dims(t) < 3 || !amx_offers_type(t->type) || name.find("_exps") != string::npos) continue;
            std::smatch m;
            if (!std::regex_search(name, m, block_re)) continue;
            bool on_cpu = !gpu || std::stoi(m[1]) < i_gpu_start;
            for (const auto & r : rules) {
                if (std::regex_search(name, r.re)) {
                    on_cpu = r.buft == ggml_backend_cpu_buffer_type();
                    break;
                }
            }
            if (on_cpu) out.push_back(name);
        }
        gguf_free(g);
        if (meta) ggml_free(meta);
    }
    return out;
}

// One anchored pattern per tensor-name shape: blk.{0,1,5}.attn_v_b.weight → ^blk\.(0|1|5)\.attn_v_b\.weight$
// (llama.cpp compiles every override pattern for every tensor, so few patterns load faster).
std::vector<string> guard_patterns(const std::vector<string> & names) {
    std::map<string, string> by_rest; // "attn_v_b.weight" → "0|1|5"
    for (const auto & n : names) {
        size_t   a = n.find('.'), b = n.find('.', a + 1);
        string & ids = by_rest[n.substr(b + 1)];
        ids += (ids.empty() ? "" : "|") + n.substr(a + 1, b - a - 1);
    }
    std::vector<string> out;
    for (const auto & [rest, ids] : by_rest) {
        string esc;
        for (char ch : rest) esc += (ch == '.' ? "\\." : string(1, ch));
        out.push_back("^blk\\.(" + ids + ")\\." + esc + "$");
    }
    return out;
}

} // namespace

std::unique_ptr<Model> model_load(const ModelParams & p) {
    require_init();
    auto               out = std::make_unique<Model>();
    llama_model_params mp  = llama_model_default_params();
    mp.n_gpu_layers        = p.n_gpu_layers;
    if (p.split_mode == "none")
        mp.split_mode = LLAMA_SPLIT_MODE_NONE;
    else if (p.split_mode == "layer")
        mp.split_mode = LLAMA_SPLIT_MODE_LAYER;
    else if (p.split_mode == "row")
        mp.split_mode = LLAMA_SPLIT_MODE_ROW;
    else
        throw runtime_error("unknown split mode \"" + p.split_mode + "\" (none, layer, row)");
    mp.main_gpu = p.main_gpu;
    std::vector<ggml_backend_dev_t> devices;
    if (p.has_devices) {
        devices    = offload_devices(p.devices);
        mp.devices = devices.data();
    }
    // mmap without mlock is llama.cpp's AUTO, as llama-bench runs it: mmap unless a device cannot
    // map host memory
    mp.load_mode = p.use_mmap ? (p.use_mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_AUTO)
                              : (p.use_mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE);

    // tensor_split must have llama_max_devices() entries
    std::vector<float> split(llama_max_devices(), 0.0f);
    if (p.tensor_split.size() > split.size())
        throw runtime_error("tensor split has " + std::to_string(p.tensor_split.size()) +
                            " entries; this build supports " + std::to_string(split.size()) + " devices");
    std::copy(p.tensor_split.begin(), p.tensor_split.end(), split.begin());
    if (!p.tensor_split.empty()) mp.tensor_split = split.data();

    // -ot style overrides, then --n-cpu-moe style ones (llama.cpp applies the first match)
    std::vector<string>                     user_patterns;
    std::vector<ggml_backend_buffer_type_t> user_bufts;
    std::vector<OverrideRule>               rules;
    for (const auto & o : p.overrides) {
        try {
            rules.push_back({std::regex(o.pattern), resolve_buft(o.device)});
        } catch (const std::regex_error & e) {
            throw runtime_error("tensor override pattern \"" + o.pattern + "\" is not a valid regex (" + e.what() +
                                ")");
        }
        user_patterns.push_back(o.pattern);
        user_bufts.push_back(rules.back().buft);
    }
    for (int i = 0; i < p.n_cpu_moe; i++) {
        user_patterns.push_back("blk\\." + std::to_string(i) + "\\.ffn_(up|down|gate|gate_up)_(ch|)exps");
        user_bufts.push_back(ggml_backend_cpu_buffer_type());
        rules.push_back({std::regex(user_patterns.back()), user_bufts.back()});
    }
    mp.use_extra_bufts = p.use_extra_bufts;
    // the AMX guard's exact-name overrides go first: they only name tensors bound for CPU memory
    // MOERIG_AMX_GUARD=0 turns the guard off: only to show what it prevents (README.md, test/native/variants.test.ts)
    const char * guard_env = getenv("MOERIG_AMX_GUARD");
    const bool   guard_on  = !(guard_env && string(guard_env) == "0");
    if (guard_on && p.use_extra_bufts && cpu_has_extra_buft("AMX")) out->amx_guarded = amx_guard_names(p, rules);
    std::vector<string> guard = guard_patterns(out->amx_guarded);
    out->patterns             = guard;
    out->patterns.insert(out->patterns.end(), user_patterns.begin(), user_patterns.end());
    std::vector<llama_model_tensor_buft_override> ov;
    for (size_t i = 0; i < out->patterns.size(); i++)
        ov.push_back({out->patterns[i].c_str(), i < guard.size() ? plain_host_buft() : user_bufts[i - guard.size()]});
    ov.push_back({nullptr, nullptr});
    if (ov.size() > 1) mp.tensor_buft_overrides = ov.data();

    numa_init(p.numa); // once per process, see runtime.h

    log_take();
    last_error_take();
    out->model    = llama_model_load_from_file(p.path.c_str(), mp);
    out->load_log = log_take();
    if (out->model == nullptr) {
        string why = last_error_take();
        throw runtime_error("llama.cpp could not load " + p.path + (why.empty() ? "" : ": " + why));
    }
    llama_model * m = out->model;
    char          desc[256];
    llama_model_desc(m, desc, sizeof(desc));
    ModelInfo & info   = out->info;
    info.desc          = desc;
    info.arch          = meta_str(m, "general.architecture");
    info.name          = meta_str(m, "general.name");
    info.size_bytes    = llama_model_size(m);
    info.n_params      = llama_model_n_params(m);
    info.n_layer       = llama_model_n_layer(m);
    info.n_expert      = meta_int(m, info.arch + ".expert_count", 0);
    info.n_expert_used = meta_int(m, info.arch + ".expert_used_count", 0);
    info.n_vocab       = llama_vocab_n_tokens(llama_model_get_vocab(m));
    info.n_ctx_train   = llama_model_n_ctx_train(m);
    return out;
}

// ---------------------------------------------------------------- routing trace (eval callback)

// Which tensor of the MoE gate this is, from its graph name "<base>-<il>"; 0 = not wanted.
// Ranks of the weight tensors follow the graph order: the highest one seen is the final weight.
enum TraceKind { TK_NONE = 0, TK_TOPK = 1, TK_W = 10, TK_W_SOFTMAX = 11, TK_W_NORM = 12, TK_W_SCALED = 13 };

namespace {

int classify(const char * name, int * il) {
    static const struct {
        const char * base;
        int          kind;
    } bases[] = {
        {"ffn_moe_topk-", TK_TOPK},
        {"ffn_moe_weights-", TK_W},
        {"ffn_moe_weights_softmax-", TK_W_SOFTMAX},
        {"ffn_moe_weights_norm-", TK_W_NORM},
        {"ffn_moe_weights_scaled-", TK_W_SCALED},
    };
    for (const auto & b : bases) {
        size_t n = strlen(b.base);
        if (strncmp(name, b.base, n) != 0) continue;
        const char * d = name + n;
        if (*d == '\0') return TK_NONE;
        for (const char * q = d; *q; q++)
            if (*q < '0' || *q > '9') return TK_NONE; // "… (reshaped)" etc.
        *il = atoi(d);
        return b.kind;
    }
    return TK_NONE;
}

// Called by the scheduler: ask=true "do you want this tensor?", then ask=false with it computed.
// ffn_moe_topk is a strided view of the argsort over all experts (row stride nb[1] = n_expert × 4),
// so we copy ggml_nbytes() and index with the strides, never ne0 × ne1 contiguous ints.
bool trace_cb(struct ggml_tensor * t, bool ask, void * user) {
    auto *           c    = static_cast<Context *>(user);
    int              il   = -1;
    int              kind = classify(t->name, &il);
    TraceCollector & tc   = c->trace;
    if (ask) return kind == TK_TOPK || (kind != TK_NONE && (!tc.frozen || kind == tc.final_rank));
    if (kind == TK_NONE) return true;
    std::vector<uint8_t> buf(ggml_nbytes(t));
    ggml_backend_tensor_get(t, buf.data(), 0, buf.size());
    if (kind == TK_TOPK) {
        if (t->type != GGML_TYPE_I32) return true;
        const int k = (int) t->ne[0], rows = (int) t->ne[1];
        tc.k = k;
        // the next block's top-k: the first block has shown all its weight tensors
        if (!tc.frozen && tc.final_rank != 0) tc.frozen = true;
        auto & v = tc.ids[il];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < k; j++) v.push_back(*(const int32_t *) (buf.data() + r * t->nb[1] + j * t->nb[0]));
        return true;
    }
    if (t->type != GGML_TYPE_F32) return true;
    // weights come as [1, k, rows] (3-D) or [k, rows] (after the norm's reshape)
    const int    k       = tc.k > 0 ? tc.k : (int) t->ne[0];
    const bool   three_d = t->ne[0] == 1 && t->ne[1] == k && (k > 1 || t->ne[2] > 1);
    const int    rows    = (int) (three_d ? t->ne[2] : t->ne[1]);
    const size_t sk = three_d ? t->nb[1] : t->nb[0], sr = three_d ? t->nb[2] : t->nb[1];
    // a higher-ranked weight tensor for this block replaces the rows of the lower one of this ubatch
    auto & rank = tc.weight_rank[il];
    auto & w    = tc.weights[il];
    // (a lower rank than the last one seen starts the next ubatch: append)
    if (kind > rank && rank != 0) w.resize(w.size() - (size_t) rows * k);
    rank = kind;
    if (!tc.frozen) tc.final_rank = std::max(tc.final_rank, kind);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < k; j++) w.push_back(*(const float *) (buf.data() + r * sr + j * sk));
    return true;
}

} // namespace

// ---------------------------------------------------------------- context

Context::~Context() {
    if (ctx) llama_free(ctx);
    if (pool && pool_free) pool_free(pool);
}

namespace {

ggml_type parse_type(const string & s) {
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char * n = ggml_type_name((ggml_type) t);
        if (n && lower(n) == lower(s)) return (ggml_type) t;
    }
    throw runtime_error("unknown KV cache type \"" + s + "\" (f16, bf16, f32, q8_0, q4_0, …)");
}

bool abort_cb(void * user) { return static_cast<Context *>(user)->stop.load(); }

} // namespace

std::unique_ptr<Context> context_create(Model & m, const ContextParams & p) {
    auto c                       = std::make_unique<Context>();
    c->model                     = &m;
    llama_context_params cp      = llama_context_default_params();
    const int            threads = p.threads > 0 ? p.threads : cp.n_threads;
    cp.n_ctx                     = (uint32_t) std::max(0, p.n_ctx);
    cp.n_batch                   = (uint32_t) p.n_batch;
    cp.n_ubatch                  = (uint32_t) p.n_ubatch;
    cp.type_k                    = parse_type(p.type_k);
    cp.type_v                    = parse_type(p.type_v);
    if (p.flash_attn == "auto")
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    else if (p.flash_attn == "on")
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    else if (p.flash_attn == "off")
        cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    else
        throw runtime_error("unknown flash attention mode \"" + p.flash_attn + "\" (auto, on, off)");
    cp.op_offload = p.op_offload;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.abort_callback                 = abort_cb;
    cp.abort_callback_data            = c.get();
    if (p.trace) {
        cp.cb_eval           = trace_cb;
        cp.cb_eval_user_data = c.get();
        c->tracing           = true;
    }
    log_take();
    last_error_take();
    c->ctx        = llama_init_from_model(m.model, cp);
    c->create_log = log_take();
    if (c->ctx == nullptr) {
        string why = last_error_take();
        throw runtime_error("llama.cpp could not create a context (n_ctx " + std::to_string(p.n_ctx) + ")" +
                            (why.empty() ? "" : ": " + why));
    }
    c->threads  = threads;
    c->n_ctx    = (int) llama_n_ctx(c->ctx);
    c->n_batch  = (int) llama_n_batch(c->ctx);
    c->n_ubatch = (int) llama_n_ubatch(c->ctx);

    // Our own thread pool, attached as llama.cpp's tools/llama-bench/llama-bench.cpp does (otherwise each graph compute
    // would create and join its threads, which costs single-token decode steps dearly).
    CpuThreadPool tp = cpu_threadpool_new(threads);
    if (tp.pool) {
        c->pool      = tp.pool;
        c->pool_free = tp.free;
        llama_attach_threadpool(c->ctx, c->pool, nullptr);
    }
    llama_set_n_threads(c->ctx, threads, threads);
    return c;
}

namespace {

// ---------------------------------------------------------------- bench

// llama_decode result: 0 ok, 2 aborted through our abort callback (Ctrl-C), else an error.
bool decode_or_throw(Context & c, llama_batch b, const char * what) {
    int r = llama_decode(c.ctx, b);
    if (r == 0) return true;
    if (r == 2 || c.stop.load()) return false;
    string why = last_error_take();
    throw runtime_error(string("llama_decode failed during ") + what + " (code " + std::to_string(r) + ")" +
                        (why.empty() ? "" : ": " + why));
}

// One prompt of n tokens in n_batch chunks, random tokens (BOS first if the vocab adds it).
bool run_prompt(Context & c, int n, std::mt19937 & rng) {
    const llama_vocab *      vocab   = llama_model_get_vocab(c.model->model);
    const int                n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> tokens(c.n_batch);
    for (int done = 0; done < n;) {
        int m = std::min(n - done, c.n_batch);
        for (int i = 0; i < m; i++) tokens[i] = (int) (rng() % (uint32_t) n_vocab);
        if (done == 0 && llama_vocab_get_add_bos(vocab)) tokens[0] = llama_vocab_bos(vocab);
        if (!decode_or_throw(c, llama_batch_get_one(tokens.data(), m), "the prompt run")) return false;
        done += m;
    }
    llama_synchronize(c.ctx);
    return true;
}

// n single-token decode steps; each step's nanoseconds appended to step_ns when given.
bool run_gen(Context & c, int n, std::mt19937 & rng, std::vector<uint64_t> * step_ns = nullptr) {
    const llama_vocab * vocab   = llama_model_get_vocab(c.model->model);
    const int           n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tok = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : (int) (rng() % (uint32_t) n_vocab);
    for (int i = 0; i < n; i++) {
        const uint64_t t0 = now_ns();
        if (!decode_or_throw(c, llama_batch_get_one(&tok, 1), "the generation run")) return false;
        llama_synchronize(c.ctx);
        if (step_ns) step_ns->push_back(now_ns() - t0);
        tok = (int) (rng() % (uint32_t) n_vocab);
    }
    return true;
}

// The context filled to n tokens, untimed: the first time by a prompt run (its sequence state then
// kept in state), afterwards by restoring that state. A state the context refuses (0 bytes read)
// is dropped and the prompt runs again, as llama-bench does.
bool fill_depth(Context & c, int n, std::mt19937 & rng, std::vector<uint8_t> & state) {
    if (!state.empty()) {
        if (llama_state_seq_set_data(c.ctx, state.data(), state.size(), 0) != 0) return true;
        state.clear();
        llama_memory_clear(llama_get_memory(c.ctx), false);
    }
    if (!run_prompt(c, n, rng)) return false;
    state.resize(llama_state_seq_get_size(c.ctx, 0));
    if (llama_state_seq_get_data(c.ctx, state.data(), state.size(), 0) != state.size()) state.clear();
    return true;
}

} // namespace

std::vector<uint64_t> bench_run(Context & c, const BenchSpec & s, const std::function<void(int, uint64_t)> & on_rep,
                                std::vector<uint64_t> * token_ns) {
    if (s.n_depth < 0) throw runtime_error("bench: n_depth must be >= 0");
    if ((int64_t) s.n_depth + s.n_prompt + s.n_gen > c.n_ctx)
        throw runtime_error("test needs " + std::to_string((int64_t) s.n_depth + s.n_prompt + s.n_gen) +
                            " tokens of context, the context has " + std::to_string(c.n_ctx));
    std::mt19937          rng(1234);
    llama_memory_t        mem = llama_get_memory(c.ctx);
    std::vector<uint64_t> samples;
    llama_memory_clear(mem, false);
    if (s.warmup) {
        if (s.n_prompt > 0 && !run_prompt(c, s.n_prompt, rng)) return samples;
        if (s.n_gen > 0 && !run_gen(c, 1, rng)) return samples;
    }
    // the depth's cache, kept after its first prompt run: later repetitions restore it instead of
    // running the prompt again (llama-bench's cstate)
    std::vector<uint8_t> depth_state;
    for (int i = 0; i < s.reps && !c.stop.load(); i++) {
        llama_memory_clear(mem, false);
        if (s.n_depth > 0 && !fill_depth(c, s.n_depth, rng, depth_state)) break;
        uint64_t t0 = now_ns();
        if (s.n_prompt > 0 && !run_prompt(c, s.n_prompt, rng)) break;
        if (s.n_gen > 0 && !run_gen(c, s.n_gen, rng, token_ns)) break;
        uint64_t ns = now_ns() - t0;
        samples.push_back(ns);
        on_rep(i, ns);
    }
    return samples;
}

namespace {

// ---------------------------------------------------------------- generate

// Bytes of s that form complete UTF-8 sequences; a multi-byte character split across two tokens
// is held back until its last byte arrives.
size_t utf8_complete(const string & s) {
    size_t n = s.size();
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char ch = (unsigned char) s[n - back];
        if ((ch & 0xC0) == 0x80) continue; // continuation byte
        size_t need = (ch & 0xE0) == 0xC0 ? 2 : (ch & 0xF0) == 0xE0 ? 3 : (ch & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

TraceResult assemble_trace(const TraceCollector & tc, int expect_tokens) {
    TraceResult tr;
    tr.k = tc.k;
    if (tc.ids.empty()) return tr;
    int rows = expect_tokens;
    for (const auto & [il, v] : tc.ids) {
        tr.layers.push_back(il);
        rows = std::min(rows, (int) (v.size() / (size_t) tc.k));
    }
    tr.n_tokens    = rows;
    const size_t L = tr.layers.size(), K = (size_t) tc.k;
    tr.ids.resize((size_t) rows * L * K);
    bool weights = true;
    for (int il : tr.layers) {
        auto it = tc.weights.find(il);
        if (it == tc.weights.end() || it->second.size() < (size_t) rows * K) weights = false;
    }
    if (weights) tr.weights.resize(tr.ids.size());
    for (size_t li = 0; li < L; li++) {
        const auto & v = tc.ids.at(tr.layers[li]);
        for (int t = 0; t < rows; t++)
            for (size_t j = 0; j < K; j++) {
                int32_t e = v[(size_t) t * K + j];
                if (e < 0 || e > 65535)
                    throw runtime_error("routing trace: expert id " + std::to_string(e) + " out of range");
                tr.ids[((size_t) t * L + li) * K + j] = (uint16_t) e;
            }
        if (weights) {
            const auto & w = tc.weights.at(tr.layers[li]);
            for (int t = 0; t < rows; t++)
                for (size_t j = 0; j < K; j++) tr.weights[((size_t) t * L + li) * K + j] = w[(size_t) t * K + j];
        }
    }
    return tr;
}

} // namespace

GenerateResult generate(Context & c, const GenerateSpec & s, const std::function<void(const string &)> & on_piece) {
    GenerateResult      res;
    const llama_vocab * vocab = llama_model_get_vocab(c.model->model);
    int                 n = -llama_tokenize(vocab, s.prompt.c_str(), (int32_t) s.prompt.size(), nullptr, 0, true, true);
    if (n <= 0) throw runtime_error("the prompt is empty after tokenization");
    std::vector<llama_token> prompt(n);
    if (llama_tokenize(vocab, s.prompt.c_str(), (int32_t) s.prompt.size(), prompt.data(), n, true, true) != n)
        throw runtime_error("tokenization of the prompt failed");
    if (n >= c.n_ctx)
        throw runtime_error("the prompt has " + std::to_string(n) + " tokens; the context holds " +
                            std::to_string(c.n_ctx));
    res.n_prompt = n;
    c.trace.clear();
    llama_memory_clear(llama_get_memory(c.ctx), false);

    llama_sampler * smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    struct SamplerGuard {
        llama_sampler * s;
        ~SamplerGuard() { llama_sampler_free(s); }
    } guard{smpl};
    if (s.temperature <= 0.0f) {
        llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    } else {
        llama_sampler_chain_add(smpl, llama_sampler_init_top_k(s.top_k));
        llama_sampler_chain_add(smpl, llama_sampler_init_top_p(s.top_p, 1));
        llama_sampler_chain_add(smpl, llama_sampler_init_temp(s.temperature));
        llama_sampler_chain_add(smpl, llama_sampler_init_dist(s.seed));
    }

    // Prompt: output only for the last token, unless tracing (the last block computes only the
    // rows whose output is requested, so the trace would miss the other prompt tokens there).
    // Trace chunks stay small: every output row holds n_vocab logits.
    const int   chunk = c.tracing ? std::min(c.n_batch, 256) : c.n_batch;
    llama_batch batch = llama_batch_init(chunk, 0, 1);
    struct BatchGuard {
        llama_batch & b;
        ~BatchGuard() { llama_batch_free(b); }
    } bguard{batch};
    uint64_t t0 = now_ns();
    for (int done = 0; done < n;) {
        int m          = std::min(n - done, chunk);
        batch.n_tokens = m;
        for (int i = 0; i < m; i++) {
            batch.token[i]     = prompt[done + i];
            batch.pos[i]       = done + i;
            batch.n_seq_id[i]  = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i]    = c.tracing || done + i == n - 1;
        }
        if (!decode_or_throw(c, batch, "the prompt")) {
            res.stop_reason = "stopped";
            return res;
        }
        done += m;
    }
    llama_synchronize(c.ctx);
    res.prompt_ns = now_ns() - t0;

    string      pending;
    int         n_past = n;
    llama_token tok    = llama_sampler_sample(smpl, c.ctx, -1);
    for (;;) {
        if (c.stop.load()) {
            res.stop_reason = "stopped";
            break;
        }
        if (llama_vocab_is_eog(vocab, tok)) {
            res.stop_reason = "eog";
            break;
        }
        char buf[256];
        int  len = llama_token_to_piece(vocab, tok, buf, sizeof(buf), 0, false);
        if (len > 0) pending.append(buf, (size_t) len);
        size_t ok = utf8_complete(pending);
        if (ok > 0) {
            on_piece(pending.substr(0, ok));
            pending.erase(0, ok);
        }
        res.n_gen++;
        // the last token is decoded too when tracing, so the trace covers every generated token
        if (res.n_gen >= s.n_predict && !c.tracing) {
            res.stop_reason = "length";
            break;
        }
        if (n_past >= c.n_ctx) {
            res.stop_reason = "context";
            break;
        }
        // with tracing the last token is decoded for its routing only: not timed, not counted, so
        // decode t/s means the same with and without --trace
        const bool trace_only = res.n_gen >= s.n_predict;
        uint64_t   t1         = now_ns();
        if (!decode_or_throw(c, llama_batch_get_one(&tok, 1), "generation")) {
            res.stop_reason = "stopped";
            break;
        }
        llama_synchronize(c.ctx);
        if (!trace_only) {
            res.decode_ns += now_ns() - t1;
            res.n_decode++;
        }
        n_past++;
        if (res.n_gen >= s.n_predict) {
            res.stop_reason = "length";
            break;
        }
        tok = llama_sampler_sample(smpl, c.ctx, -1);
    }
    if (!pending.empty()) on_piece(pending);
    if (c.tracing) {
        res.trace     = assemble_trace(c.trace, n_past); // every token that went through the model
        res.has_trace = true;
        c.trace.clear();
    }
    return res;
}

// ---------------------------------------------------------------- decode check

DecodeCheck check_decode(Context & c, const string & prompt, int n_steps) {
    DecodeCheck              r;
    const llama_vocab *      vocab   = llama_model_get_vocab(c.model->model);
    const int                n_vocab = llama_vocab_n_tokens(vocab);
    std::vector<llama_token> toks(prompt.size() + 8);
    int                      n =
        llama_tokenize(vocab, prompt.c_str(), (int32_t) prompt.size(), toks.data(), (int32_t) toks.size(), true, false);
    if (n <= 0) throw runtime_error("could not tokenize the check prompt");
    n = std::min({n, c.n_batch, c.n_ctx - n_steps - 1});
    if (n <= 0) throw runtime_error("the context (" + std::to_string(c.n_ctx) + ") is too small for the check");
    toks.resize(n);
    r.n_tokens = n;
    r.tokens.assign(toks.begin(), toks.end());
    uint64_t t0 = now_ns();
    if (!decode_or_throw(c, llama_batch_get_one(toks.data(), n), "the check prompt")) throw runtime_error("stopped");
    r.prompt_seconds     = (double) (now_ns() - t0) * 1e-9;
    const float * logits = llama_get_logits_ith(c.ctx, -1);
    if (!logits) throw runtime_error("no logits after the check prompt");
    double sum  = 0;
    float  best = -INFINITY;
    for (int i = 0; i < n_vocab; i++) {
        if (!std::isfinite(logits[i])) r.logits_finite = false;
        sum += std::fabs(logits[i]);
        if (logits[i] > best) best = logits[i], r.top_token = i;
    }
    r.prompt_mean_abs = sum / n_vocab;
    r.prompt_head.assign(logits, logits + std::min(16, n_vocab));
    char      piece[128];
    const int np = llama_token_to_piece(vocab, r.top_token, piece, sizeof(piece), 0, true);
    if (np > 0) r.top_piece.assign(piece, np);
    // greedy single-token steps: the decode graph (one row) differs from the prompt's
    t0              = now_ns();
    llama_token tok = r.top_token;
    for (; r.n_steps < n_steps; r.n_steps++) {
        if (!decode_or_throw(c, llama_batch_get_one(&tok, 1), "a check decode step")) throw runtime_error("stopped");
        const float * l   = llama_get_logits_ith(c.ctx, -1);
        int           arg = 0;
        for (int i = 0; i < n_vocab; i++) {
            if (!std::isfinite(l[i])) r.logits_finite = false;
            if (l[i] > l[arg]) arg = i;
        }
        tok = arg;
    }
    r.steps_seconds = (double) (now_ns() - t0) * 1e-9;
    return r;
}

} // namespace moerig
