// Synthetic GGUF models (see synth.h). Flow:
//   1. copy the tokenizer.* keys of a vocab-only GGUF (real BPE vocabulary; n_vocab follows it),
//   2. describe every tensor llama.cpp's loader expects for the arch (shapes as in
//      llama.cpp's src/models/deepseek2.cpp / qwen3moe.cpp, ggml ne order: ne0 = row length),
//   3. per-tensor types from llama.cpp itself: the F16 header alone goes into a sparse file
//      (no data on disk) that llama_model_quantize reads with dry_run = true, which logs the type
//      each tensor would get — llama_tensor_get_type and its shape fallbacks, untouched,
//   4. header (ggml's GGUF writer) + random but valid blocks of those types, generated on
//      -t threads and pwrite()n at the offsets the writer assigned (no F32 → quantize pass),
//   5. re-read the result's header for the type histogram.
// The reference pipeline ("quantize": F16 file, then a real llama_model_quantize) is kept for the
// tests that prove step 3 gives the types a real quantization gives.
#include "synth.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"
#include "runtime.h"

namespace moerig {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

[[noreturn]] void fail(const std::string & msg) { throw SynthError(msg); }

// First non-empty line of captured llama.cpp log text: the root cause comes first, the rest of
// the chain ("failed to load model" …) repeats it.
std::string first_line(const std::string & text) {
    size_t b = 0;
    while (b < text.size()) {
        size_t e = text.find('\n', b);
        if (e == std::string::npos) e = text.size();
        if (e > b) return text.substr(b, e - b);
        b = e + 1;
    }
    return "";
}

// ---------------------------------------------------------------- validation

// Re-check in C++ what the TS side validated: llama.cpp GGML_ASSERTs (process abort) on several of
// these, so nothing inconsistent may reach the loader or the quantizer.
void check_spec(const SynthSpec & s) {
    if (s.arch != "deepseek2" && s.arch != "qwen3moe")
        fail("unsupported arch \"" + s.arch + "\" (deepseek2, qwen3moe)");
    static const char * quants[] = {"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"};
    if (std::none_of(std::begin(quants), std::end(quants), [&](const char * q) { return s.quant == q; }))
        fail("unsupported quant \"" + s.quant + "\" (F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K)");
    if (s.pipeline != "direct" && s.pipeline != "quantize" && s.pipeline != "header")
        fail("unknown pipeline \"" + s.pipeline + "\" (direct, quantize, header)");
    if (s.out_path.empty()) fail("no output path");
    if (s.quant != "F16" && (s.work_path.empty() || s.work_path == s.out_path))
        fail("quantized files need a separate work path");
    auto pos = [](uint32_t v, const char * what) {
        if (v == 0) fail(std::string(what) + " must be > 0");
    };
    pos(s.n_layer, "n_layer");
    pos(s.n_embd, "n_embd");
    pos(s.n_head, "n_head");
    pos(s.n_ff_exp, "n_ff_exp");
    pos(s.n_expert, "n_expert");
    pos(s.n_expert_used, "n_expert_used");
    pos(s.n_ctx_train, "n_ctx_train");
    if (s.n_layer > 512) fail("n_layer must be <= 512 (LLAMA_MAX_LAYERS)");
    if (s.n_expert > 512) fail("n_expert must be <= 512 (LLAMA_MAX_EXPERTS)");
    if (s.n_expert_used > s.n_expert) fail("n_expert_used must be <= n_expert");
    // Every row must be a whole number of Q8_0/Q4_0 blocks, or even the quantizer's fallbacks fail.
    if (s.n_embd % 32 || s.n_ff_exp % 32) fail("n_embd and n_ff_exp must be multiples of 32");
    if (s.arch == "deepseek2") {
        pos(s.q_lora, "q_lora_rank");
        pos(s.kv_lora, "kv_lora_rank");
        pos(s.rope_dim, "rope_dim");
        pos(s.nope_dim, "nope_dim");
        pos(s.v_dim, "v_head_dim");
        if (s.q_lora % 32 || s.kv_lora % 32 || s.nope_dim % 32 || (s.n_head * s.v_dim) % 32)
            fail("q_lora_rank, kv_lora_rank, nope_dim and n_head*v_head_dim must be multiples of 32");
        if (s.rope_dim % 2) fail("rope_dim must be even");
        // deepseek2's loader treats 26/27-layer files as "lite" (no q_lora): see load_arch_hparams.
        if (s.n_layer == 26 || s.n_layer == 27)
            fail("deepseek2 with 26 or 27 blocks is read as a lite model; pick another n_layer");
        if (s.n_dense_lead >= s.n_layer) fail("leading dense blocks must be fewer than n_layer");
        if (s.n_dense_lead > 0 && (s.n_ff == 0 || s.n_ff % 32))
            fail("n_ff must be a positive multiple of 32 when there are dense blocks");
        if (s.n_expert_shared == 0) fail("deepseek2 needs at least one shared expert");
        if (s.gating_func != 1 && s.gating_func != 2) fail("expert_gating_func must be 1 (softmax) or 2 (sigmoid)");
        if (s.n_group > 1) {
            if (s.n_group >= s.n_expert || s.n_expert % s.n_group)
                fail("expert_group_count must divide n_expert and be smaller than it");
            if (s.n_group_used == 0 || s.n_group_used >= s.n_group)
                fail("expert_group_used_count must be in 1..expert_group_count-1");
            if (s.n_expert / s.n_group < 2) fail("each expert group needs at least 2 experts (top-2 group scores)");
            if (s.n_group_used * (s.n_expert / s.n_group) < s.n_expert_used)
                fail("the used groups hold fewer experts than n_expert_used");
        }
    } else {
        pos(s.n_head_kv, "n_head_kv");
        pos(s.head_dim, "head_dim");
        if (s.n_head % s.n_head_kv) fail("n_head must be a multiple of n_head_kv");
        if (s.head_dim % 32) fail("head_dim must be a multiple of 32");
    }
    if (s.yarn_factor < 0 || (s.yarn_factor > 0 && s.yarn_orig_ctx == 0))
        fail("yarn needs a factor > 0 and an original context");
}

// ---------------------------------------------------------------- vocabulary

struct GgufDeleter {
    void operator()(gguf_context * c) const { gguf_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

struct GgmlDeleter {
    void operator()(ggml_context * c) const { ggml_free(c); }
};
using GgmlPtr = std::unique_ptr<ggml_context, GgmlDeleter>;

// tokenizer.* keys of the vocab file, in a context of their own (copied into the model with
// gguf_set_kv), plus n_vocab = length of tokenizer.ggml.tokens.
GgufPtr load_tokenizer(const std::string & path, uint32_t & n_vocab) {
    // Check first: gguf_init_from_file would also print its own complaint to stderr.
    if (access(path.c_str(), R_OK) != 0)
        fail("cannot read vocabulary GGUF " + path + " (" + std::strerror(errno) + ")");
    gguf_init_params ip = {/*no_alloc =*/true, /*ctx =*/nullptr};
    GgufPtr          src(gguf_init_from_file(path.c_str(), ip));
    if (!src) fail("cannot read vocabulary GGUF " + path);
    const int64_t tok = gguf_find_key(src.get(), "tokenizer.ggml.tokens");
    if (tok < 0 || gguf_get_kv_type(src.get(), tok) != GGUF_TYPE_ARRAY)
        fail("vocabulary GGUF " + path + " has no tokenizer.ggml.tokens");
    n_vocab = static_cast<uint32_t>(gguf_get_arr_n(src.get(), tok));
    if (n_vocab == 0) fail("vocabulary GGUF " + path + " has an empty token list");
    GgufPtr out(gguf_init_empty());
    gguf_set_kv(out.get(), src.get());
    // Drop everything that is not the tokenizer (the vocab file's general.architecture, llama.* …).
    for (int64_t i = gguf_get_n_kv(out.get()) - 1; i >= 0; --i) {
        const std::string key = gguf_get_key(out.get(), i);
        if (key.rfind("tokenizer.", 0) != 0) gguf_remove_key(out.get(), key.c_str());
    }
    return out;
}

// ---------------------------------------------------------------- tensor plan

enum class Init { Weight, Ones, Bias, Embedding };

struct TensorDef {
    std::string          name;
    ggml_type            type;
    std::vector<int64_t> ne; // ggml order: ne[0] is the row length
    Init                 init;
};

struct Plan {
    std::vector<TensorDef> tensors;
    void                   w(const std::string & n, std::vector<int64_t> ne) {
                          tensors.push_back({n, GGML_TYPE_F16, std::move(ne), Init::Weight});
    }
    void f32(const std::string & n, std::vector<int64_t> ne, Init i) {
        tensors.push_back({n, GGML_TYPE_F32, std::move(ne), i});
    }
};

std::string blk(int i, const char * t) { return "blk." + std::to_string(i) + "." + t; }

// Tensor list and shapes exactly as llama_model_deepseek2::load_arch_tensors creates them.
Plan plan_deepseek2(const SynthSpec & s, int64_t n_vocab) {
    Plan          p;
    const int64_t E = s.n_embd, H = s.n_head, rope = s.rope_dim, nope = s.nope_dim, v = s.v_dim;
    const int64_t qk = nope + rope;
    p.tensors.push_back({"token_embd.weight", GGML_TYPE_F16, {E, n_vocab}, Init::Embedding});
    for (int i = 0; i < static_cast<int>(s.n_layer); ++i) {
        p.f32(blk(i, "attn_norm.weight"), {E}, Init::Ones);
        p.f32(blk(i, "attn_q_a_norm.weight"), {s.q_lora}, Init::Ones);
        p.f32(blk(i, "attn_kv_a_norm.weight"), {s.kv_lora}, Init::Ones);
        p.w(blk(i, "attn_q_a.weight"), {E, s.q_lora});
        p.w(blk(i, "attn_q_b.weight"), {s.q_lora, H * qk});
        p.w(blk(i, "attn_kv_a_mqa.weight"), {E, s.kv_lora + rope});
        if (s.mla) {
            p.w(blk(i, "attn_k_b.weight"), {nope, s.kv_lora, H});
            p.w(blk(i, "attn_v_b.weight"), {s.kv_lora, v, H});
        } else {
            p.w(blk(i, "attn_kv_b.weight"), {s.kv_lora, H * (nope + v)});
        }
        p.w(blk(i, "attn_output.weight"), {H * v, E});
        p.f32(blk(i, "ffn_norm.weight"), {E}, Init::Ones);
        if (i < static_cast<int>(s.n_dense_lead)) {
            p.w(blk(i, "ffn_gate.weight"), {E, s.n_ff});
            p.w(blk(i, "ffn_down.weight"), {s.n_ff, E});
            p.w(blk(i, "ffn_up.weight"), {E, s.n_ff});
        } else {
            const int64_t X = s.n_expert, F = s.n_ff_exp, Fs = int64_t(s.n_ff_exp) * s.n_expert_shared;
            // The router stays F32 in real files (llama-quant never quantizes ffn_gate_inp).
            p.f32(blk(i, "ffn_gate_inp.weight"), {E, X}, Init::Weight);
            p.f32(blk(i, "exp_probs_b.bias"), {X}, Init::Bias);
            p.w(blk(i, "ffn_gate_exps.weight"), {E, F, X});
            p.w(blk(i, "ffn_down_exps.weight"), {F, E, X});
            p.w(blk(i, "ffn_up_exps.weight"), {E, F, X});
            p.w(blk(i, "ffn_gate_shexp.weight"), {E, Fs});
            p.w(blk(i, "ffn_down_shexp.weight"), {Fs, E});
            p.w(blk(i, "ffn_up_shexp.weight"), {E, Fs});
        }
    }
    p.f32("output_norm.weight", {E}, Init::Ones);
    p.w("output.weight", {E, n_vocab});
    return p;
}

// As llama_model_qwen3moe::load_arch_tensors: separate q/k/v, per-head q/k norms, no shared expert.
Plan plan_qwen3moe(const SynthSpec & s, int64_t n_vocab) {
    Plan          p;
    const int64_t E = s.n_embd, D = s.head_dim, X = s.n_expert, F = s.n_ff_exp;
    p.tensors.push_back({"token_embd.weight", GGML_TYPE_F16, {E, n_vocab}, Init::Embedding});
    for (int i = 0; i < static_cast<int>(s.n_layer); ++i) {
        p.f32(blk(i, "attn_norm.weight"), {E}, Init::Ones);
        p.w(blk(i, "attn_q.weight"), {E, D * s.n_head});
        p.w(blk(i, "attn_k.weight"), {E, D * s.n_head_kv});
        p.w(blk(i, "attn_v.weight"), {E, D * s.n_head_kv});
        p.w(blk(i, "attn_output.weight"), {D * s.n_head, E});
        p.f32(blk(i, "attn_k_norm.weight"), {D}, Init::Ones);
        p.f32(blk(i, "attn_q_norm.weight"), {D}, Init::Ones);
        p.f32(blk(i, "ffn_norm.weight"), {E}, Init::Ones);
        p.f32(blk(i, "ffn_gate_inp.weight"), {E, X}, Init::Weight);
        p.w(blk(i, "ffn_gate_exps.weight"), {E, F, X});
        p.w(blk(i, "ffn_down_exps.weight"), {F, E, X});
        p.w(blk(i, "ffn_up_exps.weight"), {E, F, X});
    }
    p.f32("output_norm.weight", {E}, Init::Ones);
    p.w("output.weight", {E, n_vocab});
    return p;
}

// ---------------------------------------------------------------- metadata

// Keys and value types as llama.cpp v0.4.0 reads them (src/llama-model.cpp load_hparams and the
// arch's load_arch_hparams; names from src/llama-arch.cpp). get_key checks the GGUF type, so
// counts are u32, scales f32, flags bool.
void set_metadata(gguf_context * g, const SynthSpec & s, uint32_t n_vocab) {
    const std::string a = s.arch;
    auto              k = [&](const char * suffix) { return a + "." + suffix; };
    gguf_set_val_str(g, "general.architecture", a.c_str());
    gguf_set_val_str(g, "general.type", "model");
    gguf_set_val_str(g, "general.name", s.name.c_str());
    gguf_set_val_u32(g, "general.file_type", LLAMA_FTYPE_MOSTLY_F16);
    gguf_set_val_str(g, "moerig.synth.preset", s.preset.c_str());
    gguf_set_val_u64(g, "moerig.synth.seed", s.seed);
    gguf_set_val_str(g, "moerig.synth.note", "random weights for testing and benchmarking; output is meaningless");

    gguf_set_val_u32(g, k("context_length").c_str(), s.n_ctx_train);
    gguf_set_val_u32(g, k("embedding_length").c_str(), s.n_embd);
    gguf_set_val_u32(g, k("block_count").c_str(), s.n_layer);
    gguf_set_val_u32(g, k("attention.head_count").c_str(), s.n_head);
    gguf_set_val_f32(g, k("rope.freq_base").c_str(), s.rope_freq_base);
    gguf_set_val_f32(g, k("attention.layer_norm_rms_epsilon").c_str(), s.rms_eps);
    gguf_set_val_u32(g, k("expert_count").c_str(), s.n_expert);
    gguf_set_val_u32(g, k("expert_used_count").c_str(), s.n_expert_used);
    gguf_set_val_u32(g, k("expert_feed_forward_length").c_str(), s.n_ff_exp);
    gguf_set_val_u32(g, k("vocab_size").c_str(), n_vocab);

    if (s.arch == "deepseek2") {
        gguf_set_val_u32(g, k("feed_forward_length").c_str(), s.n_ff);
        gguf_set_val_u32(g, k("leading_dense_block_count").c_str(), s.n_dense_lead);
        gguf_set_val_u32(g, k("attention.q_lora_rank").c_str(), s.q_lora);
        gguf_set_val_u32(g, k("attention.kv_lora_rank").c_str(), s.kv_lora);
        gguf_set_val_u32(g, k("rope.dimension_count").c_str(), s.rope_dim);
        if (s.mla) {
            // What the current converter writes: MLA is stored as MQA over the latent (one KV head of
            // kv_lora + rope), the decompressed head sizes go to the *_mla keys.
            gguf_set_val_u32(g, k("attention.head_count_kv").c_str(), 1);
            gguf_set_val_u32(g, k("attention.key_length").c_str(), s.kv_lora + s.rope_dim);
            gguf_set_val_u32(g, k("attention.value_length").c_str(), s.kv_lora);
            gguf_set_val_u32(g, k("attention.key_length_mla").c_str(), s.nope_dim + s.rope_dim);
            gguf_set_val_u32(g, k("attention.value_length_mla").c_str(), s.v_dim);
        } else {
            // Legacy (pre-MLA) files: per-head K/V, no *_mla keys, attn_kv_b instead of attn_k_b/v_b.
            gguf_set_val_u32(g, k("attention.head_count_kv").c_str(), s.n_head);
            gguf_set_val_u32(g, k("attention.key_length").c_str(), s.nope_dim + s.rope_dim);
            gguf_set_val_u32(g, k("attention.value_length").c_str(), s.v_dim);
        }
        gguf_set_val_u32(g, k("expert_shared_count").c_str(), s.n_expert_shared);
        gguf_set_val_f32(g, k("expert_weights_scale").c_str(), s.expert_weights_scale);
        gguf_set_val_bool(g, k("expert_weights_norm").c_str(), s.expert_weights_norm);
        gguf_set_val_u32(g, k("expert_gating_func").c_str(), s.gating_func);
        if (s.n_group > 1) {
            gguf_set_val_u32(g, k("expert_group_count").c_str(), s.n_group);
            gguf_set_val_u32(g, k("expert_group_used_count").c_str(), s.n_group_used);
        }
    } else {
        gguf_set_val_u32(g, k("feed_forward_length").c_str(), s.n_ff ? s.n_ff : s.n_ff_exp * s.n_expert_used);
        gguf_set_val_u32(g, k("attention.head_count_kv").c_str(), s.n_head_kv);
        gguf_set_val_u32(g, k("attention.key_length").c_str(), s.head_dim);
        gguf_set_val_u32(g, k("attention.value_length").c_str(), s.head_dim);
    }
    if (s.yarn_factor > 0) {
        gguf_set_val_str(g, k("rope.scaling.type").c_str(), "yarn");
        gguf_set_val_f32(g, k("rope.scaling.factor").c_str(), s.yarn_factor);
        gguf_set_val_u32(g, k("rope.scaling.original_context_length").c_str(), s.yarn_orig_ctx);
        if (s.yarn_log_mul > 0) gguf_set_val_f32(g, k("rope.scaling.yarn_log_multiplier").c_str(), s.yarn_log_mul);
    }
}

// ---------------------------------------------------------------- random data

// splitmix64: tiny, fast, and every chunk's stream is a pure function of (seed, tensor, chunk),
// so the same spec always gives byte-identical files whatever the chunking order.
inline uint64_t splitmix64(uint64_t & x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z          = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string & s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// Uniform in [-amp, amp]: variance amp²/3. Weights use amp = sqrt(3 / fan_in) (unit-variance
// outputs), so activations stay O(1) through the blocks and logits stay finite in F16.
void fill_chunk(float * dst, int64_t n, Init init, int64_t fan_in, uint64_t stream) {
    if (init == Init::Ones) {
        std::fill(dst, dst + n, 1.0f);
        return;
    }
    const float amp = init == Init::Bias ? 0.02f : init == Init::Embedding ? 1.0f : std::sqrt(3.0f / float(fan_in));
    uint64_t    st  = stream;
    for (int64_t i = 0; i < n; ++i) {
        const float u = float(splitmix64(st) >> 40) * (1.0f / 16777216.0f); // [0, 1)
        dst[i]        = (2.0f * u - 1.0f) * amp;
    }
}

constexpr int64_t kChunk = int64_t(1) << 22; // elements generated per step (16 MiB of f32)

struct FileCloser {
    void operator()(FILE * f) const {
        if (f) fclose(f);
    }
};

void write_all(FILE * f, const void * data, size_t n, const std::string & path) {
    if (n && fwrite(data, 1, n, f) != n) fail("cannot write " + path + " (" + std::strerror(errno) + ")");
}

// Header via ggml's GGUF writer, then every tensor's bytes at the offsets the writer assigned.
void write_gguf(gguf_context * g, const Plan & plan, const SynthSpec & s, const std::string & path,
                const SynthProgressFn & progress) {
    std::vector<char>                 iobuf(1 << 20); // declared before f: it must outlive the FILE
    std::unique_ptr<FILE, FileCloser> f(fopen(path.c_str(), "wb"));
    if (!f) fail("cannot create " + path + " (" + std::strerror(errno) + ")");
    setvbuf(f.get(), iobuf.data(), _IOFBF, iobuf.size());

    std::vector<uint8_t> meta(gguf_get_meta_size(g));
    gguf_get_meta_data(g, meta.data());
    write_all(f.get(), meta.data(), meta.size(), path);

    const size_t             align = gguf_get_alignment(g);
    std::vector<float>       f32(kChunk);
    std::vector<ggml_fp16_t> f16(kChunk);
    std::vector<uint8_t>     zeros(align, 0);
    size_t                   written = 0; // bytes of the data section so far
    const int                total   = static_cast<int>(plan.tensors.size());
    for (int ti = 0; ti < total; ++ti) {
        const TensorDef & t    = plan.tensors[ti];
        const size_t      want = gguf_get_tensor_offset(g, ti);
        if (want != written) fail("internal: tensor offset mismatch for " + t.name);
        int64_t n = 1;
        for (int64_t d : t.ne) n *= d;
        const uint64_t tseed = s.seed ^ fnv1a(t.name);
        size_t         bytes = 0;
        for (int64_t off = 0, chunk = 0; off < n; off += kChunk, ++chunk) {
            const int64_t m      = std::min(kChunk, n - off);
            uint64_t      stream = tseed + 0x632BE59BD9B4E019ull * uint64_t(chunk + 1);
            fill_chunk(f32.data(), m, t.init, t.ne[0], splitmix64(stream));
            if (t.type == GGML_TYPE_F16) {
                ggml_fp32_to_fp16_row(f32.data(), f16.data(), m);
                write_all(f.get(), f16.data(), m * sizeof(ggml_fp16_t), path);
                bytes += m * sizeof(ggml_fp16_t);
            } else {
                write_all(f.get(), f32.data(), m * sizeof(float), path);
                bytes += m * sizeof(float);
            }
        }
        const size_t padded = GGML_PAD(bytes, align);
        write_all(f.get(), zeros.data(), padded - bytes, path);
        written += padded;
        if (progress) progress({"write", ti + 1, total, t.name});
    }
    if (fflush(f.get()) != 0) fail("cannot write " + path + " (" + std::strerror(errno) + ")");
    FILE * raw = f.release();
    if (fclose(raw) != 0) fail("cannot write " + path + " (" + std::strerror(errno) + ")");
}

// ---------------------------------------------------------------- quantization

llama_ftype ftype_of(const std::string & q) {
    if (q == "Q8_0") return LLAMA_FTYPE_MOSTLY_Q8_0;
    if (q == "Q6_K") return LLAMA_FTYPE_MOSTLY_Q6_K;
    if (q == "Q5_K_M") return LLAMA_FTYPE_MOSTLY_Q5_K_M;
    if (q == "Q4_K_M") return LLAMA_FTYPE_MOSTLY_Q4_K_M;
    if (q == "Q3_K_M") return LLAMA_FTYPE_MOSTLY_Q3_K_M;
    if (q == "Q2_K") return LLAMA_FTYPE_MOSTLY_Q2_K;
    return LLAMA_FTYPE_MOSTLY_F16;
}

// llama.cpp logs through one process-wide callback (runtime.h); while quantizing a LogCapture
// routes it here: the per-tensor
// "[  12/  30] blk.1.ffn_up_exps.weight …" lines become progress, warnings/errors are kept for the
// error message, the rest is dropped (the CLI shows its own progress).
struct QuantLog {
    const SynthProgressFn * progress = nullptr;
    std::string             errors;
    int                     total = 0; // tensors, from the first "[i/n]" line
};

void quant_log_cb(ggml_log_level level, const char * text, void * user) {
    auto * q = static_cast<QuantLog *>(user);
    if (!text) return;
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        if (q->errors.size() < 4096) q->errors += text;
    }
    if (level == GGML_LOG_LEVEL_CONT) return;
    int  idx = 0, total = 0;
    char name[256] = {0};
    if (std::sscanf(text, "[%d/%d] %255s", &idx, &total, name) == 3 && q->progress && *q->progress) {
        q->total = total;
        (*q->progress)({"quantize", idx - 1, total, name}); // logged as tensor idx starts
    }
}

void quantize(const SynthSpec & s, const SynthProgressFn & progress) {
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype                       = ftype_of(s.quant);
    qp.nthread                     = s.threads;
    QuantLog ql;
    ql.progress = &progress;
    uint32_t rc;
    {
        LogCapture capture(quant_log_cb, &ql);
        rc = llama_model_quantize(s.work_path.c_str(), s.out_path.c_str(), &qp);
    }
    if (rc == 0 && progress && ql.total > 0) progress({"quantize", ql.total, ql.total, ""});
    if (rc != 0) {
        const std::string why = first_line(ql.errors);
        fail("llama_model_quantize failed" + (why.empty() ? std::string() : ": " + why));
    }
}

// ---------------------------------------------------------------- type rules (dry run)

// llama_model_quantize with dry_run = true reads only the header and logs, per tensor,
// "[  i/  n] name - [shape], type = f16, " and then "size = … MiB -> … MiB (q4_K)\n" when the type
// changes or "size = … MiB\n" when it stays. The types are llama_tensor_get_type's, fallbacks and
// use_more_bits included, in the quantizer's own processing order: nothing here re-implements them.
struct TypeLog {
    std::string                        errors;
    std::string                        open;  // tensor whose "[i/n]" line came last
    std::map<std::string, std::string> types; // tensor -> new ggml type name ("" = unchanged)
};

void type_log_cb(ggml_log_level level, const char * text, void * user) {
    auto * t = static_cast<TypeLog *>(user);
    if (!text) return;
    if (level == GGML_LOG_LEVEL_ERROR || level == GGML_LOG_LEVEL_WARN) {
        if (t->errors.size() < 4096) t->errors += text;
    }
    int  idx = 0, total = 0;
    char name[256] = {0};
    if (std::sscanf(text, "[%d/%d] %255s", &idx, &total, name) == 3) {
        t->open = name;
        return;
    }
    if (!t->open.empty() && std::strncmp(text, "size =", 6) == 0) {
        const char * lp   = std::strrchr(text, '(');
        const char * rp   = std::strrchr(text, ')');
        t->types[t->open] = lp && rp && rp > lp ? std::string(lp + 1, rp) : std::string();
        t->open.clear();
    }
}

ggml_type type_by_name(const std::string & n) {
    for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
        const char * tn = ggml_type_name(static_cast<ggml_type>(t));
        if (tn && n == tn) return static_cast<ggml_type>(t);
    }
    fail("internal: llama.cpp named an unknown tensor type \"" + n + "\"");
}

std::vector<uint8_t> meta_bytes(gguf_context * g) {
    std::vector<uint8_t> meta(gguf_get_meta_size(g));
    gguf_get_meta_data(g, meta.data());
    return meta;
}

// Bytes of the data section: every tensor padded to the alignment, as gguf writes it.
size_t data_bytes(gguf_context * g) {
    const int64_t n = gguf_get_n_tensors(g);
    if (n == 0) return 0;
    return gguf_get_tensor_offset(g, n - 1) + GGML_PAD(gguf_get_tensor_size(g, n - 1), gguf_get_alignment(g));
}

void pwrite_all(int fd, const void * data, size_t n, off_t off, const std::string & path) {
    const char * p = static_cast<const char *>(data);
    while (n > 0) {
        const ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            fail("cannot write " + path + " (" + std::strerror(errno) + ")");
        }
        p += w;
        n -= size_t(w);
        off += w;
    }
}

// The types llama.cpp's quantizer gives each tensor of `g` (an all-F16/F32 header) at s.quant.
// Its loader checks that every tensor lies inside the file, so the probe file has the full F16
// size, as a hole: the header is the only thing on disk (a few MB, the vocabulary).
std::atomic<bool> g_stop{false}; // synth_request_stop(): checked before each file and between write jobs

void stop_point() {
    if (g_stop.load()) fail("stopped");
}

std::vector<ggml_type> rule_types(gguf_context * g, const Plan & plan, const SynthSpec & s) {
    stop_point();
    {
        const int fd = open(s.work_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) fail("cannot create " + s.work_path + " (" + std::strerror(errno) + ")");
        try {
            const std::vector<uint8_t> meta = meta_bytes(g);
            pwrite_all(fd, meta.data(), meta.size(), 0, s.work_path);
            if (ftruncate(fd, off_t(meta.size() + data_bytes(g))) != 0)
                fail("cannot size " + s.work_path + " (" + std::strerror(errno) + ")");
        } catch (...) {
            close(fd);
            throw;
        }
        if (close(fd) != 0) fail("cannot write " + s.work_path + " (" + std::strerror(errno) + ")");
    }
    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype                       = ftype_of(s.quant);
    qp.nthread                     = 1;
    qp.dry_run                     = true;
    TypeLog  tl;
    uint32_t rc;
    {
        LogCapture capture(type_log_cb, &tl);
        rc = llama_model_quantize(s.work_path.c_str(), s.out_path.c_str(), &qp); // dry run: writes nothing
    }
    unlink(s.work_path.c_str());
    if (rc != 0) {
        const std::string why = first_line(tl.errors);
        fail("llama.cpp's type rules failed" + (why.empty() ? std::string() : ": " + why));
    }
    std::vector<ggml_type> types;
    types.reserve(plan.tensors.size());
    for (const TensorDef & t : plan.tensors) {
        auto it = tl.types.find(t.name);
        if (it == tl.types.end()) fail("internal: llama.cpp's type rules gave no type for " + t.name);
        types.push_back(it->second.empty() ? t.type : type_by_name(it->second));
    }
    return types;
}

// ---------------------------------------------------------------- random blocks

// A quantized block is random quant bits plus a few fixed fields (super-block scales, sub-block
// scales and mins) chosen so that the dequantized values spread evenly over about [-amp, amp], the
// range the F16 path draws from. Every f16 there is a small positive normal number: random bits
// could be NaN or inf, and one such scale breaks the whole model. Sub-block scales are all 4 so the
// f16 super-scales stay well above the f16 subnormal range (6e-5) for any row length used here.
// Layouts: ggml/src/ggml-common.h (block_q4_0 … block_q6_K); sizes re-checked with ggml_type_size.
struct BlockTemplate {
    size_t                                 size = 0; // bytes per block
    std::vector<uint8_t>                   bytes;    // fixed fields' values at their offsets
    std::vector<std::pair<size_t, size_t>> fixed;    // (offset, length) of each fixed field
};

constexpr uint8_t kSub = 4; // every 4/6-bit sub-block scale and min

// K-quant 6-bit scales + mins packed into 12 bytes (inverse of get_scale_min_k4, ggml/src/ggml-quants.c).
void pack_k4_scales(uint8_t * q, uint8_t sc, uint8_t m) {
    std::memset(q, 0, 12);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            q[j]     = sc;
            q[j + 4] = m;
        } else {
            q[j + 4] = uint8_t((sc & 0xF) | ((m & 0xF) << 4));
            q[j - 4] |= uint8_t((sc >> 4) << 6);
            q[j] |= uint8_t((m >> 4) << 6);
        }
    }
}

