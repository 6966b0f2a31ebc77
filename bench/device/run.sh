#!/bin/bash
# The CUDA checks on a lent GPU machine (bench/device/pack.sh first, then a device call carrying
# [".dev", "dist", "build/native"] that runs `bash .dev/run.sh`). Builds the CUDA backend with
# scripts/build-backend.mjs (the user's path), then: engine; published-class plans of r1-dram
# all-GPU and experts-on-CPU with the file mapped, each benched (bench --plan: predicted beside measured); the hybrid
# prefill again without mmap (pinned host copies) and without op offload (the CPU computes its experts); calibrate with the time left; calibrated plans,
# benched while time is left.
# Every result lands in $OUT as it comes (8 files at most come back). Env: ARCH (default 90-real),
# END (seconds by which to be done, default 500), SIM=1 (no CUDA build: a dry run on a CPU machine).
set -u
export NODE_NO_WARNINGS=1
T0=$(date +%s)
END=${END:-500}
OUT=${OUT:-/tmp/gpuout}
mkdir -p "$OUT"
LOG=$OUT/log.txt
el() { echo $(($(date +%s) - T0)); }
t() { echo "[$(el)s] $*" | tee -a "$LOG"; }
R=$(pwd -P)
# build/native's engine.json and the addon's runpath name the checkout's path on the packing machine
if [ ! -e /work/main ]; then mkdir -p /work && ln -s "$R" /work/main; fi
mkdir -p /tmp/n && xz -dc .dev/node.xz >/tmp/n/node && chmod +x /tmp/n/node
export PATH=/tmp/n:/usr/local/cuda/bin:$PATH
[ -d node_modules/@oclif ] || tar xJf .dev/nm.tar.xz
export LD_LIBRARY_PATH=$R/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
mkdir -p build/llama-src/models
for f in .dev/models/*.gguf; do [ -e "build/llama-src/models/${f##*/}" ] || cp "$f" build/llama-src/models/; done
J=$(nproc)
P=$(lscpu -p=core,socket | grep -v '^#' | sort -u | wc -l)
t "root $R; node $(node --version); $J cpus, $P cores"
{
  lscpu; echo; free -g; df -h /tmp "$R"; echo
  nvidia-smi; nvidia-smi --query-gpu=name,pci.device_id,memory.total,clocks.max.sm,clocks.max.mem,pcie.link.gen.max,pcie.link.width.max --format=csv
  nvcc --version; gcc --version | head -1; cmake --version | head -1
} >"$OUT/machine.txt" 2>&1
if [ "${SIM:-0}" != 1 ]; then
  mkdir -p /tmp/gsrc && tar xJf .dev/ggml.tar.xz -C /tmp/gsrc
  node scripts/build-backend.mjs cuda --arch "${ARCH:-90-real}" --source /tmp/gsrc --jobs "$J" >"$OUT/build.log" 2>&1 &
  BP=$!
fi
node -e "
import('./dist/runner/synth.js').then(async (m) => {
  for (const p of ['tiny', 'r1-mini', 'r1-dram']) console.log(p, await m.cachedSynthModel({preset: p, quant: 'Q4_K_M'}))
})" >>"$LOG" 2>&1
t "synth rc=$?"
node bin/run.js probe --save .dev/hw0.json -f --json >.dev/probe.json 2>>"$LOG"
t "probe rc=$?"
if [ "${SIM:-0}" != 1 ]; then
  wait $BP
  t "build rc=$? $(ls -la build/backends/libggml-cuda.so 2>&1)"
fi
timeout 60 node bin/run.js engine --json >"$OUT/engine.json" 2>>"$LOG"
t "engine rc=$?"
DRAM=$(ls -S .moerig-cache/synth/r1-dram-*.gguf | head -1)
for pl in ${PLACEMENTS:-all-gpu exps-cpu}; do
  timeout 60 node bin/run.js plan "$DRAM" --hardware .dev/hw0.json --placement "$pl" --mmap on -o ".dev/p-$pl-hw0.json" -f --json >>"$OUT/plans.jsonl" 2>>"$LOG"
  t "plan $pl hw0 rc=$?"
  if [ "$pl" = all-gpu ]; then BA="-p 512 -n 128 -d 0,4096 -r 3"; else BA="-p 512 -n 128 -r 2"; fi
  timeout 200 node bin/run.js bench --plan ".dev/p-$pl-hw0.json" ${BENCH_ARGS:-$BA} --no-save --json >>"$OUT/bench.jsonl" 2>>"$LOG"
  t "bench $pl rc=$?"
done
if [ -f .dev/p-exps-cpu-hw0.json ]; then
  timeout 200 node bin/run.js bench --plan .dev/p-exps-cpu-hw0.json ${BENCH_ARGS:--p 512 -n 0 -r 2} --no-mmap --no-save --json >>"$OUT/bench.jsonl" 2>>"$LOG"
  t "bench exps-cpu --no-mmap rc=$?"
  # the CPU computing its experts (--no-op-offload) against the copies, at -ub 512: what plan --op-offload auto weighs
  timeout 200 node bin/run.js bench --plan .dev/p-exps-cpu-hw0.json ${BENCH_ARGS:--p 512 -n 0 -r 2} --no-op-offload --no-save --json >>"$OUT/bench.jsonl" 2>>"$LOG"
  t "bench exps-cpu --no-op-offload rc=$?"
fi
LEFT=$((END - $(el) - 100))
if [ "$LEFT" -ge 120 ]; then
  B=$((LEFT < ${CAL_MAX:-180} ? LEFT : ${CAL_MAX:-180}))
  timeout -s INT -k 20 $((B + 60)) node bin/run.js calibrate --hardware .dev/hw0.json --save .dev/hw.json -f -t "${CAL_T:-$P}" --budget "${B}s" --json >"$OUT/cal.json" 2>>"$LOG"
  t "calibrate ${B}s rc=$?"
  cp .dev/hw.json "$OUT/hw.json" 2>/dev/null
  for pl in ${PLACEMENTS:-all-gpu exps-cpu}; do
    timeout 60 node bin/run.js plan "$DRAM" --hardware .dev/hw.json --placement "$pl" -o ".dev/p-$pl-hw.json" -f --json >>"$OUT/plans.jsonl" 2>>"$LOG"
    t "plan $pl hw rc=$?"
  done
  # the calibrated plans executed (the hybrid one says --no-mmap where it fits: pinned copies)
  for pl in ${PLACEMENTS:-all-gpu exps-cpu}; do
    [ $(($(el) + 60)) -lt "$END" ] || break
    timeout 120 node bin/run.js bench --plan ".dev/p-$pl-hw.json" -p 512 -n 64 -r 2 --no-save --json >>"$OUT/bench.jsonl" 2>>"$LOG"
    t "bench $pl calibrated plan rc=$?"
  done
else
  t "calibrate skipped: $LEFT s left"
fi
t "end"
