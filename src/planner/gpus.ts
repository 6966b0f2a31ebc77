/**
 * GPU facts the speed model needs and a hardware profile may lack: peak dense FP16 tensor throughput
 * (prefill) and memory bandwidth (decode), looked up by PCI id first, then by a normalised product
 * name. A GPU found by neither gets an explicit "unknown GPU, assumed …" note and the fallback
 * below; nothing is matched silently by a prefix (an "RTX 4090 D" is not an "RTX 4090").
 *
 * TFLOPS are dense FP16 tensor ops with FP32 accumulate (what llama.cpp's and ktransformers' fp16/bf16
 * and dequantised int paths run at), from the vendors' whitepapers and datasheets; where only a
 * sparse or FP4 "AI TOPS" figure is published, the derivation is given.
 */

/** Unknown GPU: FP16 throughput assumed as bandwidth × this many FLOP per byte (a roofline ridge). */
export const GPU_FLOP_PER_BYTE = 40

export interface GpuSpec {
  /** canonical name (the first of names) */
  name: string
  /** normalised names that match (see normGpuName) */
  names: string[]
  /** PCI vendor:device ids, lower-case hex ("10de:2684") */
  pci: string[]
  tflops: number
  bandwidthGBs: number
  source: string
}

export const GPU_SPECS: GpuSpec[] = [
  {
    name: 'Intel Arc A770 16GB',
    names: ['arc a770 16gb', 'arc a770'],
    pci: ['8086:56a0'],
    tflops: 39.3,
    bandwidthGBs: 560,
    source:
      'Intel Arc A770: 32 Xe-cores × 512 FP16 ops/clk × 2.4 GHz [derived from Intel ARK core counts]; 560 GB/s (ARK)',
  },
  {
    name: 'Intel Arc A770 8GB',
    names: ['arc a770 8gb'],
    pci: [],
    tflops: 39.3,
    bandwidthGBs: 512,
    source: 'as A770 16GB; 512 GB/s (ARK)',
  },
  {
    name: 'Intel Arc B580',
    names: ['arc b580'],
    pci: ['8086:e20b'],
    tflops: 27.3,
    bandwidthGBs: 456,
    source:
      'Intel Arc B580: 20 Xe2-cores × 512 FP16 ops/clk × 2.67 GHz [derived from Intel ARK core counts]; 456 GB/s (ARK)',
  },
  {
    name: 'NVIDIA GeForce RTX 3090',
    names: ['rtx 3090'],
    pci: ['10de:2204'],
    tflops: 71,
    bandwidthGBs: 936,
    source: 'NVIDIA Ampere GA102 whitepaper: RTX 3090 peak FP16 tensor (FP32 accumulate) 71 TFLOPS, 936 GB/s',
  },
  {
    name: 'NVIDIA GeForce RTX 4080',
    names: ['rtx 4080'],
    pci: ['10de:2704'],
    tflops: 97.5,
    bandwidthGBs: 716.8,
    source:
      'NVIDIA Ada Lovelace whitepaper (v1.1), RTX 4080: peak FP16 tensor (FP32 accumulate) 97.5 TFLOPS, 716.8 GB/s',
  },
  {
    name: 'NVIDIA GeForce RTX 4090',
    names: ['rtx 4090'],
    pci: ['10de:2684'],
    tflops: 165.2,
    bandwidthGBs: 1008,
    source: 'NVIDIA Ada whitepaper: RTX 4090 peak FP16 tensor (FP32 accumulate) 165.2 TFLOPS, 1008 GB/s',
  },
  {
    name: 'NVIDIA GeForce RTX 4090 D',
    names: ['rtx 4090 d', 'rtx 4090d'],
    pci: ['10de:2685'],
    tflops: 147.2,
    bandwidthGBs: 1008,
    source:
      'nvidia.com/zh-cn RTX 4090 D specifications: 1177 AI TOPS vs 1321 for the 4090 (114 vs 128 SMs) → 165.2 × 1177/1321 = 147.2 TFLOPS [derived]; 1008 GB/s (same 384-bit GDDR6X 21 Gbps)',
  },
  {
    name: 'NVIDIA GeForce RTX 5090',
    names: ['rtx 5090'],
    pci: ['10de:2b85'],
    tflops: 209.5,
    bandwidthGBs: 1792,
    source: 'NVIDIA Blackwell whitepaper: RTX 5090 peak FP16 tensor (FP32 accumulate) 209.5 TFLOPS, 1792 GB/s',
  },
  {
    name: 'NVIDIA L40',
    names: ['l40'],
    pci: ['10de:26b5'],
    tflops: 181,
    bandwidthGBs: 864,
    source: 'NVIDIA L40 datasheet: FP16 tensor 181 TFLOPS dense (362 with sparsity), 864 GB/s',
  },
  {
    name: 'NVIDIA RTX A6000',
    names: ['rtx a6000'],
    pci: ['10de:2230'],
    tflops: 154.8,
    bandwidthGBs: 768,
    source: 'NVIDIA RTX A6000 datasheet: tensor 309.7 TFLOPS with sparsity → 154.8 dense FP16 [derived: ÷ 2]; 768 GB/s',
  },
  {
    name: 'NVIDIA RTX PRO 6000 Blackwell',
    names: [
      'rtx pro 6000 blackwell',
      'rtx pro 6000 blackwell workstation edition',
      'rtx pro 6000 blackwell max-q workstation edition',
      'rtx pro 6000 blackwell server edition',
    ],
    pci: ['10de:2bb1', '10de:2bb4', '10de:2bb5'],
    tflops: 500,
    bandwidthGBs: 1792,
    source:
      'NVIDIA RTX PRO 6000 Blackwell datasheet: 4000 AI TOPS (FP4, sparse) → FP16 dense 4000 ÷ 2 ÷ 4 = 500 TFLOPS [derived]; 1792 GB/s',
  },
  {
    name: 'NVIDIA H100 80GB HBM3',
    names: ['h100 80gb hbm3', 'h100 sxm5 80gb', 'h100 sxm', 'h100'],
    pci: ['10de:2330'],
    tflops: 989.4,
    bandwidthGBs: 3350,
    source:
      'NVIDIA H100 Tensor Core GPU datasheet, H100 SXM: FP16 tensor 1979 TFLOPS with sparsity → 989.4 dense [derived: ÷ 2]; 3.35 TB/s HBM3',
  },
  {
    name: 'NVIDIA H100 PCIe',
    names: ['h100 pcie'],
    pci: ['10de:2331'],
    tflops: 756.5,
    bandwidthGBs: 2000,
    source:
      'NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe: FP16 tensor 1513 TFLOPS with sparsity → 756.5 dense [derived: ÷ 2]; 2.0 TB/s HBM2e',
  },
  {
    name: 'NVIDIA H200',
    names: ['h200', 'h200 sxm', 'h200 sxm 141gb'],
    pci: ['10de:2335'],
    tflops: 989.4,
    bandwidthGBs: 4800,
    source:
      'NVIDIA H200 Tensor Core GPU datasheet, H200 SXM: FP16 tensor 1979 TFLOPS with sparsity → 989.4 dense [derived: ÷ 2]; 4.8 TB/s HBM3e',
  },
  {
    name: 'NVIDIA H200 NVL',
    names: ['h200 nvl'],
    pci: [],
    tflops: 835.5,
    bandwidthGBs: 4800,
    source:
      'NVIDIA H200 Tensor Core GPU datasheet, H200 NVL: FP16 tensor 1671 TFLOPS with sparsity → 835.5 dense [derived: ÷ 2]; 4.8 TB/s HBM3e',
  },
  {
    name: 'NVIDIA GB10',
    names: ['gb10', 'dgx spark'],
    pci: [],
    tflops: 62.5,
    bandwidthGBs: 273,
    source:
      'NVIDIA DGX Spark datasheet: 1 PFLOP FP4 with sparsity → FP16 dense with FP32 accumulate 1000 ÷ 2 ÷ 4 ÷ 2 = 62.5 TFLOPS [derived, GeForce-class Blackwell rate]; 273 GB/s LPDDR5x (unified)',
  },
]

