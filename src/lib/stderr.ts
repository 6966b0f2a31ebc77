import {closeSync, openSync} from 'node:fs'

/**
 * For a signal handler that is about to exit while native threads still run (synth's quantizer,
 * the STREAM kernels): after the handler's own one-line message, point file descriptor 2 at
 * /dev/null, so that llama.cpp/ggml lines the dying threads print (e.g. "gguf_init_from_file:
 * failed to open …" once the temp file they work on is removed) never follow that message.
 * Node has no dup2: closing fd 2 and opening /dev/null at once gives /dev/null the lowest free
 * descriptor, 2. Call it after the last write to stderr and before removing files native code uses.
 */
export function muteStderrForExit(): void {
  try {
    closeSync(2)
    openSync('/dev/null', 'w')
  } catch {
    // nothing to mute with; the exit goes on
  }
}
