/**
 * CPU microarchitecture from the CPUID vendor / family / model (/proc/cpuinfo "cpu family",
 * "model", "stepping"), as the Linux kernel names them:
 *   Intel: arch/x86/include/asm/intel-family.h (INTEL_SAPPHIRERAPIDS_X = family 6 model 0x8F, …);
 *          Skylake-SP / Cascade Lake-SP / Cooper Lake share model 0x55 and differ by stepping
 *          (arch/x86/kernel/cpu/intel.c, and Intel's "Cascade Lake" stepping 5-7 / "Cooper Lake" 10-11).
 *   AMD:   arch/x86/kernel/cpu/amd.c (init_amd_zen1/2/3/4/5 model ranges per family 0x17/0x19/0x1A).
 * maxChannelsPerSocket is the largest DDR channel count of the server parts of that generation
 * (vendor platform specs); it only caps a channel count derived from DIMM counts.
 */

export interface Microarchitecture {
  name: string
  /** Server codename when the model number is a server part (Genoa, Milan …). */
  codename?: string
  /** Most DDR channels one socket of this generation has (server parts only). */
  maxChannelsPerSocket?: number
}

interface Row {
  family: number
  models: Array<[number, number]>
  /** Inclusive stepping range; absent = any. */
  steppings?: [number, number]
  uarch: Microarchitecture
}

const r = (lo: number, hi = lo): [number, number] => [lo, hi]

const INTEL: Row[] = [
  {family: 6, models: [r(0x3f)], uarch: {name: 'Haswell-EP', maxChannelsPerSocket: 4}},
  {family: 6, models: [r(0x4f)], uarch: {name: 'Broadwell-EP', maxChannelsPerSocket: 4}},
  {family: 6, models: [r(0x55)], steppings: [0, 4], uarch: {name: 'Skylake-SP', maxChannelsPerSocket: 6}},
  {family: 6, models: [r(0x55)], steppings: [5, 7], uarch: {name: 'Cascade Lake-SP', maxChannelsPerSocket: 6}},
  {family: 6, models: [r(0x55)], steppings: [10, 11], uarch: {name: 'Cooper Lake', maxChannelsPerSocket: 6}},
  {family: 6, models: [r(0x6a), r(0x6c)], uarch: {name: 'Ice Lake-SP', maxChannelsPerSocket: 8}},
  {family: 6, models: [r(0x8f)], uarch: {name: 'Sapphire Rapids', maxChannelsPerSocket: 8}},
  {family: 6, models: [r(0xcf)], uarch: {name: 'Emerald Rapids', maxChannelsPerSocket: 8}},
  {family: 6, models: [r(0xad), r(0xae)], uarch: {name: 'Granite Rapids', maxChannelsPerSocket: 12}},
  {family: 6, models: [r(0xaf)], uarch: {name: 'Sierra Forest', maxChannelsPerSocket: 12}},
  {family: 6, models: [r(0xdd)], uarch: {name: 'Clearwater Forest', maxChannelsPerSocket: 12}},
  {family: 6, models: [r(0x3c), r(0x45), r(0x46)], uarch: {name: 'Haswell'}},
  {family: 6, models: [r(0x4e), r(0x5e)], uarch: {name: 'Skylake'}},
  {family: 6, models: [r(0x8e), r(0x9e)], uarch: {name: 'Kaby Lake / Coffee Lake'}},
  {family: 6, models: [r(0xa5), r(0xa6)], uarch: {name: 'Comet Lake'}},
  {family: 6, models: [r(0xa7)], uarch: {name: 'Rocket Lake'}},
  {family: 6, models: [r(0x7d), r(0x7e)], uarch: {name: 'Ice Lake'}},
  {family: 6, models: [r(0x8c), r(0x8d)], uarch: {name: 'Tiger Lake'}},
  {family: 6, models: [r(0x97), r(0x9a)], uarch: {name: 'Alder Lake'}},
  {family: 6, models: [r(0xb7), r(0xba), r(0xbf)], uarch: {name: 'Raptor Lake'}},
  {family: 6, models: [r(0xaa), r(0xac)], uarch: {name: 'Meteor Lake'}},
  {family: 6, models: [r(0xc5), r(0xc6)], uarch: {name: 'Arrow Lake'}},
  {family: 6, models: [r(0xbd)], uarch: {name: 'Lunar Lake'}},
]

const AMD: Row[] = [
  {family: 0x17, models: [r(0x00, 0x2f), r(0x50, 0x5f)], uarch: {name: 'Zen', maxChannelsPerSocket: 8}},
  {
    family: 0x17,
    models: [r(0x30, 0x4f), r(0x60, 0x7f), r(0x90, 0x91), r(0xa0, 0xaf)],
    uarch: {name: 'Zen 2', maxChannelsPerSocket: 8},
  },
  {family: 0x19, models: [r(0x00, 0x0f), r(0x20, 0x5f)], uarch: {name: 'Zen 3', maxChannelsPerSocket: 8}},
  {family: 0x19, models: [r(0x10, 0x1f), r(0x60, 0xaf)], uarch: {name: 'Zen 4', maxChannelsPerSocket: 12}},
  {
    family: 0x1a,
    models: [r(0x00, 0x2f), r(0x40, 0x4f), r(0x60, 0x7f)],
    uarch: {name: 'Zen 5', maxChannelsPerSocket: 12},
  },
]

