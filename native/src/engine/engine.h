// The runner engine: plain C++ over llama.cpp's public C API (include/llama.h). No Node-API here;
// native/src/binding/bind_llama.cpp turns these structs into JS values and runs the slow calls on worker
// threads. Every failure is a std::runtime_error with a one-line message (the binding turns it
// into a JS Error).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime.h"

struct llama_model;
struct llama_context;
struct llama_sampler;
struct ggml_threadpool;
struct ggml_tensor;

namespace moerig {

// ---------------------------------------------------------------- model

struct TensorOverride {
    std::string pattern; // regex on tensor names, as llama.cpp's -ot
    std::string device;  // "CPU", "Vulkan0", … or a buffer-type name
};

struct ModelParams {
    std::string                 path;
    int                         n_gpu_layers = 0;       // -1 = all
    std::string                 split_mode   = "layer"; // none | layer | row
    int                         main_gpu     = 0;
    std::vector<float>          tensor_split; // one proportion per GPU; empty = default
    std::vector<TensorOverride> overrides;
    int                         n_cpu_moe = 0; // first N blocks keep experts in CPU RAM
    bool                        use_mmap  = true;
    bool                        use_mlock = false;
    std::string                 numa      = "disabled"; // disabled | distribute | isolate | numactl | mirror
    // llama.cpp's use_extra_bufts (-nr/--no-repack turns it off): weights may go to the CPU's
    // extra buffer types (AMX, CPU_REPACK), which repack them for faster kernels.
    bool use_extra_bufts = true;
    // llama.cpp's -dev/--device: the devices to offload to, by name ("CUDA0", "Vulkan1", "RPC0");
    // has_devices with an empty list = none (CPU only: no GPU buffers, no op offload of large
    // batches); has_devices false = every GPU ggml knows (llama.cpp's default)
    bool                     has_devices = false;
    std::vector<std::string> devices;
};

struct ModelInfo {
    std::string desc; // llama_model_desc: "deepseek2 16B Q4_K - Medium"
    std::string arch; // general.architecture
    std::string name; // general.name (may be empty)
    uint64_t    size_bytes;
    uint64_t    n_params;
    int         n_layer;
    int         n_expert; // 0 for dense models
    int         n_expert_used;
    int         n_vocab;
    int         n_ctx_train;
};

struct Model {
    llama_model *            model = nullptr;
    ModelInfo                info;
    std::vector<std::string> load_log; // log lines of the load (model buffer sizes)
    // llama.cpp keeps pointers into the override patterns: keep them alive with the model.
    std::vector<std::string> patterns;
    // 3-D weights kept out of the AMX buffer type (see amx_guard in engine.cpp)
    std::vector<std::string> amx_guarded;
    ~Model();
};

std::unique_ptr<Model> model_load(const ModelParams & p);

// ---------------------------------------------------------------- context

struct ContextParams {
    int         n_ctx      = 0; // 0 = model's training context
    int         n_batch    = 2048;
    int         n_ubatch   = 512;
    std::string type_k     = "f16";
    std::string type_v     = "f16";
    std::string flash_attn = "auto"; // auto | on | off
    // false: --no-op-offload — ops on weights in RAM stay on the CPU even for batches a GPU would take
    bool op_offload = true;
    // <= 0: llama_context_default_params().n_threads, which is GGML_DEFAULT_N_THREADS = 4 in this
    // release (ggml/include/ggml.h), not the core count; the thread pool, n_threads and
    // n_threads_batch all get this one number (context_create)
    int  threads = 0;
    bool trace   = false; // install the routing-trace eval callback
};

// Routing trace as the eval callback sees it, one vector per MoE block, rows in token order.
struct TraceCollector {
    int                                 k = 0;       // experts per token (ne0 of ffn_moe_topk)
    std::map<int, std::vector<int32_t>> ids;         // il -> rows × k
    std::map<int, std::vector<float>>   weights;     // il -> rows × k, final gate weights
    std::map<int, int>                  weight_rank; // il -> rank of the weights tensor kept
    // Every observed tensor splits the graph (a sync per split), so after the first MoE block has
    // shown which weights tensor is the final one, only that one is asked for.
    int  final_rank = 0;
    bool frozen     = false;
    void clear() {
        ids.clear();
        weights.clear();
        weight_rank.clear();
    }
};

struct Context {
    Model *           model              = nullptr; // not owned; the binding keeps the JS model alive
    llama_context *   ctx                = nullptr;
    ggml_threadpool * pool               = nullptr;
    void (*pool_free)(ggml_threadpool *) = nullptr;
    int                      threads     = 0;
    int                      n_ctx = 0, n_batch = 0, n_ubatch = 0;
    std::vector<std::string> create_log;  // log lines of the creation (KV, compute buffers)
    std::atomic<bool>        stop{false}; // set from the JS thread; checked between steps
    bool                     tracing = false;
    TraceCollector           trace;
    ~Context();
};

std::unique_ptr<Context> context_create(Model & m, const ContextParams & p);

// ---------------------------------------------------------------- bench (llama-bench semantics)

struct BenchSpec {
    int  n_prompt = 0; // pp: one prompt of n_prompt random tokens in n_batch chunks
    int  n_gen    = 0; // tg: n_gen single-token decode steps
    int  n_depth  = 0; // tokens already in the context before each timed run (llama-bench -d), untimed
    int  reps     = 5;
    bool warmup   = true;
};

// Raw nanoseconds per finished repetition. Stops early (fewer samples) when ctx.stop is set.
// on_rep(i, ns) runs on the calling (worker) thread after each repetition. token_ns (optional):
// every timed single-token decode step of the tg test, in order (reps × n_gen): on a shared machine
// the fastest steps are its own speed, a repetition's mean also carries the others' bursts.
std::vector<uint64_t> bench_run(Context & c, const BenchSpec & s, const std::function<void(int, uint64_t)> & on_rep,
                                std::vector<uint64_t> * token_ns = nullptr);

// ---------------------------------------------------------------- generate

struct GenerateSpec {
    std::string prompt;
    int         n_predict   = 128;
    float       temperature = 0.0f; // <= 0: greedy
    uint32_t    seed        = 0;
    int         top_k       = 40;
    float       top_p       = 0.95f;
};

struct TraceResult {
    std::vector<int>      layers; // MoE block indices, ascending
    int                   k        = 0;
    int                   n_tokens = 0;
    std::vector<uint16_t> ids;     // [token][layer][k], gate order
    std::vector<float>    weights; // same layout; empty when the graph had no weights tensor
};

struct GenerateResult {
    int         n_prompt  = 0; // prompt tokens
    int         n_gen     = 0; // tokens generated (streamed)
    int         n_decode  = 0; // single-token decode steps timed
    uint64_t    prompt_ns = 0;
    uint64_t    decode_ns = 0;
    std::string stop_reason; // "length" | "eog" | "stopped" | "context"
    bool        has_trace = false;
    TraceResult trace;
};

// Streams each generated piece through on_piece (worker thread). With c.tracing, every prompt
// token requests output (the last block only computes output rows) and the last generated token
// is also decoded, so the trace covers prompt + generated tokens.
GenerateResult generate(Context & c, const GenerateSpec & s, const std::function<void(const std::string &)> & on_piece);

// ---------------------------------------------------------------- decode check

// What one prompt decode and a few greedy single-token steps give: proves that a model loads,
// gets a context and computes (synth --check, the CPU-variant matrix tests).
struct DecodeCheck {
    int                  n_tokens = 0; // prompt tokens
    std::vector<int32_t> tokens;
    int                  n_steps         = 0; // single-token decode steps after the prompt
    bool                 logits_finite   = true;
    double               prompt_mean_abs = 0; // mean |logit| after the prompt (0 = all zero: broken)
    std::vector<float>   prompt_head;         // the first 16 logits after the prompt (cross-config checks)
    int                  top_token = -1;      // argmax after the prompt
    std::string          top_piece;
    double               prompt_seconds = 0;
    double               steps_seconds  = 0;
};

DecodeCheck check_decode(Context & c, const std::string & prompt, int n_steps);

} // namespace moerig