// Q3_K's sixteen 6-bit scales (stored + 32) in 12 bytes, as quantize_row_q3_K_ref packs them.
void pack_q3_scales(uint8_t * q, int8_t scale) {
    std::memset(q, 0, 12);
    for (int j = 0; j < 16; ++j) {
        int l = scale + 32;
        if (j < 8)
            q[j] = uint8_t(l & 0xF);
        else
            q[j - 8] |= uint8_t((l & 0xF) << 4);
        l >>= 4;
        q[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
    }
}

// Fixed fields of `type` for values in about [-amp, amp]; false for types without a template.
bool block_template(ggml_type type, float amp, BlockTemplate & bt) {
    int64_t blck = 32;
    auto    size = [&](size_t n) { bt.size = n, bt.bytes.assign(n, 0); };
    auto    f16  = [&](size_t off, float v) {
        const ggml_fp16_t h = ggml_fp32_to_fp16(v);
        std::memcpy(&bt.bytes[off], &h, 2);
        bt.fixed.push_back({off, 2});
    };
    auto        raw = [&](size_t off, size_t n) { bt.fixed.push_back({off, n}); };
    const float sub = kSub;
    switch (type) {
        case GGML_TYPE_Q4_0: // {d; qs[16]}: (q - 8) d, q 0..15
            size(18), f16(0, amp / 8);
            break;
        case GGML_TYPE_Q4_1: // {d, m; qs[16]}: q d + m
            size(20), f16(0, amp / 7.5f), f16(2, -amp);
            break;
        case GGML_TYPE_Q5_0: // {d; qh[4]; qs[16]}: (q - 16) d, q 0..31
            size(22), f16(0, amp / 16);
            break;
        case GGML_TYPE_Q5_1: // {d, m; qh[4]; qs[16]}: q d + m
            size(24), f16(0, amp / 15.5f), f16(2, -amp);
            break;
        case GGML_TYPE_Q8_0: // {d; int8 qs[32]}: q d
            size(34), f16(0, amp / 128);
            break;
        case GGML_TYPE_IQ4_NL: // {d; qs[16]}: kvalues_iq4nl[q] d, table in -127..113
            size(18), f16(0, amp / 127);
            break;
        case GGML_TYPE_Q2_K: // {scales[16] (sc | m << 4); qs[64]; d; dmin}: d sc q - dmin m, q 0..3
            size(84), blck = 256;
            std::memset(&bt.bytes[0], kSub | (kSub << 4), 16), raw(0, 16);
            f16(80, amp / (1.5f * sub)), f16(82, amp / sub);
            break;
        case GGML_TYPE_Q3_K: // {hmask[32]; qs[64]; scales[12]; d}: d (s - 32) q, q -4..3
            size(110), blck = 256;
            pack_q3_scales(&bt.bytes[96], kSub), raw(96, 12);
            f16(108, amp / (4 * sub));
            break;
        case GGML_TYPE_Q4_K: // {d; dmin; scales[12]; qs[128]}: d sc q - dmin m, q 0..15
            size(144), blck = 256;
            f16(0, amp / (7.5f * sub)), f16(2, amp / sub);
            pack_k4_scales(&bt.bytes[4], kSub, kSub), raw(4, 12);
            break;
        case GGML_TYPE_Q5_K: // {d; dmin; scales[12]; qh[32]; qs[128]}: d sc q - dmin m, q 0..31
            size(176), blck = 256;
            f16(0, amp / (15.5f * sub)), f16(2, amp / sub);
            pack_k4_scales(&bt.bytes[4], kSub, kSub), raw(4, 12);
            break;
        case GGML_TYPE_Q6_K: // {ql[128]; qh[64]; int8 scales[16]; d}: d sc (q - 32), q 0..63
            size(210), blck = 256;
            std::memset(&bt.bytes[192], kSub, 16), raw(192, 16);
            f16(208, amp / (32 * sub));
            break;
        default: return false;
    }
    if (ggml_type_size(type) != bt.size || ggml_blck_size(type) != blck)
        fail(std::string("internal: block layout of ") + ggml_type_name(type) + " differs from this ggml's");
    return true;
}

inline void random_bytes(uint8_t * dst, size_t n, uint64_t & st) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint64_t r = splitmix64(st);
        std::memcpy(dst + i, &r, 8);
    }
    if (i < n) {
        const uint64_t r = splitmix64(st);
        std::memcpy(dst + i, &r, n - i);
    }
}

