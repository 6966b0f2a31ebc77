// llama.cpp's process-wide state, owned here and nowhere else: the log callback (llama_log_set,
// which also sets ggml's), backend loading (a CPU variant, GPU backend libraries,
// llama_backend_init) and NUMA init (llama_numa_init). engine.cpp and synth.cpp use it; neither
// calls llama_log_set, ggml_backend_load or llama_numa_init itself. Backends that join later (RPC
// servers through libggml-rpc.so) belong here too. No Node-API here.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"

namespace moerig {

// ---------------------------------------------------------------- backends

struct DeviceInfo {
    std::string name;        // "CPU", "Vulkan0", "CUDA0"
    std::string description; // "Intel(R) Arc(TM) A770 Graphics"
    std::string type;        // "cpu" | "gpu" | "igpu" | "accel"
    std::string backend;     // registry name: "CPU", "Vulkan", "CUDA"
    uint64_t    free_bytes;
    uint64_t    total_bytes;
};

// One libggml-cpu-<name>.so of lib_dir. ggml scores each variant for this CPU (0 = it uses
// instructions this CPU lacks) and loads the highest score.
struct CpuVariant {
    std::string name; // "sapphirerapids", "zen4", "x64", …
    std::string path;
    int         score; // ggml_backend_score(); 0 = cannot run here
};

struct EngineState {
    std::vector<std::string> loaded;           // backend libraries loaded by path (GPU packages)
    std::vector<std::string> failed;           // "path: reason"
    std::vector<DeviceInfo>  devices;          // every device ggml knows after loading
    std::vector<CpuVariant>  cpu_variants;     // every variant in lib_dir, ggml's order of preference
    std::string              cpu_variant;      // the variant loaded ("" if not known)
    std::string              cpu_variant_best; // the one ggml picks on its own (highest score)
    std::vector<std::string> extra_bufts;      // the CPU backend's extra buffer types ("AMX", "CPU_REPACK")
};

// llama.cpp RPC servers to use (--rpc): the RPC backend library (build/rpc/libggml-rpc.so; the
// prebuilt packages have none) and "host:port" of each server, in order.
struct RpcSetup {
    std::string              lib;
    std::vector<std::string> servers;
};

// Loads a CPU variant from lib_dir: `cpu_variant` by name, or ggml's pick when empty
// (ggml_backend_load_all_from_path); then each extra backend library (libggml-vulkan.so,
// libggml-cuda.so of the GPU packages); then, with RPC servers, libggml-rpc.so and each server's
// devices (ggml_backend_rpc_add_server: RPC0, RPC1 … in order, which llama.cpp's default device
// list puts first and -ngl/-ts/-ot use like local GPUs); then llama_backend_init. A variant this
// CPU cannot execute is refused before it is loaded. Idempotent: later calls only return the state.
// llama.cpp aborts on an RPC server it cannot reach: callers check each one first.
EngineState engine_init(const std::string & lib_dir, const std::vector<std::string> & extra_libs,
                        const std::string & cpu_variant = "", const RpcSetup & rpc = {});

// Throws unless engine_init has succeeded.
void require_init();

// Whether engine_init found this extra buffer type ("AMX", "CPU_REPACK") on the CPU backend.
bool cpu_has_extra_buft(const std::string & name);

// llama_numa_init once per process (it sets global state; loads run on worker threads): the first
// strategy other than "disabled" wins, and a second caller waits until that init has finished.
// Throws on an unknown strategy name (disabled, distribute, isolate, numactl, mirror).
void numa_init(const std::string & strategy);

// ---------------------------------------------------------------- CPU device helpers

// Extra buffer types of the CPU device (AMX, CPU_REPACK, …): the ones use_extra_bufts enables.
std::vector<ggml_backend_buffer_type_t> cpu_extra_bufts();

// A thread pool of `threads` made by the loaded CPU backend (its ggml_threadpool_new, found through
// the registry: the CPU backend is a dynamically loaded variant), as llama-bench attaches one;
// {nullptr, nullptr} when the variant exports none. Throws when the pool cannot be made.
struct CpuThreadPool {
    ggml_threadpool * pool          = nullptr;
    void (*free)(ggml_threadpool *) = nullptr;
};
CpuThreadPool cpu_threadpool_new(int threads);

// ---------------------------------------------------------------- log

// After engine_init, llama.cpp's log lines are collected (the memory figures are read from them);
// warnings and errors also go to stderr. Before it, they go to stderr as llama.cpp's own default
// logger writes them.

// Log lines collected since the last call.
std::vector<std::string> log_take();

// The first error line since the last call, without its function-name prefix: the cause, which
// llama.cpp logs before its generic summary ("…: failed to load model").
std::string last_error_take();

// Routes every llama.cpp / ggml log fragment to `cb` for its lifetime (synth reads the quantizer's
// per-tensor lines this way). One capture at a time: a second one waits for the first to end.
// While a capture is open, the lines of other threads go to it as well.
class LogCapture {
  public:
    LogCapture(ggml_log_callback cb, void * user);
    ~LogCapture();
    LogCapture(const LogCapture &)             = delete;
    LogCapture & operator=(const LogCapture &) = delete;

  private:
    std::unique_lock<std::mutex> turn_;
};

} // namespace moerig
