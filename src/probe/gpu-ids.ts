/**
 * GPU identification tables.
 *
 * Intel Arc family membership comes from the Linux kernel's PCI id lists
 * (include/drm/intel/pciids.h, formerly i915_pciids.h / xe_pciids.h: INTEL_DG2_G10/G11/G12_IDS,
 * INTEL_ATS_M_IDS, INTEL_BMG_IDS); product names per id from the PCI ID Repository (pci.ids,
 * e.g. "8086 56a0 DG2 [Arc A770]", "8086 e20b Battlemage G21 [Arc B580]").
 * NVIDIA/AMD names for the cards this project plans for come from pci.ids as well; anything else
 * is named by vendor and id (nvidia-smi supplies NVIDIA names when present).
 *
 * The spec table holds memory size and bandwidth from the vendors' product pages; the probe uses
 * it for `memoryBandwidthGBs` (provenance "spec") and for VRAM only where the PCI id fixes it.
 */
import {GiB, MiB} from '../lib/units.js'

export const VENDOR_IDS: Record<string, 'intel' | 'nvidia' | 'amd'> = {
  '0x8086': 'intel',
  '0x10de': 'nvidia',
  '0x1002': 'amd',
}

/** Display-class devices that are not compute GPUs: BMC and virtual VGA. Skipped with a note. */
export const NON_GPU_VENDORS: Record<string, string> = {
  '0x1a03': 'ASPEED BMC VGA',
  '0x102b': 'Matrox server VGA',
  '0x1234': 'QEMU standard VGA',
  '0x1af4': 'virtio GPU',
  '0x15ad': 'VMware SVGA',
  '0x1b36': 'QXL virtual GPU',
  '0x1013': 'Cirrus virtual VGA',
}

const h = (ids: number[]) => ids.map((i) => `0x${i.toString(16).padStart(4, '0')}`)

/** Kernel pciids.h groups (Alchemist = DG2, Battlemage = BMG, Flex = ATS-M). */
export const INTEL_ARC_FAMILIES: Array<{family: string; ids: string[]}> = [
  {family: 'Alchemist (DG2-G10)', ids: h([0x5690, 0x5691, 0x5692, 0x56a0, 0x56a1, 0x56a2, 0x56be, 0x56bf])},
  {
    family: 'Alchemist (DG2-G11)',
    ids: h([0x5693, 0x5694, 0x5695, 0x56a5, 0x56a6, 0x56b0, 0x56b1, 0x56ba, 0x56bb, 0x56bc, 0x56bd]),
  },
  {family: 'Alchemist (DG2-G12)', ids: h([0x5696, 0x5697, 0x56a3, 0x56a4, 0x56b2, 0x56b3])},
  {family: 'Flex (ATS-M)', ids: h([0x56c0, 0x56c1])},
  {
    family: 'Battlemage (BMG)',
    ids: h([0xe202, 0xe209, 0xe20b, 0xe20c, 0xe20d, 0xe210, 0xe211, 0xe212, 0xe215, 0xe216, 0xe220, 0xe221, 0xe222]),
  },
]

/** vendor:device → product name (pci.ids). */
export const GPU_NAMES: Record<string, string> = {
  '0x8086:0x56a0': 'Intel Arc A770',
  '0x8086:0x56a1': 'Intel Arc A750',
  '0x8086:0x56a2': 'Intel Arc A580',
  '0x8086:0x56a5': 'Intel Arc A380',
  '0x8086:0x56a6': 'Intel Arc A310',
  '0x8086:0x5690': 'Intel Arc A770M',
  '0x8086:0x5691': 'Intel Arc A730M',
  '0x8086:0x5692': 'Intel Arc A550M',
  '0x8086:0x5693': 'Intel Arc A370M',
  '0x8086:0x5694': 'Intel Arc A350M',
  '0x8086:0x5696': 'Intel Arc A570M',
  '0x8086:0x5697': 'Intel Arc A530M',
  '0x8086:0x56b0': 'Intel Arc Pro A30M',
  '0x8086:0x56b1': 'Intel Arc Pro A40/A50',
  '0x8086:0x56b2': 'Intel Arc Pro A60M',
  '0x8086:0x56b3': 'Intel Arc Pro A60',
  '0x8086:0x56c0': 'Intel Data Center GPU Flex 170',
  '0x8086:0x56c1': 'Intel Data Center GPU Flex 140',
  '0x8086:0xe20b': 'Intel Arc B580',
  '0x8086:0xe20c': 'Intel Arc B570',
  '0x8086:0xe211': 'Intel Arc Pro B60',
  '0x8086:0xe212': 'Intel Arc Pro B50',
  '0x10de:0x2204': 'NVIDIA GeForce RTX 3090',
  '0x10de:0x2203': 'NVIDIA GeForce RTX 3090 Ti',
  '0x10de:0x2206': 'NVIDIA GeForce RTX 3080',
  '0x10de:0x2684': 'NVIDIA GeForce RTX 4090',
  '0x10de:0x2685': 'NVIDIA GeForce RTX 4090 D',
  '0x10de:0x2704': 'NVIDIA GeForce RTX 4080',
  '0x10de:0x2702': 'NVIDIA GeForce RTX 4080 SUPER',
  '0x10de:0x2b85': 'NVIDIA GeForce RTX 5090',
  '0x10de:0x2230': 'NVIDIA RTX A6000',
  '0x10de:0x2330': 'NVIDIA H100 80GB HBM3',
  '0x10de:0x2331': 'NVIDIA H100 PCIe',
  '0x10de:0x2335': 'NVIDIA H200',
  '0x1002:0x744c': 'AMD Radeon RX 7900 XT/XTX',
  '0x1002:0x164e': 'AMD Radeon Graphics (Raphael iGPU)',
  '0x1002:0x15bf': 'AMD Radeon 780M (Phoenix iGPU)',
  '0x1002:0x1681': 'AMD Radeon 680M (Rembrandt iGPU)',
  '0x1002:0x7448': 'AMD Radeon Pro W7900',
}