// ---------------------------------------------------------------- direct writer

constexpr size_t kJobBytes = size_t(4) << 20; // output bytes one job generates and writes

// One tensor as the writer sees it. Jobs are fixed row ranges (rows_per_job depends only on the
// row size), and each job's random stream is a function of (seed, tensor name, job index): the same
// spec gives the same bytes whatever the thread count and the order the jobs finish in.
struct TensorWork {
    const TensorDef * def  = nullptr;
    ggml_type         type = GGML_TYPE_F32;
    int64_t           ne0 = 0, nrows = 0, rows_per_job = 0;
    size_t            row_bytes = 0;
    off_t             offset    = 0; // in the file
    float             amp       = 0;
    uint64_t          tseed     = 0;
    bool              templ     = false;
    BlockTemplate     bt;
};

float init_amp(Init init, int64_t fan_in) {
    return init == Init::Bias ? 0.02f : init == Init::Embedding ? 1.0f : std::sqrt(3.0f / float(fan_in));
}

// Job `job` of w (nrows rows) into buf.
void generate(const TensorWork & w, int64_t job, int64_t nrows, std::vector<uint8_t> & buf,
              std::vector<float> & scratch) {
    const size_t bytes = size_t(nrows) * w.row_bytes;
    buf.resize(bytes);
    uint64_t      stream = w.tseed + 0x632BE59BD9B4E019ull * uint64_t(job + 1);
    uint64_t      st     = splitmix64(stream);
    const int64_t n      = nrows * w.ne0;
    if (w.templ) {
        random_bytes(buf.data(), bytes, st);
        const BlockTemplate & bt = w.bt;
        for (size_t b = 0; b < bytes; b += bt.size)
            for (const auto & [off, len] : bt.fixed) std::memcpy(&buf[b + off], &bt.bytes[off], len);
    } else if (w.type == GGML_TYPE_F32) {
        fill_chunk(reinterpret_cast<float *>(buf.data()), n, w.def->init, w.ne0, st);
    } else {
        scratch.resize(size_t(n));
        fill_chunk(scratch.data(), n, w.def->init, w.ne0, st);
        if (w.type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(scratch.data(), reinterpret_cast<ggml_fp16_t *>(buf.data()), n);
        } else if (w.type == GGML_TYPE_BF16) {
            ggml_fp32_to_bf16_row(scratch.data(), reinterpret_cast<ggml_bf16_t *>(buf.data()), n);
        } else {
            // a type without a template (none of the presets' mixes has one): ggml's own quantizer
            if (ggml_quantize_requires_imatrix(w.type))
                fail(std::string("type ") + ggml_type_name(w.type) + " needs an importance matrix");
            ggml_quantize_chunk(w.type, scratch.data(), buf.data(), 0, nrows, w.ne0, nullptr);
        }
    }
    if (ggml_is_quantized(w.type) && !ggml_validate_row_data(w.type, buf.data(), bytes))
        fail("internal: generated " + std::string(ggml_type_name(w.type)) + " blocks of " + w.def->name +
             " failed ggml's validation");
}

