// Per-node decode times inside a model (bench/op-profile.ts builds and runs this; a diagnostic for
// the speed model, not part of the addon). llama.cpp's eval callback asks for every node, so the
// scheduler computes one node per graph call and the time between two callbacks is that node's
// (plus the call itself, ≈ 0.5 µs on a Zen 4 guest: a view, computed as nothing, shows it).
// The first 4 tokens warm up; then `tokens` single-token decodes with the profiler and as many
// without it (the token time the profile is read against).
//
// usage: opprof <lib dir> <model.gguf> <threads> <tokens> [batch]
//   batch > 1: each decode is a prompt of `batch` tokens on an emptied cache (prefill's ubatch)
// output: one line per node per token position order, tab-separated:
//   node <op> <name> <weight type or -> <ne0> <ne1> <ne2> <fastest s> <median s> <count>
//   token <profiled fastest s> <profiled median s> <plain fastest s> <plain median s>
#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Node {
    std::string         op, name, wtype;
    int64_t             ne[3] = {0, 0, 0};
    std::vector<double> s; // one time per profiled token
};

struct Prof {
    bool                          on   = false;
    double                        last = 0;
    size_t                        next = 0; // index of the node in graph order this token
    std::vector<Node>             nodes;
    std::map<std::string, size_t> index;
};

bool on_node(ggml_tensor * t, bool ask, void * ud) {
    auto * p = static_cast<Prof *>(ud);
    if (ask) return p->on;
    const double n = now_s();
    // key: graph position and name (the same graph every token: the same keys)
    const std::string key = std::to_string(p->next++) + "\t" + t->name;
    auto              it  = p->index.find(key);
    if (it == p->index.end()) {
        Node x;
        x.op          = ggml_op_desc(t);
        x.name        = t->name;
        const bool mm = t->op == GGML_OP_MUL_MAT || t->op == GGML_OP_MUL_MAT_ID;
        x.wtype       = mm ? ggml_type_name(t->src[0]->type) : "-";
        for (int i = 0; i < 3; i++) x.ne[i] = mm ? t->src[0]->ne[i] : t->ne[i];
        it = p->index.emplace(key, p->nodes.size()).first;
        p->nodes.push_back(x);
    }
    p->nodes[it->second].s.push_back(n - p->last);
    p->last = now_s();
    return true;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

double fastest(const std::vector<double> & v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

} // namespace

int main(int argc, char ** argv) {
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: opprof <lib dir> <model.gguf> <threads> <tokens> [batch]\n");
        return 2;
    }
    const int threads = atoi(argv[3]), tokens = atoi(argv[4]), batch = argc == 6 ? atoi(argv[5]) : 1;
    if (threads < 1 || tokens < 1 || batch < 1 || batch > 512) {
        fprintf(stderr, "opprof: threads and tokens must be ≥ 1, batch 1..512\n");
        return 2;
    }
    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    ggml_backend_load_all_from_path(argv[1]);
    llama_model * model = llama_model_load_from_file(argv[2], llama_model_default_params());
    if (!model) {
        fprintf(stderr, "opprof: cannot load %s\n", argv[2]);
        return 1;
    }
    Prof prof;
    // timings[0]: profiled tokens, timings[1]: plain ones
    std::vector<double> timings[2];
    for (int profiled = 1; profiled >= 0; profiled--) {
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx                = 512;
        cp.n_batch = cp.n_ubatch = 512;
        cp.n_threads = cp.n_threads_batch = threads;
        cp.flash_attn_type                = LLAMA_FLASH_ATTN_TYPE_ENABLED;
        if (profiled) {
            cp.cb_eval           = on_node;
            cp.cb_eval_user_data = &prof;
        }
        llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) {
            fprintf(stderr, "opprof: cannot create a context\n");
            return 1;
        }
        std::vector<llama_token> toks(size_t(batch), 100); // any tokens: llama-bench decodes random ones
        for (int i = 0; i < 4 + tokens && (batch > 1 || i < 500); i++) {
            // a prompt starts on an empty cache; single tokens fill it
            if (batch > 1) llama_memory_clear(llama_get_memory(ctx), true);
            llama_batch b   = llama_batch_get_one(toks.data(), batch);
            prof.on         = profiled && i >= 4;
            prof.next       = 0;
            const double t0 = now_s();
            prof.last       = t0;
            if (llama_decode(ctx, b) != 0) {
                fprintf(stderr, "opprof: decode failed\n");
                return 1;
            }
            const double t1 = now_s();
            if (i < 4) continue;
            timings[profiled ? 0 : 1].push_back(t1 - t0);
            if (profiled) {
                // from the last node's callback to the end of llama_decode (the logits' copy)
                const std::string key = "end";
                auto              it  = prof.index.find(key);
                if (it == prof.index.end()) {
                    Node x;
                    x.op = "END", x.name = "after the last node", x.wtype = "-";
                    it = prof.index.emplace(key, prof.nodes.size()).first;
                    prof.nodes.push_back(x);
                }
                prof.nodes[it->second].s.push_back(t1 - prof.last);
            }
        }
        llama_free(ctx);
    }
    for (const Node & n : prof.nodes)
        printf("node\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%.9f\t%.9f\t%zu\n", n.op.c_str(), n.name.c_str(), n.wtype.c_str(),
               (long long) n.ne[0], (long long) n.ne[1], (long long) n.ne[2], fastest(n.s), median(n.s), n.s.size());
    printf("token\t%.9f\t%.9f\t%.9f\t%.9f\n", fastest(timings[0]), median(timings[0]), fastest(timings[1]),
           median(timings[1]));
    llama_model_free(model);
    return 0;
}
