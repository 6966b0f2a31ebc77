/**
 * `moerig probe`: assemble a hardware profile from a system tree (live "/" or a fixture folder)
 * plus the outputs of a few tools. Gathering (running lscpu, dmidecode via systeminformation,
 * nvidia-smi, vendor tools) is separate from assembling, so tests feed recorded outputs.
 */
import {existsSync, readFileSync} from 'node:fs'
import {hostname as osHostname} from 'node:os'
import {join} from 'node:path'
import {MoerigError} from '../lib/errors.js'
import {hardwareProfileSchema, type HardwareProfile} from '../schemas/hardware.js'
import {assertValid} from '../schemas/validate.js'
import {buildCpu, type CpuTopology} from './cpu.js'
import {diskFree} from './disk.js'
import {NVIDIA_SMI_ARGS, parseNvidiaSmiCsv, scanGpus} from './gpu.js'
import {buildMemory, type SiMemLayout} from './memory.js'
import {readNuma} from './numa.js'
import {SysTree} from './sysfs.js'
import {findTools, runQuiet, which, type ToolInfo} from './tools.js'

/** Everything the assembler needs; each tool output is null when the tool was absent or failed. */
export interface ProbeInputs {
  /** Root of the system tree: "/" live, or a fixture's root/ folder. */
  root: string
  lscpuText: string | null
  memLayout: SiMemLayout[] | null
  nvidiaSmiCsv: string | null
  tools: ToolInfo[]
  /** null: skip the disk check. */
  modelsDir: string | null
  hostname: string
  now: Date
}

/** A probed profile plus what the bandwidth benchmark needs (topology is not part of the JSON). */
export interface ProbeResult {
  profile: HardwareProfile
  topology: CpuTopology
}

export function assembleProfile(inp: ProbeInputs): ProbeResult {
  const sys = new SysTree(inp.root)
  const notes: string[] = []
  const cpuinfo = sys.read('/proc/cpuinfo')
  if (cpuinfo === null && inp.lscpuText === null) notes.push('CPU: neither /proc/cpuinfo nor lscpu output available')
  const {cpu, topology, maxChannelsPerSocket} = buildCpu(sys, cpuinfo, inp.lscpuText, notes)
  const numa = readNuma(sys, topology.cpus, cpu.sockets, notes)
  const memory = buildMemory(sys, inp.memLayout, cpu.sockets, maxChannelsPerSocket, notes)
  const smi = inp.nvidiaSmiCsv !== null ? parseNvidiaSmiCsv(inp.nvidiaSmiCsv) : null
  const gpus = scanGpus(sys, smi, numa.nodes.length, notes)
  const disk = inp.modelsDir !== null ? diskFree(inp.modelsDir, notes) : null

  const flagsLine = (cpuinfo ?? inp.lscpuText ?? '').match(/\bhypervisor\b/) !== null
  const virtualized = cpuinfo !== null || inp.lscpuText !== null ? flagsLine : null
  if (virtualized)
    notes.unshift(
      'virtual machine (CPU flag "hypervisor"): NUMA, DIMM and GPU facts are what the hypervisor chooses to show',
    )
  if (numa.nodes.length === 1) notes.push('one NUMA node')
  const nodeMem = numa.nodes.reduce((sum, n) => sum + (n.memTotalBytes ?? 0), 0)
  if (nodeMem > 0 && Math.abs(nodeMem - memory.totalBytes) > 0.1 * memory.totalBytes) {
    notes.push(
      `NUMA node memory adds up to ${(nodeMem / 2 ** 30).toFixed(1)} GiB but /proc/meminfo MemTotal is ${(memory.totalBytes / 2 ** 30).toFixed(1)} GiB (memory hot-plugged or ballooned, as on VMs): per-node sizes are not the machine's RAM`,
    )
  }
  if (numa.subNumaClustering)
    notes.push(
      `sub-NUMA clustering: ${numa.nodes.filter((n) => n.cpus.length > 0).length} NUMA nodes with CPUs on ${cpu.sockets} socket(s) (SNC / NPS)`,
    )
  if (gpus.length === 0) notes.push('no GPU: no PCI display (0x03) or accelerator (0x12) device')
  // sysfs entries that exist but could not be read go last, one line each.
  notes.push(...sys.notes)

  const profile = {
    schemaVersion: 1 as const,
    kind: 'hardware' as const,
    name: `probe of ${inp.hostname}`,
    origin: 'probe' as const,
    probedAt: inp.now.toISOString(),
    hostname: inp.hostname,
    virtualized,
    notes,
    cpu,
    numa,
    memory,
    gpus,
    tools: inp.tools,
    disk,
  }
  return {profile: assertValid<HardwareProfile>(hardwareProfileSchema, profile, 'probe result'), topology}
}

// ------------------------------------------------------------------ live gathering

/** systeminformation's memLayout (dmidecode underneath), or null when it fails. */
async function memLayoutLive(): Promise<SiMemLayout[] | null> {
  try {
    const si = await import('systeminformation')
    return (await si.memLayout()) as SiMemLayout[]
  } catch {
    return null
  }
}

export async function gatherLive(opts: {modelsDir: string | null}): Promise<ProbeInputs> {
  const lscpuPath = which('lscpu')
  const smiPath = which('nvidia-smi')
  const [lscpuText, memLayout, nvidiaSmiCsv, tools] = await Promise.all([
    lscpuPath ? runQuiet(lscpuPath, []) : Promise.resolve(null),
    memLayoutLive(),
    smiPath ? runQuiet(smiPath, NVIDIA_SMI_ARGS, 10_000) : Promise.resolve(null),
    findTools(),
  ])
  return {
    root: '/',
    lscpuText,
    memLayout,
    nvidiaSmiCsv,
    tools,
    modelsDir: opts.modelsDir,
    hostname: osHostname(),
    now: new Date(),
  }
}

/**
 * Inputs recorded in a fixture folder: root/ (the /proc and /sys tree), and optionally
 * lscpu.txt, memlayout.json (systeminformation memLayout()), nvidia-smi.csv, tools.json.
 */
export function fixtureInputs(dir: string, opts: {modelsDir?: string | null} = {}): ProbeInputs {
  const root = join(dir, 'root')
  if (!existsSync(root)) throw new MoerigError('E_FIXTURE', `system tree ${dir}: no root/ folder inside`)
  const text = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : null)
  const json = <T>(f: string): T | null => {
    const t = text(f)
    if (t === null) return null
    try {
      return JSON.parse(t) as T
    } catch (e) {
      throw new MoerigError('E_FIXTURE', `system tree ${dir}: ${f} is not valid JSON (${(e as Error).message})`)
    }
  }
  return {
    root,
    lscpuText: text('lscpu.txt'),
    memLayout: json<SiMemLayout[]>('memlayout.json'),
    nvidiaSmiCsv: text('nvidia-smi.csv'),
    tools: json<ToolInfo[]>('tools.json') ?? [],
    modelsDir: opts.modelsDir ?? null,
    hostname: text('hostname')?.trim() ?? 'fixture',
    now: new Date('2026-01-01T00:00:00Z'),
  }
}

/** Probe this machine (or a recorded tree with `sysroot`). */
export async function probeMachine(opts: {modelsDir: string | null; sysroot?: string | null}): Promise<ProbeResult> {
  const inputs = opts.sysroot
    ? fixtureInputs(opts.sysroot, {modelsDir: opts.modelsDir})
    : await gatherLive({modelsDir: opts.modelsDir})
  return assembleProfile(inputs)
}