/** EPYC codenames by (family, model range), from AMD's EPYC generations. */
const EPYC_CODENAMES: Array<{family: number; models: [number, number]; codename: string}> = [
  {family: 0x17, models: r(0x00, 0x0f), codename: 'Naples'},
  {family: 0x17, models: r(0x30, 0x3f), codename: 'Rome'},
  {family: 0x19, models: r(0x00, 0x0f), codename: 'Milan'},
  {family: 0x19, models: r(0x10, 0x1f), codename: 'Genoa'},
  {family: 0x19, models: r(0xa0, 0xaf), codename: 'Bergamo / Siena'},
  {family: 0x1a, models: r(0x00, 0x0f), codename: 'Turin'},
  {family: 0x1a, models: r(0x10, 0x1f), codename: 'Turin Dense'},
]

/**
 * Look up the microarchitecture; null when the vendor/family/model is not in the table (the
 * probe then reports microarchitecture: null rather than guessing).
 */
export function microarchitecture(
  vendor: string,
  family: number | null,
  model: number | null,
  stepping: number | null,
  modelName = '',
): Microarchitecture | null {
  if (family === null || model === null) return null
  const v = vendor.toLowerCase()
  const rows = v.includes('intel') ? INTEL : v.includes('amd') ? AMD : []
  for (const row of rows) {
    if (row.family !== family) continue
    if (!row.models.some(([lo, hi]) => model >= lo && model <= hi)) continue
    if (row.steppings) {
      if (stepping === null) continue
      if (stepping < row.steppings[0] || stepping > row.steppings[1]) continue
    }
    const out: Microarchitecture = {...row.uarch}
    // Channel caps are for server sockets; client parts (Ryzen, Core) have 2 channels.
    const server = /xeon|epyc|threadripper/i.test(modelName)
    if (!server && modelName !== '') out.maxChannelsPerSocket = /ryzen|core/i.test(modelName) ? 2 : undefined
    if (out.maxChannelsPerSocket === undefined) delete out.maxChannelsPerSocket
    if (v.includes('amd') && /epyc/i.test(modelName)) {
      const c = EPYC_CODENAMES.find((e) => e.family === family && model >= e.models[0] && model <= e.models[1])
      if (c) out.codename = c.codename
    }
    return out
  }
  return null
}

/**
 * The oldest generation the ISA flags allow. Under a hypervisor the CPUID family/model can be
 * another part's (a KVM guest on a Sapphire Rapids host reported family 6 model 167, Rocket Lake,
 * with amx_tile and avx512_fp16, which Rocket Lake never had), while the flags are what the guest
 * really executes. Rows in order, newest first; `has` = the table's names that carry the flags.
 * Sources: Intel's ISA extensions reference (AMX: Sapphire Rapids; AMX-FP16: Granite Rapids;
 * AVX512-FP16: Sapphire Rapids; AVX512-BF16: Cooper Lake), AMD's Zen 4/Zen 5 (AVX-512 from Zen 4,
 * VP2INTERSECT from Zen 5).
 */
const FLAG_FLOORS: Array<{vendor: 'intel' | 'amd'; anyOf: string[]; name: string; has: string[]}> = [
  {vendor: 'intel', anyOf: ['amx_fp16'], name: 'Granite Rapids or later', has: ['Granite Rapids']},
  {
    vendor: 'intel',
    anyOf: ['amx_tile', 'amx_int8', 'amx_bf16'],
    name: 'Sapphire Rapids or later',
    has: ['Sapphire Rapids', 'Emerald Rapids', 'Granite Rapids'],
  },
  {
    vendor: 'intel',
    anyOf: ['avx512_fp16'],
    name: 'Sapphire Rapids or later',
    has: ['Sapphire Rapids', 'Emerald Rapids', 'Granite Rapids', 'Alder Lake'],
  },
  {
    vendor: 'intel',
    anyOf: ['avx512_bf16'],
    name: 'Cooper Lake or later',
    has: ['Cooper Lake', 'Sapphire Rapids', 'Emerald Rapids', 'Granite Rapids'],
  },
  {vendor: 'amd', anyOf: ['avx512_vp2intersect'], name: 'Zen 5', has: ['Zen 5']},
  {vendor: 'amd', anyOf: ['avx512f'], name: 'Zen 4 or later', has: ['Zen 4', 'Zen 5']},
]

export interface UarchVerdict {
  uarch: Microarchitecture | null
  /** set when the ISA flags overruled (or stood in for) the family/model table */
  note?: string
}

/**
 * Microarchitecture from family/model, cross-checked against the ISA flags: when the flags need a
 * newer generation than the table's answer, the flags win and `note` says so.
 */
export function microarchitectureChecked(
  vendor: string,
  family: number | null,
  model: number | null,
  stepping: number | null,
  modelName: string,
  flags: Set<string>,
): UarchVerdict {
  const table = microarchitecture(vendor, family, model, stepping, modelName)
  const v = vendor.toLowerCase().includes('intel') ? 'intel' : vendor.toLowerCase().includes('amd') ? 'amd' : null
  const floor = FLAG_FLOORS.find((f) => f.vendor === v && f.anyOf.some((x) => flags.has(x)))
  if (!floor || (table && floor.has.includes(table.name))) return {uarch: table}
  const seen = floor.anyOf.filter((x) => flags.has(x)).join(', ')
  const where = `family ${family ?? '?'} model ${model ?? '?'}`
  return {
    uarch: {name: floor.name},
    note: table
      ? `CPU microarchitecture: ${where} reads as ${table.name}, but the ISA flags (${seen}) need ${floor.name}: reported from the flags (a hypervisor may show another model number)`
      : `CPU microarchitecture: ${where} is not in moerig's table; the ISA flags (${seen}) say ${floor.name}`,
  }
}