/** "NVIDIA GeForce RTX 4090 D" → "rtx 4090 d"; "Intel(R) Arc(TM) A770 Graphics" → "arc a770". */
export function normGpuName(name: string): string {
  return name
    .toLowerCase()
    .replace(/\((r|tm)\)/g, ' ')
    .replace(/\b(nvidia|geforce|intel|amd|radeon|graphics|corporation)\b/g, ' ')
    .replace(/[^a-z0-9.+-]+/g, ' ')
    .trim()
    .replace(/\s+/g, ' ')
}

/** Suffixes that name a variant with the same chip and memory (matched with a note). */
const SAME_CHIP_SUFFIX = /\s(laptop gpu|mobile|oem)$/

export interface GpuMatch {
  spec: GpuSpec | null
  /** how it was found: "pci 10de:2685", "name", or an "unknown GPU, assumed …" note */
  how: string
}

export function matchGpu(name: string, vendorId?: string | null, deviceId?: string | null): GpuMatch {
  const hex = (s: string | null | undefined) => (s ?? '').toLowerCase().replace(/^0x/, '')
  const pci = vendorId && deviceId && hex(deviceId) !== '0000' ? `${hex(vendorId)}:${hex(deviceId)}` : null
  if (pci) {
    const s = GPU_SPECS.find((g) => g.pci.includes(pci))
    if (s) return {spec: s, how: `PCI id ${pci}`}
  }
  const n = normGpuName(name)
  const exact = GPU_SPECS.find((g) => g.names.includes(n))
  if (exact) return {spec: exact, how: 'name'}
  const stripped = n.replace(SAME_CHIP_SUFFIX, '')
  const near = stripped !== n ? GPU_SPECS.find((g) => g.names.includes(stripped)) : undefined
  if (near) return {spec: near, how: `name "${stripped}" (same chip)`}
  return {spec: null, how: `unknown GPU "${name}"${pci ? ` (PCI ${pci})` : ''}`}
}
