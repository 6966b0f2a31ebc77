// llama.cpp's process-wide state: log callback, backend loading, NUMA init. See runtime.h.
#include "runtime.h"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama.h"

namespace moerig {

using std::runtime_error;
using std::string;

namespace {

// ---------------------------------------------------------------- log

// llama.cpp logs in fragments (GGML_LOG_LEVEL_CONT continues a line); we join them into lines.
// Warnings and errors also go to stderr: in the runner child process that is a pipe the CLI
// reads back when the child dies, so an abort comes with llama.cpp's last words.
std::mutex          g_log_mu;           // guards everything below
bool                g_collect  = false; // engine_init has run: collect lines
bool                g_echo_all = false; // MOERIG_LLAMA_LOG set: every line to stderr too
std::vector<string> g_log_lines;
string              g_log_partial;
std::vector<string> g_errors;                 // error lines since the last last_error_take()
ggml_log_callback   g_capture_cb   = nullptr; // an open LogCapture
void *              g_capture_user = nullptr;
std::mutex          g_capture_turn; // one LogCapture at a time

void log_cb(enum ggml_log_level level, const char * text, void *) {
    if (text == nullptr) return;
    std::lock_guard<std::mutex> lk(g_log_mu);
    if (g_capture_cb != nullptr) {
        g_capture_cb(level, text, g_capture_user);
        return;
    }
    if (!g_collect) {
        // what llama.cpp's default logger (llama_log_callback_default, src/llama-impl.cpp) does
        fputs(text, stderr);
        fflush(stderr);
        return;
    }
    // a fragment continuing a line (GGML_LOG_LEVEL_CONT) has that line's level
    static ggml_log_level line_level = GGML_LOG_LEVEL_INFO;
    if (level == GGML_LOG_LEVEL_CONT)
        level = line_level;
    else
        line_level = level;
    // debug lines are dropped (echoed under MOERIG_LLAMA_LOG: GGML_SCHED_DEBUG's split listing is
    // one), except the ones naming each tensor repacked into an extra buffer type
    // ("ggml_backend_amx_buffer_set_tensor: amx repack tensor X of type q4_K", "repack: repack
    // tensor X with q4_K_8x8"): they tell which file bytes the mapped span no longer needs
    if (level == GGML_LOG_LEVEL_DEBUG && strstr(text, "repack tensor ") == nullptr) {
        if (g_echo_all) fputs(text, stderr);
        return;
    }
    if (g_echo_all || level == GGML_LOG_LEVEL_WARN || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
    g_log_partial += text;
    size_t nl;
    while ((nl = g_log_partial.find('\n')) != string::npos) {
        string line = g_log_partial.substr(0, nl);
        g_log_partial.erase(0, nl + 1);
        if (level == GGML_LOG_LEVEL_ERROR && !line.empty() && g_errors.size() < 64) g_errors.push_back(line);
        if (g_log_lines.size() < 20000) g_log_lines.push_back(std::move(line));
    }
}

// The one llama_log_set of the process (it also sets ggml's logger).
void install_log_cb() {
    static std::once_flag once;
    std::call_once(once, [] { llama_log_set(log_cb, nullptr); });
}

} // namespace

std::vector<string> log_take() {
    std::lock_guard<std::mutex> lk(g_log_mu);
    std::vector<string>         out;
    out.swap(g_log_lines);
    return out;
}

string last_error_take() {
    std::lock_guard<std::mutex> lk(g_log_mu);
    string                      e = g_errors.empty() ? "" : g_errors.front();
    g_errors.clear();
    // "llama_model_load: error loading model: …" → keep the part after the function name
    size_t p = e.find(": ");
    if (p != string::npos && p < 40) e = e.substr(p + 2);
    return e;
}

LogCapture::LogCapture(ggml_log_callback cb, void * user) : turn_(g_capture_turn) {
    install_log_cb();
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_capture_cb   = cb;
    g_capture_user = user;
}

LogCapture::~LogCapture() {
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_capture_cb   = nullptr;
    g_capture_user = nullptr;
}

namespace {

// ---------------------------------------------------------------- backends

std::mutex  g_init_mu; // guards g_inited and g_state
bool        g_inited = false;
EngineState g_state;

const char * dev_type_name(enum ggml_backend_dev_type t) {
    switch (t) {
        case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
        case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        default: return "accel";
    }
}

// Every libggml-cpu-<name>.so in lib_dir with ggml's own score for this CPU. ggml's loader does the
// same (dlopen, ggml_backend_score) before it picks the best; the score function only reads cpuid.
std::vector<CpuVariant> scan_cpu_variants(const string & lib_dir) {
    std::vector<CpuVariant> out;
    DIR *                   d = opendir(lib_dir.c_str());
    if (!d) return out;
    const string prefix = "libggml-cpu-", suffix = ".so";
    while (dirent * e = readdir(d)) {
        string f = e->d_name;
        if (f.size() <= prefix.size() + suffix.size() || f.compare(0, prefix.size(), prefix) != 0 ||
            f.compare(f.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        CpuVariant v{f.substr(prefix.size(), f.size() - prefix.size() - suffix.size()), lib_dir + "/" + f, 0};
        if (void * h = dlopen(v.path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
            using score_fn = int (*)();
            if (auto * score = (score_fn) dlsym(h, "ggml_backend_score")) v.score = score();
            dlclose(h);
        }
        out.push_back(v);
    }
    closedir(d);
    std::sort(out.begin(), out.end(), [](const CpuVariant & a, const CpuVariant & b) {
        return a.score != b.score ? a.score > b.score : a.name < b.name;
    });
    return out;
}

const CpuVariant * find_variant(const std::vector<CpuVariant> & vs, const string & name) {
    for (const auto & v : vs)
        if (v.name == name) return &v;
    return nullptr;
}

// "load_backend: loaded CPU backend from /x/libggml-cpu-zen4.so" → "zen4"
string variant_from_log(const std::vector<string> & lines) {
    for (const auto & l : lines) {
        size_t p = l.find("loaded CPU backend from ");
        if (p == string::npos) continue;
        size_t a = l.rfind("libggml-cpu-"), b = l.rfind(".so");
        if (a != string::npos && b != string::npos && b > a + 12) return l.substr(a + 12, b - a - 12);
    }
    return "";
}

// The RPC backend from rpc.lib (loaded once, through ggml's registry like any backend library),
// then each server's devices registered as their own backend (what llama.cpp's --rpc does in
// common/arg.cpp). ggml_backend_rpc_add_server asks the server for its device count: on a server
// it cannot reach it aborts, which is why the TS side shakes hands with each one first.
void add_rpc_servers(const RpcSetup & rpc) {
    if (rpc.servers.empty()) return;
    ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
    if (reg == nullptr) {
        if (rpc.lib.empty()) throw runtime_error("RPC servers given without the RPC backend library");
        reg = ggml_backend_load(rpc.lib.c_str());
        if (reg == nullptr) {
            string why = last_error_take();
            throw runtime_error("could not load the RPC backend " + rpc.lib + (why.empty() ? "" : ": " + why));
        }
    }
    using add_server_t = ggml_backend_reg_t (*)(const char * endpoint);
    auto add           = (add_server_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_add_server");
    if (add == nullptr) throw runtime_error(rpc.lib + " has no ggml_backend_rpc_add_server");
    for (const auto & endpoint : rpc.servers) {
        ggml_backend_reg_t server = add(endpoint.c_str());
        if (server == nullptr) throw runtime_error("RPC server " + endpoint + " serves no devices");
        ggml_backend_register(server);
    }
}

} // namespace

EngineState engine_init(const string & lib_dir, const std::vector<string> & extra_libs, const string & cpu_variant,
                        const RpcSetup & rpc) {
    std::lock_guard<std::mutex> lk(g_init_mu);
    if (g_inited) return g_state;
    {
        std::lock_guard<std::mutex> log_lk(g_log_mu);
        g_echo_all = getenv("MOERIG_LLAMA_LOG") != nullptr;
        g_collect  = true;
    }
    install_log_cb();
    g_state.cpu_variants = scan_cpu_variants(lib_dir);
    if (!g_state.cpu_variants.empty() && g_state.cpu_variants[0].score > 0)
        g_state.cpu_variant_best = g_state.cpu_variants[0].name;
    if (cpu_variant.empty()) {
        // CPU variants (libggml-cpu-<arch>.so): ggml picks the best one this CPU supports.
        ggml_backend_load_all_from_path(lib_dir.c_str());
        g_state.cpu_variant = variant_from_log(log_take());
        if (g_state.cpu_variant.empty()) g_state.cpu_variant = g_state.cpu_variant_best;
    } else {
        const CpuVariant * v = find_variant(g_state.cpu_variants, cpu_variant);
        string             names;
        for (const auto & x : g_state.cpu_variants)
            if (x.score > 0) names += (names.empty() ? "" : ", ") + x.name;
        if (!v) throw runtime_error("unknown CPU variant \"" + cpu_variant + "\" (this CPU runs: " + names + ")");
        if (v->score <= 0)
            throw runtime_error("CPU variant \"" + cpu_variant +
                                "\" uses instructions this CPU lacks (this CPU runs: " + names + ")");
        if (ggml_backend_load(v->path.c_str()) == nullptr) {
            string why = last_error_take();
            throw runtime_error("could not load CPU variant " + v->path + (why.empty() ? "" : ": " + why));
        }
        g_state.cpu_variant = v->name;
    }
    for (const auto & path : extra_libs) {
        if (ggml_backend_load(path.c_str()) != nullptr) {
            g_state.loaded.push_back(path);
        } else {
            string why = last_error_take();
            g_state.failed.push_back(path + ": " + (why.empty() ? "ggml_backend_load failed" : why));
        }
    }
    if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr)
        throw runtime_error("no CPU backend could be loaded from " + lib_dir);
    add_rpc_servers(rpc);
    llama_backend_init();
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev   = ggml_backend_dev_get(i);
        size_t             free  = 0;
        size_t             total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        g_state.devices.push_back({ggml_backend_dev_name(dev), ggml_backend_dev_description(dev),
                                   dev_type_name(ggml_backend_dev_type(dev)),
                                   ggml_backend_reg_name(ggml_backend_dev_backend_reg(dev)), free, total});
    }
    for (auto * b : cpu_extra_bufts()) g_state.extra_bufts.push_back(ggml_backend_buft_name(b));
    log_take(); // start/backends chatter is not part of any model's log
    g_inited = true;
    return g_state;
}

void require_init() {
    std::lock_guard<std::mutex> lk(g_init_mu);
    if (!g_inited) throw runtime_error("engine not initialised (call llamaInit first)");
}

// engine_init recorded the CPU's extra buffer types once; they do not change afterwards
bool cpu_has_extra_buft(const string & name) {
    std::lock_guard<std::mutex> lk(g_init_mu);
    return std::find(g_state.extra_bufts.begin(), g_state.extra_bufts.end(), name) != g_state.extra_bufts.end();
}

namespace {

// ---------------------------------------------------------------- NUMA

ggml_numa_strategy parse_numa(const string & s) {
    if (s == "disabled" || s.empty()) return GGML_NUMA_STRATEGY_DISABLED;
    if (s == "distribute") return GGML_NUMA_STRATEGY_DISTRIBUTE;
    if (s == "isolate") return GGML_NUMA_STRATEGY_ISOLATE;
    if (s == "numactl") return GGML_NUMA_STRATEGY_NUMACTL;
    if (s == "mirror") return GGML_NUMA_STRATEGY_MIRROR;
    throw runtime_error("unknown NUMA strategy \"" + s + "\" (disabled, distribute, isolate, numactl, mirror)");
}

} // namespace

void numa_init(const string & strategy) {
    const ggml_numa_strategy numa = parse_numa(strategy);
    if (numa == GGML_NUMA_STRATEGY_DISABLED) return;
    // call_once, not a flag: a second loader must not start before the first init has finished
    static std::once_flag once;
    std::call_once(once, [numa] { llama_numa_init(numa); });
}

// ---------------------------------------------------------------- CPU device helpers

std::vector<ggml_backend_buffer_type_t> cpu_extra_bufts() {
    std::vector<ggml_backend_buffer_type_t> out;
    ggml_backend_dev_t                      cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) return out;
    auto fn = (ggml_backend_dev_get_extra_bufts_t) ggml_backend_reg_get_proc_address(
        ggml_backend_dev_backend_reg(cpu), "ggml_backend_dev_get_extra_bufts");
    if (!fn) return out;
    for (ggml_backend_buffer_type_t * p = fn(cpu); p && *p; ++p) out.push_back(*p);
    return out;
}

CpuThreadPool cpu_threadpool_new(int threads) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_reg_t reg = cpu ? ggml_backend_dev_backend_reg(cpu) : nullptr;
    auto *             tp_new =
        reg ? (decltype(ggml_threadpool_new) *) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new") : nullptr;
    auto * tp_free =
        reg ? (decltype(ggml_threadpool_free) *) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free")
            : nullptr;
    CpuThreadPool p;
    if (!tp_new || !tp_free) return p;
    ggml_threadpool_params tpp = ggml_threadpool_params_default(threads);
    p.pool                     = tp_new(&tpp);
    if (!p.pool) throw std::runtime_error("could not create a thread pool of " + std::to_string(threads) + " threads");
    p.free = tp_free;
    return p;
}

} // namespace moerig