export interface GpuSpec {
  /** Matches the name as printed by the probe (after VRAM disambiguation). */
  name: string
  vramBytes: number
  memoryBandwidthGBs: number
  /** PCIe generation and lanes of the card's edge connector. */
  pcieGen: number
  pcieWidth: number
  source: string
}

/** Vendor specifications (GB/s = 1e9 bytes/s; VRAM in the binary GB the vendors mean). */
export const GPU_SPECS: GpuSpec[] = [
  {
    name: 'Intel Arc A770 16GB',
    vramBytes: 16 * GiB,
    memoryBandwidthGBs: 560,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'Intel ARK, Intel Arc A770 Graphics (16GB): 16 GB GDDR6, 256-bit, 560 GB/s, PCIe 4.0 x16',
  },
  {
    name: 'Intel Arc A770 8GB',
    vramBytes: 8 * GiB,
    memoryBandwidthGBs: 512,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'Intel ARK, Intel Arc A770 Graphics (8GB): 8 GB GDDR6, 256-bit, 512 GB/s, PCIe 4.0 x16',
  },
  {
    name: 'Intel Arc A750',
    vramBytes: 8 * GiB,
    memoryBandwidthGBs: 512,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'Intel ARK, Intel Arc A750 Graphics: 8 GB GDDR6, 256-bit, 512 GB/s, PCIe 4.0 x16',
  },
  {
    name: 'Intel Arc A580',
    vramBytes: 8 * GiB,
    memoryBandwidthGBs: 512,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'Intel ARK, Intel Arc A580 Graphics: 8 GB GDDR6, 256-bit, 512 GB/s, PCIe 4.0 x16',
  },
  {
    name: 'Intel Arc B580',
    vramBytes: 12 * GiB,
    memoryBandwidthGBs: 456,
    pcieGen: 4,
    pcieWidth: 8,
    source: 'Intel ARK, Intel Arc B580 Graphics: 12 GB GDDR6, 192-bit, 456 GB/s, PCIe 4.0 x8',
  },
  {
    name: 'Intel Arc B570',
    vramBytes: 10 * GiB,
    memoryBandwidthGBs: 380,
    pcieGen: 4,
    pcieWidth: 8,
    source: 'Intel ARK, Intel Arc B570 Graphics: 10 GB GDDR6, 160-bit, 380 GB/s, PCIe 4.0 x8',
  },
  {
    name: 'NVIDIA GeForce RTX 3090',
    vramBytes: 24 * GiB,
    memoryBandwidthGBs: 936,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 3090 specifications: 24 GB GDDR6X, 384-bit, 936 GB/s, PCIe 4.0',
  },
  {
    name: 'NVIDIA GeForce RTX 3090 Ti',
    vramBytes: 24 * GiB,
    memoryBandwidthGBs: 1008,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 3090 Ti specifications: 24 GB GDDR6X, 384-bit, 1008 GB/s',
  },
  {
    name: 'NVIDIA GeForce RTX 4090',
    vramBytes: 24 * GiB,
    memoryBandwidthGBs: 1008,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 4090 specifications: 24 GB GDDR6X, 384-bit, 21 Gbps (1008 GB/s), PCIe 4.0',
  },
  {
    name: 'NVIDIA GeForce RTX 4090 D',
    vramBytes: 24 * GiB,
    memoryBandwidthGBs: 1008,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 4090 D specifications (nvidia.cn): 24 GB GDDR6X, 384-bit, 21 Gbps (1008 GB/s)',
  },
  {
    name: 'NVIDIA GeForce RTX 4080',
    vramBytes: 16 * GiB,
    memoryBandwidthGBs: 716.8,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 4080 specifications: 16 GB GDDR6X, 256-bit, 22.4 Gbps',
  },
  {
    name: 'NVIDIA GeForce RTX 5090',
    vramBytes: 32 * GiB,
    memoryBandwidthGBs: 1792,
    pcieGen: 5,
    pcieWidth: 16,
    source: 'NVIDIA GeForce RTX 5090 specifications: 32 GB GDDR7, 512-bit, 1792 GB/s, PCIe 5.0',
  },
  {
    name: 'NVIDIA H100 80GB HBM3',
    vramBytes: 81559 * MiB,
    memoryBandwidthGBs: 3350,
    pcieGen: 5,
    pcieWidth: 16,
    source:
      'NVIDIA H100 datasheet (SXM): 80 GB HBM3, 3.35 TB/s, PCIe 5.0 x16 host link; VRAM as nvidia-smi reports it (81559 MiB)',
  },
  {
    name: 'NVIDIA H100 PCIe',
    vramBytes: 81559 * MiB,
    memoryBandwidthGBs: 2000,
    pcieGen: 5,
    pcieWidth: 16,
    source: 'NVIDIA H100 datasheet (PCIe): 80 GB HBM2e, 2.0 TB/s, PCIe 5.0 x16',
  },
  {
    name: 'NVIDIA H200',
    vramBytes: 143771 * MiB,
    memoryBandwidthGBs: 4800,
    pcieGen: 5,
    pcieWidth: 16,
    source:
      'NVIDIA H200 datasheet (SXM): 141 GB HBM3e, 4.8 TB/s, PCIe 5.0 x16 host link; VRAM as nvidia-smi reports it (143771 MiB)',
  },
  {
    name: 'AMD Radeon RX 7900 XTX',
    vramBytes: 24 * GiB,
    memoryBandwidthGBs: 960,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'AMD Radeon RX 7900 XTX specifications: 24 GB GDDR6, 384-bit, 20 Gbps (960 GB/s), PCIe 4.0 x16',
  },
  {
    name: 'AMD Radeon RX 7900 XT',
    vramBytes: 20 * GiB,
    memoryBandwidthGBs: 800,
    pcieGen: 4,
    pcieWidth: 16,
    source: 'AMD Radeon RX 7900 XT specifications: 20 GB GDDR6, 320-bit, 20 Gbps (800 GB/s), PCIe 4.0 x16',
  },
]