// Header via ggml's GGUF writer, then every tensor's blocks at the offsets it assigned, written by
// `threads` workers with pwrite (the file is sized first, so order does not matter).
// Returns the file's size.
uint64_t write_direct(gguf_context * g, const Plan & plan, const SynthSpec & s, const std::string & path,
                      const SynthProgressFn & progress, double & write_seconds) {
    stop_point();
    const auto                 t0    = clock_type::now();
    const size_t               align = gguf_get_alignment(g);
    const std::vector<uint8_t> meta  = meta_bytes(g);
    const int                  total = static_cast<int>(plan.tensors.size());

    std::vector<TensorWork> tw(plan.tensors.size());
    struct Job {
        int     tensor;
        int64_t index, row0, nrows;
    };
    std::vector<Job> jobs;
    size_t           data_end = 0;
    for (int ti = 0; ti < total; ++ti) {
        const TensorDef & t = plan.tensors[ti];
        TensorWork &      w = tw[ti];
        w.def               = &t;
        w.type              = gguf_get_tensor_type(g, ti);
        if (w.type != t.type) fail("internal: tensor type mismatch for " + t.name);
        w.ne0     = t.ne[0];
        int64_t n = 1;
        for (int64_t d : t.ne) n *= d;
        w.nrows     = n / w.ne0;
        w.row_bytes = ggml_row_size(w.type, w.ne0);
        if (w.row_bytes * size_t(w.nrows) != gguf_get_tensor_size(g, ti))
            fail("internal: tensor size mismatch for " + t.name);
        if (gguf_get_tensor_offset(g, ti) != data_end) fail("internal: tensor offset mismatch for " + t.name);
        w.offset = off_t(meta.size() + gguf_get_tensor_offset(g, ti));
        data_end += GGML_PAD(gguf_get_tensor_size(g, ti), align);
        w.amp          = init_amp(t.init, w.ne0);
        w.tseed        = s.seed ^ fnv1a(t.name);
        w.templ        = t.init != Init::Ones && block_template(w.type, w.amp, w.bt);
        w.rows_per_job = std::max<int64_t>(1, int64_t(kJobBytes / w.row_bytes));
        for (int64_t r = 0, j = 0; r < w.nrows; r += w.rows_per_job, ++j)
            jobs.push_back({ti, j, r, std::min(w.rows_per_job, w.nrows - r)});
    }
    std::vector<std::atomic<int64_t>> left(tw.size());
    for (const Job & j : jobs) left[j.tensor]++;

    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create " + path + " (" + std::strerror(errno) + ")");
    std::atomic<size_t> next{0};
    std::atomic<bool>   stop{false};
    std::mutex          mu; // guards err, done and the progress callback
    std::string         err;
    int                 done = 0;
    auto                work = [&]() {
        std::vector<uint8_t> buf;
        std::vector<float>   scratch;
        try {
            while (!stop.load(std::memory_order_relaxed)) {
                if (g_stop.load(std::memory_order_relaxed)) throw std::runtime_error("stopped");
                const size_t k = next++;
                if (k >= jobs.size()) break;
                const Job &        j = jobs[k];
                const TensorWork & w = tw[j.tensor];
                generate(w, j.index, j.nrows, buf, scratch);
                pwrite_all(fd, buf.data(), buf.size(), w.offset + off_t(size_t(j.row0) * w.row_bytes), path);
                if (--left[j.tensor] == 0) {
                    std::lock_guard<std::mutex> lock(mu);
                    ++done;
                    if (progress) progress({"write", done, total, w.def->name});
                }
            }
        } catch (const std::exception & e) {
            std::lock_guard<std::mutex> lock(mu);
            if (err.empty()) err = e.what();
            stop = true;
        }
    };
    try {
        pwrite_all(fd, meta.data(), meta.size(), 0, path);
        // the whole file at once: padding stays a hole (reads as the zeros gguf pads with)
        if (ftruncate(fd, off_t(meta.size() + data_end)) != 0)
            fail("cannot size " + path + " (" + std::strerror(errno) + ")");
    } catch (...) {
        close(fd);
        throw;
    }
    if (s.pipeline == "header") jobs.clear(); // the data section stays one hole (all zero blocks)
    int threads = s.threads > 0 ? s.threads : int(std::thread::hardware_concurrency());
    threads     = std::max(1, std::min<int>(threads, std::max(1, int(jobs.size()))));
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back(work);
    work();
    for (auto & th : pool) th.join();
    const int rc = close(fd);
    if (!err.empty()) fail(err);
    if (rc != 0) fail("cannot write " + path + " (" + std::strerror(errno) + ")");
    write_seconds = seconds_since(t0);
    return meta.size() + data_end;
}

