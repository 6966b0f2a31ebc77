/**
 * Vendor tools on PATH and their versions: what a user has installed for Intel (xpu-smi, sycl-ls),
 * NVIDIA (nvidia-smi), AMD (rocm-smi) and Vulkan (vulkaninfo). Each runs with a short timeout;
 * a tool that hangs or fails is reported with version null, never an error.
 */
import {execFile} from 'node:child_process'
import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import type {HardwareProfile} from '../schemas/hardware.js'

/** A vendor tool on PATH: the schema's tools entry. */
export type ToolInfo = NonNullable<HardwareProfile['tools']>[number]

/** Tool → arguments that print its version. */
export const VENDOR_TOOLS: Record<string, string[]> = {
  'nvidia-smi': ['--version'],
  'xpu-smi': ['--version'],
  'sycl-ls': ['--version'],
  vulkaninfo: ['--summary'],
  'rocm-smi': ['--version'],
  clinfo: ['--version'],
}

/** First executable named `name` on PATH, or null. */
export function which(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === '') continue
    const p = join(dir, name)
    try {
      if (!statSync(p).isFile()) continue
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // not here
    }
  }
  return null
}

/** Run a command with LC_ALL=C and a timeout; resolves stdout+stderr, or null on failure. */
export function runQuiet(cmd: string, args: string[], timeoutMs = 3000): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {timeout: timeoutMs, env: {...process.env, LC_ALL: 'C'}, maxBuffer: 4 << 20},
      (err, stdout, stderr) => {
        const out = `${stdout ?? ''}${stderr ?? ''}`
        if (err && out.trim() === '') resolve(null)
        else resolve(out)
      },
    )
  })
}

/**
 * The version in a tool's output: a "version" line first ("DRIVER version : 550.54.14",
 * "Vulkan Instance Version: 1.3.275", "CLI:\n    Version: 1.2.39"), else the first dotted number.
 */
export function parseToolVersion(name: string, out: string): string | null {
  const lines = out.split('\n')
  if (name === 'nvidia-smi') {
    const d = lines.find((l) => /DRIVER version/i.test(l)) ?? lines.find((l) => /NVIDIA-SMI version/i.test(l))
    const m = d ? /([0-9]+(?:\.[0-9]+)+)/.exec(d) : null
    if (m) return m[1]
  }
  for (const l of lines) {
    if (/version/i.test(l)) {
      const m = /([0-9]+(?:\.[0-9]+)+)/.exec(l)
      if (m) return m[1]
    }
  }
  const m = /([0-9]+(?:\.[0-9]+)+)/.exec(out)
  return m ? m[1] : null
}

export async function findTools(pathEnv = process.env.PATH ?? ''): Promise<ToolInfo[]> {
  const found = Object.keys(VENDOR_TOOLS)
    .map((name) => ({name, path: which(name, pathEnv)}))
    .filter((t): t is {name: string; path: string} => t.path !== null)
  return Promise.all(
    found.map(async (t) => {
      const out = await runQuiet(t.path, VENDOR_TOOLS[t.name])
      return {name: t.name, path: t.path, version: out !== null ? parseToolVersion(t.name, out) : null}
    }),
  )
}