/** CPU-integrated GPUs among the ids above (their "VRAM" is a carve-out of system RAM). */
export const INTEGRATED_GPU_IDS = new Set(['0x1002:0x164e', '0x1002:0x15bf', '0x1002:0x1681'])

/** The Arc family of an Intel device id (kernel pciids.h), or null. */
export function intelArcFamily(deviceId: string): string | null {
  return INTEL_ARC_FAMILIES.find((f) => f.ids.includes(deviceId))?.family ?? null
}

/**
 * Product name for a PCI id. Shared ids are resolved by VRAM when it is known (A770 8 GB vs 16 GB
 * share 0x56a0; RX 7900 XT and XTX share 0x744c).
 */
export function gpuName(vendorId: string, deviceId: string, vramBytes: number | null): string {
  const key = `${vendorId}:${deviceId}`
  const base = GPU_NAMES[key]
  if (key === '0x8086:0x56a0' && vramBytes !== null)
    return vramBytes > 12 * GiB ? 'Intel Arc A770 16GB' : 'Intel Arc A770 8GB'
  if (key === '0x1002:0x744c' && vramBytes !== null)
    return vramBytes > 22 * GiB ? 'AMD Radeon RX 7900 XTX' : 'AMD Radeon RX 7900 XT'
  if (base) return base
  const vendor = VENDOR_IDS[vendorId]
  if (vendor === 'intel') {
    const fam = intelArcFamily(deviceId)
    return fam ? `Intel Arc ${fam} ${deviceId}` : `Intel GPU ${deviceId}`
  }
  if (vendor === 'nvidia') return `NVIDIA GPU ${deviceId}`
  if (vendor === 'amd') return `AMD GPU ${deviceId}`
  return `GPU ${vendorId}:${deviceId}`
}

/** Spec row for a probed name (exact name match; nvidia-smi names map onto the same rows). */
export function gpuSpec(name: string): GpuSpec | null {
  const n = name.replace(/\s+/g, ' ').trim().toLowerCase()
  return GPU_SPECS.find((s) => s.name.toLowerCase() === n) ?? null
}