// ---------------------------------------------------------------- result

// What the direct writer wrote, from its own header: no re-open by path (after a Ctrl-C the
// caller may already have removed the temp file, and ggml would complain on stderr).
void summarize(gguf_context * g, const Plan & plan, SynthResult & r) {
    r.tensor_count = static_cast<int>(gguf_get_n_tensors(g));
    r.params       = 0;
    for (const TensorDef & t : plan.tensors) {
        uint64_t n = 1;
        for (int64_t d : t.ne) n *= uint64_t(d);
        r.params += n;
    }
    for (int64_t i = 0; i < r.tensor_count; ++i) r.type_counts[ggml_type_name(gguf_get_tensor_type(g, i))]++;
}

// The reference pipeline's result: llama_model_quantize chose the types, so read them back.
void read_back(const std::string & path, SynthResult & r) {
    gguf_init_params ip = {/*no_alloc =*/true, /*ctx =*/nullptr};
    GgufPtr          g(gguf_init_from_file(path.c_str(), ip));
    if (!g) fail("cannot re-read " + path);
    r.tensor_count = static_cast<int>(gguf_get_n_tensors(g.get()));
    r.params       = 0;
    for (int64_t i = 0; i < r.tensor_count; ++i) {
        const int64_t * ne = gguf_get_tensor_ne(g.get(), i);
        r.params += uint64_t(ne[0]) * ne[1] * ne[2] * ne[3];
        r.type_counts[ggml_type_name(gguf_get_tensor_type(g.get(), i))]++;
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) fail("cannot stat " + path);
    r.file_bytes = uint64_t(st.st_size);
}

} // namespace

