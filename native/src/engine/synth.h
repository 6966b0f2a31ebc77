// Synthetic GGUF models: complete deepseek2 / qwen3moe files with deterministic random weights that
// llama.cpp loads and runs. The header and tensor layout come from ggml's own GGUF writer
// (gguf_init_empty / gguf_set_* / gguf_add_tensor / gguf_get_meta_data); every tensor gets the type
// llama.cpp's own per-tensor rules give it (llama_model_quantize in dry-run mode on the header), and
// its data is written directly as random but valid blocks of that type, on several threads.
// Engine code: no N-API here (bind_synth.cpp is the binding).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace moerig {

// A user-caused problem (bad spec, unwritable path): the binding turns it into a one-line JS error.
struct SynthError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Everything that defines one synthetic model. The TS side fills it from a preset; synth_model()
// re-checks every field because llama.cpp aborts (GGML_ASSERT) on inconsistent hyper-parameters.
struct SynthSpec {
    std::string arch;                // "deepseek2" | "qwen3moe"
    std::string name;                // general.name
    std::string preset;              // written as moerig.synth.preset (provenance)
    std::string vocab_path;          // vocab-only GGUF whose tokenizer.* keys are copied (n_vocab follows it)
    std::string out_path;            // final file (the caller renames it into place; we write exactly here)
    std::string work_path;           // quantized files: the sparse header-only F16 file llama.cpp's type
                                     // rules read (pipeline "quantize": the full F16 intermediate); deleted
    std::string pipeline = "direct"; // "direct" (default) | "quantize": F16 + llama_model_quantize,
                                     // the reference the tests compare the direct writer with |
                                     // "header": direct's header, the data section left a hole
                                     // (tests read big presets' types without writing their data)
    std::string quant;               // "F16" | "Q8_0" | "Q6_K" | "Q5_K_M" | "Q4_K_M" | "Q3_K_M" | "Q2_K"
    uint64_t    seed    = 0;
    int         threads = 0; // block generation (and quantization) threads; <= 0: all cores

    uint32_t n_ctx_train          = 0; // context_length
    uint32_t n_layer              = 0; // block_count
    uint32_t n_embd               = 0; // embedding_length
    uint32_t n_head               = 0; // attention.head_count
    uint32_t n_head_kv            = 0; // qwen3moe only (deepseek2 derives it from the KV layout)
    uint32_t head_dim             = 0; // qwen3moe: key_length = value_length = rope dims
    uint32_t n_ff                 = 0; // dense FFN width (deepseek2 leading dense blocks)
    uint32_t n_ff_exp             = 0; // width of one routed expert
    uint32_t n_expert             = 0; // routed experts per MoE block
    uint32_t n_expert_used        = 0; // top-k
    uint32_t n_expert_shared      = 0; // deepseek2: shared experts (width n_ff_exp each)
    uint32_t n_dense_lead         = 0; // deepseek2: leading_dense_block_count
    uint32_t n_group              = 0; // deepseek2: expert_group_count (0 = no group-limited routing)
    uint32_t n_group_used         = 0; // deepseek2: expert_group_used_count
    uint32_t q_lora               = 0; // deepseek2 MLA ranks and head dims
    uint32_t kv_lora              = 0;
    uint32_t rope_dim             = 0;
    uint32_t nope_dim             = 0;
    uint32_t v_dim                = 0;
    bool     mla                  = true; // deepseek2: attn_k_b/attn_v_b (true) or legacy attn_kv_b (false)
    uint32_t gating_func          = 2;    // deepseek2 expert_gating_func: 1 softmax, 2 sigmoid
    float    expert_weights_scale = 1.0f;
    bool     expert_weights_norm  = true;
    float    rope_freq_base       = 10000.0f;
    float    rms_eps              = 1e-6f;
    float    yarn_factor          = 0.0f; // 0: no rope scaling keys
    uint32_t yarn_orig_ctx        = 0;
    float    yarn_log_mul         = 0.0f; // as converters write it (0.1 * mscale_all_dim)
};

struct SynthProgress {
    std::string phase; // "write" (direct or F16 data) | "quantize" (reference pipeline)
    int         done  = 0;
    int         total = 0;
    std::string tensor; // tensor just finished
};

struct SynthResult {
    uint64_t                   file_bytes    = 0;
    int                        tensor_count  = 0;
    uint64_t                   params        = 0; // elements over all tensors
    uint32_t                   n_vocab       = 0;
    double                     seconds       = 0; // the whole call: type rules, header, data
    double                     write_seconds = 0; // the data section alone (pipeline "direct")
    std::map<std::string, int> type_counts;       // ggml type name -> tensors of that type in out_path
};

using SynthProgressFn = std::function<void(const SynthProgress &)>;

// Write spec.out_path. Throws SynthError for bad specs and I/O failures; removes work_path and a
// partial out_path on failure.
SynthResult synth_model(const SynthSpec & spec, const SynthProgressFn & progress);

// Ask a synth_model in flight to stop (Ctrl-C, SIGTERM): it stops between write jobs, removes the
// files it made and throws "stopped". Safe from any thread. As with membw::request_stop, the
// caller clears old requests (synth_clear_stop) when it queues a synth_model, not synth_model
// itself, so a stop that lands before the worker thread starts is not lost.
void synth_request_stop();
void synth_clear_stop();

} // namespace moerig
