// memBandwidth(opts, onProgress?) -> Promise<MemBwResult>: converts the JS options to
// membw::Options, runs membw::run on a libuv worker thread (a StreamWorker, so the event loop never
// blocks and every progress report arrives, in order, before the promise settles) and converts the
// result back. Types: src/engine/addon.ts. Engine: native/src/engine/membw.h.
#include <memory>
#include <string>
#include <utility>

#include "binding/args.h"
#include "binding/bindings.h"
#include "binding/workers.h"
#include "engine/membw.h"

namespace moerig::binding {
namespace {

// ---------------------------------------------------------------- JS -> options
// Shape errors are TypeErrors naming the field; ranges and machine facts (CPUs that exist, memory)
// are checked by membw::validate, which runs before the worker is queued.

constexpr const char * kWhat           = "memBandwidth";
constexpr double       kIntRange       = 2147483647.0;
constexpr double       kMaxSafeInteger = 9007199254740991.0; // Number.MAX_SAFE_INTEGER

int to_int(const Napi::Value & v, const std::string & name) {
    return int(to_integer(v, name, -kIntRange, kIntRange, kWhat));
}

membw::Node parse_node(const Napi::Value & v, const std::string & where) {
    if (!v.IsObject() || v.IsArray()) type_error(v.Env(), kWhat, where + " must be an object {id, cpus}");
    Napi::Object o = v.As<Napi::Object>();
    membw::Node  node;
    node.id          = to_int(o.Get("id"), where + ".id");
    Napi::Value cpus = o.Get("cpus");
    if (!cpus.IsArray()) type_error(v.Env(), kWhat, where + ".cpus must be an array of CPU ids");
    Napi::Array arr = cpus.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++)
        node.cpus.push_back(to_int(arr.Get(i), where + ".cpus[" + std::to_string(i) + "]"));
    return node;
}

membw::Options parse_options(Napi::Env env, const Napi::Value & v) {
    if (!v.IsObject() || v.IsArray())
        type_error(env, kWhat, "options must be an object {nodes, arrayBytesPerThread, repetitions, perNode}");
    Napi::Object   o = v.As<Napi::Object>();
    membw::Options opt;
    Napi::Value    nodes = o.Get("nodes");
    if (!nodes.IsArray()) type_error(env, kWhat, "nodes must be an array of {id, cpus}");
    Napi::Array arr = nodes.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++)
        opt.nodes.push_back(parse_node(arr.Get(i), "nodes[" + std::to_string(i) + "]"));
    opt.array_bytes =
        size_t(to_integer(o.Get("arrayBytesPerThread"), "arrayBytesPerThread", 0, kMaxSafeInteger, kWhat));
    opt.repetitions      = to_int(o.Get("repetitions"), "repetitions");
    Napi::Value per_node = o.Get("perNode");
    if (!per_node.IsUndefined()) {
        if (!per_node.IsBoolean()) type_error(env, kWhat, "perNode must be a boolean");
        opt.per_node = per_node.As<Napi::Boolean>().Value();
    }
    Napi::Value stores = o.Get("stores");
    if (!stores.IsUndefined()) {
        const std::string s = stores.IsString() ? stores.As<Napi::String>().Utf8Value() : "";
        if (s == "auto")
            opt.stores = membw::Stores::Auto;
        else if (s == "temporal")
            opt.stores = membw::Stores::Temporal;
        else if (s == "nontemporal")
            opt.stores = membw::Stores::NonTemporal;
        else
            type_error(env, kWhat, "stores must be \"auto\", \"temporal\" or \"nontemporal\"");
    }
    return opt;
}

// ---------------------------------------------------------------- result -> JS

void set_kernels(Napi::Object o, const membw::Kernels & k) {
    o.Set("copyGBs", k.copy_gbs);
    o.Set("scaleGBs", k.scale_gbs);
    o.Set("addGBs", k.add_gbs);
    o.Set("triadGBs", k.triad_gbs);
}

Napi::Object result_js(Napi::Env env, const membw::Result & r) {
    Napi::Object o = Napi::Object::New(env);
    set_kernels(o, r.all);
    o.Set("threads", r.threads);
    o.Set("arrayBytesPerThread", double(r.array_bytes));
    o.Set("repetitions", r.repetitions);
    o.Set("kernels", r.kernels);
    o.Set("hugePages", r.huge_pages);
    o.Set("numaBind", r.numa_bind);
    Napi::Array per = Napi::Array::New(env, r.per_node.size());
    for (size_t i = 0; i < r.per_node.size(); i++) {
        Napi::Object n = Napi::Object::New(env);
        n.Set("node", r.per_node[i].node);
        n.Set("threads", r.per_node[i].threads);
        set_kernels(n, r.per_node[i].gbs);
        per.Set(uint32_t(i), n);
    }
    o.Set("perNode", per);
    return o;
}

Napi::Value progress_js(Napi::Env env, const membw::Progress * p, size_t) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("phase", p->node < 0 ? std::string("all nodes") : "node " + std::to_string(p->node));
    o.Set("done", p->done);
    o.Set("total", p->total);
    return o;
}

// ---------------------------------------------------------------- memBandwidth

// Bad options reject the promise (never throw synchronously), so callers handle one failure path.
// A throwing onProgress cannot stop the benchmark mid-kernel: it finishes and the promise rejects
// with that exception (StreamWorker).
Napi::Value js_mem_bandwidth(const Napi::CallbackInfo & info) {
    Napi::Env      env = info.Env();
    membw::Options opt;
    Napi::Function on_progress;
    try {
        on_progress = arg_optional_function(info, 1, "memBandwidth: onProgress");
        opt         = parse_options(env, arg(info, 0));
        membw::validate(opt);
    } catch (const Napi::Error & e) {
        return rejected(env, e.Value());
    } catch (const std::exception & e) {
        return rejected(env, Napi::Error::New(env, e.what()).Value());
    }
    membw::clear_stop(); // on the JS thread, before the worker exists: a memBandwidthStop() from now on counts
    auto result = std::make_shared<membw::Result>();
    using W     = StreamWorker<membw::Progress>;
    return W::start(
        env, "moerig.memBandwidth", on_progress,
        [opt, result](const W::Send & send) {
            membw::ProgressFn fn;
            if (send) fn = [&send](const membw::Progress & p) { send(&p, 1); };
            *result = membw::run(opt, fn);
        },
        progress_js, [result](Napi::Env env) { return (Napi::Value) result_js(env, *result); });
}

Napi::Value js_mem_bandwidth_stop(const Napi::CallbackInfo & info) {
    membw::request_stop();
    return info.Env().Undefined();
}

} // namespace

void register_membw(Napi::Env env, Napi::Object exports) {
    exports.Set("memBandwidth", Napi::Function::New(env, js_mem_bandwidth, "memBandwidth"));
    exports.Set("memBandwidthStop", Napi::Function::New(env, js_mem_bandwidth_stop, "memBandwidthStop"));
}

} // namespace moerig::binding