void synth_request_stop() { g_stop = true; }

void synth_clear_stop() { g_stop = false; }

SynthResult synth_model(const SynthSpec & spec, const SynthProgressFn & progress) {
    const auto t0 = clock_type::now();
    check_spec(spec);
    SynthResult res;
    GgufPtr     tok = load_tokenizer(spec.vocab_path, res.n_vocab);

    Plan plan = spec.arch == "deepseek2" ? plan_deepseek2(spec, res.n_vocab) : plan_qwen3moe(spec, res.n_vocab);

    // Tensor descriptors only (no_alloc): gguf_add_tensor needs shape/type/name, the data is streamed.
    ggml_init_params cp = {/*mem_size =*/ggml_tensor_overhead() * (plan.tensors.size() + 1), /*mem_buffer =*/nullptr,
                           /*no_alloc =*/true};
    GgmlPtr          ctx(ggml_init(cp));
    if (!ctx) fail("ggml_init failed");
    GgufPtr g(gguf_init_empty());
    set_metadata(g.get(), spec, res.n_vocab);
    gguf_set_kv(g.get(), tok.get());
    for (const TensorDef & t : plan.tensors) {
        ggml_tensor * x = ggml_new_tensor(ctx.get(), t.type, static_cast<int>(t.ne.size()), t.ne.data());
        ggml_set_name(x, t.name.c_str());
        gguf_add_tensor(g.get(), x);
    }

    const bool quantized = spec.quant != "F16";
    try {
        if (spec.pipeline == "quantize") {
            // reference: F16 data, then a real llama_model_quantize (tests compare the types with it)
            const std::string & first = quantized ? spec.work_path : spec.out_path;
            write_gguf(g.get(), plan, spec, first, progress);
            if (quantized) {
                quantize(spec, progress);
                unlink(spec.work_path.c_str());
            }
            read_back(spec.out_path, res);
        } else {
            if (quantized) {
                const std::vector<ggml_type> types = rule_types(g.get(), plan, spec);
                for (size_t i = 0; i < types.size(); ++i) {
                    plan.tensors[i].type = types[i];
                    gguf_set_tensor_type(g.get(), plan.tensors[i].name.c_str(), types[i]); // re-lays the offsets
                }
                // what llama_model_quantize writes into a quantized file's header
                gguf_set_val_u32(g.get(), "general.quantization_version", GGML_QNT_VERSION);
                gguf_set_val_u32(g.get(), "general.file_type", ftype_of(spec.quant));
            }
            res.file_bytes =
                write_direct(g.get(), plan, spec, spec.out_path, progress, res.write_seconds); // "header": no data
            summarize(g.get(), plan, res);
        }
    } catch (...) {
        unlink(spec.out_path.c_str());
        if (quantized) unlink(spec.work_path.c_str());
        throw;
    }
    res.seconds = seconds_since(t0);
    return res;
}

} // namespace moerig
