// Linked into build/rpc/rpc-server beside llama.cpp's own tools/rpc/rpc-server.cpp
// (scripts/build-rpc.mjs); changes nothing in the protocol.
//
// 1. stdout is line-buffered: the server prints its banner ("Starting RPC server", the devices)
//    with printf and flushes only when a client connects, so a pipe (moerig rpc-server) would
//    otherwise see nothing until then.
// 2. MOERIG_RPC_MEM_BYTES=N caps the free and total memory every device reports (what clients
//    use to split layers by default: llama.cpp's old rpc-server -m). The executable is linked
//    with -rdynamic, so its ggml_backend_dev_memory comes first in the dynamic linker's lookup,
//    for libggml-rpc.so's calls as well; the real one is found with dlsym(RTLD_NEXT).
// 3. MOERIG_RPC_PARENT_PID=N (set by moerig rpc-server): the server ends when that process does
//    (PR_SET_PDEATHSIG), so a wrapper killed with SIGKILL leaves no server behind on the port.
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdint>

struct ggml_backend_device;

namespace {

struct LineBufferedStdout {
    LineBufferedStdout() { setvbuf(stdout, nullptr, _IOLBF, 0); }
} line_buffered_stdout;

struct EndWithParent {
    EndWithParent() {
        const char * s = getenv("MOERIG_RPC_PARENT_PID");
        if (!s || !*s) return;
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        // the parent may have gone between fork and here
        if ((long) getppid() != strtol(s, nullptr, 10)) _exit(1);
    }
} end_with_parent;

uint64_t mem_cap() {
    const char * s = getenv("MOERIG_RPC_MEM_BYTES");
    if (!s || !*s) return 0;
    char *             end = nullptr;
    unsigned long long v   = strtoull(s, &end, 10);
    return end && *end == '\0' ? (uint64_t) v : 0;
}

} // namespace

extern "C" void ggml_backend_dev_memory(ggml_backend_device * dev, size_t * free, size_t * total) {
    using fn_t           = void (*)(ggml_backend_device *, size_t *, size_t *);
    static fn_t     real = (fn_t) dlsym(RTLD_NEXT, "ggml_backend_dev_memory");
    static uint64_t cap  = mem_cap();
    *free = *total = 0;
    if (real) real(dev, free, total);
    if (cap > 0) {
        if (*total > cap) *total = cap;
        if (*free > cap) *free = cap;
    }
}
