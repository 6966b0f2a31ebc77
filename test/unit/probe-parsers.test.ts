// Pure parsers of the probe: kernel lists, lscpu, cpuinfo, microarchitecture table, PCIe,
// nvidia-smi CSV, meminfo, DIMM locators and channel counting, tool versions.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {parseCpuinfo, parseLscpu, parseLscpuCache} from '../../src/probe/cpu.js'
import {microarchitecture, microarchitectureChecked} from '../../src/probe/uarch.js'
import {formatCpuList, parseCacheSize, parseCpuList} from '../../src/probe/sysfs.js'
import {normalizeBusId, parseLinkSpeed, parseNvidiaSmiCsv, pcieBandwidthGBs} from '../../src/probe/gpu.js'
import {gpuName, gpuSpec, intelArcFamily} from '../../src/probe/gpu-ids.js'
import {
  bracketed,
  countChannels,
  dimmsFromLayout,
  isPlaceholderLayout,
  parseBankLocator,
  parseMeminfo,
  peakBandwidthGBs,
} from '../../src/probe/memory.js'
import {parseNodeMeminfo} from '../../src/probe/numa.js'
import {parseToolVersion} from '../../src/probe/tools.js'

const GiB = 1024 ** 3

test('kernel CPU lists parse and format back', () => {
  assert.deepEqual(parseCpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11])
  assert.deepEqual(parseCpuList(''), [])
  assert.equal(parseCpuList('0-x'), null)
  assert.equal(parseCpuList('5-2'), null)
  assert.equal(formatCpuList([0, 1, 2, 3, 8, 10, 11]), '0-3,8,10-11')
  assert.equal(formatCpuList(parseCpuList('0-63,128-191')!), '0-63,128-191')
})

test('cache sizes: sysfs "2048K", lscpu "260 MiB (1 instance)"', () => {
  assert.equal(parseCacheSize('2048K'), 2 * 1024 ** 2)
  assert.equal(parseCacheSize('61440K'), 60 * 1024 ** 2)
  assert.equal(parseCacheSize('1.5 MiB'), 1.5 * 1024 ** 2)
  assert.equal(parseCacheSize('big'), null)
  assert.deepEqual(parseLscpuCache('260 MiB (1 instance)'), {bytes: 260 * 1024 ** 2, instances: 1})
  assert.deepEqual(parseLscpuCache('128 MiB (64 instances)'), {bytes: 128 * 1024 ** 2, instances: 64})
  assert.equal(parseLscpuCache(undefined), null)
})

test('lscpu: plain text, flat -J (util-linux 2.38) and nested -J', () => {
  const plain = parseLscpu(
    'Architecture:            x86_64\nModel name:              Intel(R) Xeon(R) Processor\n  Thread(s) per core:    1\nNUMA node0 CPU(s):       0,1\nL3 cache:                260 MiB (1 instance)\n',
  )
  assert.equal(plain['Model name'], 'Intel(R) Xeon(R) Processor')
  assert.equal(plain['Thread(s) per core'], '1')
  assert.equal(plain['NUMA node0 CPU(s)'], '0,1')
  const flat = parseLscpu(
    JSON.stringify({
      lscpu: [
        {field: 'Socket(s):', data: '2'},
        {field: 'Model name:', data: 'AMD EPYC 9654 96-Core Processor'},
      ],
    }),
  )
  assert.deepEqual(flat, {'Socket(s)': '2', 'Model name': 'AMD EPYC 9654 96-Core Processor'})
  const nested = parseLscpu(
    JSON.stringify({
      lscpu: [{field: 'Vendor ID:', data: 'GenuineIntel', children: [{field: 'Core(s) per socket:', data: '32'}]}],
    }),
  )
  assert.equal(nested['Core(s) per socket'], '32')
  assert.deepEqual(parseLscpu('{not json'), {})
})

test('/proc/cpuinfo blocks', () => {
  const text =
    'processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nflags\t\t: fpu avx2 amx_tile\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\n'
  const blocks = parseCpuinfo(text)
  assert.equal(blocks.length, 2)
  assert.equal(blocks[0]['cpu family'], '6')
  assert.equal(blocks[0].model, '207')
  assert.equal(blocks[0].flags, 'fpu avx2 amx_tile')
})

test('microarchitecture table (intel-family.h, amd.c)', () => {
  assert.equal(microarchitecture('Intel', 6, 143, 8, 'Intel(R) Xeon(R) Gold 6454S')?.name, 'Sapphire Rapids')
  assert.equal(microarchitecture('Intel', 6, 207, 2, 'INTEL(R) XEON(R) PLATINUM 8592+')?.name, 'Emerald Rapids')
  assert.equal(microarchitecture('Intel', 6, 173, 1, 'Intel(R) Xeon(R) 6980P')?.maxChannelsPerSocket, 12)
  assert.equal(microarchitecture('Intel', 6, 106, 6, 'Intel(R) Xeon(R) Platinum 8352Y')?.name, 'Ice Lake-SP')
  assert.equal(microarchitecture('Intel', 6, 85, 4, 'Intel(R) Xeon(R) Gold 6148')?.name, 'Skylake-SP')
  assert.equal(microarchitecture('Intel', 6, 85, 7, 'Intel(R) Xeon(R) Platinum 8280')?.name, 'Cascade Lake-SP')
  assert.equal(microarchitecture('Intel', 6, 85, null), null, 'model 0x55 needs the stepping')
  const genoa = microarchitecture('AMD', 25, 17, 1, 'AMD EPYC 9654 96-Core Processor')
  assert.deepEqual(genoa, {name: 'Zen 4', codename: 'Genoa', maxChannelsPerSocket: 12})
  assert.equal(microarchitecture('AMD', 25, 1, 1, 'AMD EPYC 7763 64-Core Processor')?.codename, 'Milan')
  assert.equal(microarchitecture('AMD', 26, 2, 1, 'AMD EPYC')?.name, 'Zen 5')
  // under a hypervisor the model number can be another part's: the ISA flags win (issue #10)
  const kvm = microarchitectureChecked(
    'Intel',
    6,
    167,
    1,
    'Intel(R) Xeon(R) Processor',
    new Set(['avx512f', 'avx512_fp16', 'amx_tile', 'amx_int8', 'amx_bf16']),
  )
  assert.equal(kvm.uarch?.name, 'Sapphire Rapids or later')
  assert.match(
    kvm.note!,
    /family 6 model 167 reads as Rocket Lake, but the ISA flags \(amx_tile, amx_int8, amx_bf16\) need Sapphire Rapids or later/,
  )
  // flags that agree keep the table's more precise answer (Emerald Rapids has AMX too)
  const emr = microarchitectureChecked(
    'Intel',
    6,
    207,
    2,
    'INTEL(R) XEON(R) PLATINUM 8592+',
    new Set(['amx_tile', 'avx512_fp16']),
  )
  assert.deepEqual([emr.uarch?.name, emr.note], ['Emerald Rapids', undefined])
  // a real Rocket Lake (no AMX, no FP16) stays Rocket Lake; an unknown model with AVX-512 on AMD is Zen 4 or later
  assert.equal(
    microarchitectureChecked('Intel', 6, 167, 1, 'Intel(R) Core(TM) i9-11900K', new Set(['avx512f', 'avx512_vnni']))
      .uarch?.name,
    'Rocket Lake',
  )
  assert.equal(
    microarchitectureChecked('AMD', 0x1a, 0xf0, 0, 'AMD EPYC', new Set(['avx512f'])).uarch?.name,
    'Zen 4 or later',
  )
  assert.equal(microarchitecture('AMD', 25, 97, 2, 'AMD Ryzen 9 7950X 16-Core Processor')?.maxChannelsPerSocket, 2)
  assert.equal(microarchitecture('Intel', 6, 1, 1), null)
  assert.equal(microarchitecture('Intel', null, null, null), null)
})

test('PCIe link speed → generation → GB/s per direction', () => {
  assert.equal(parseLinkSpeed('16.0 GT/s PCIe'), 4)
  assert.equal(parseLinkSpeed('8 GT/s'), 3)
  assert.equal(parseLinkSpeed('2.5 GT/s PCIe'), 1)
  assert.equal(parseLinkSpeed('32.0 GT/s PCIe'), 5)
  assert.equal(parseLinkSpeed('Unknown'), null)
  assert.equal(parseLinkSpeed(null), null)
  assert.equal(pcieBandwidthGBs(4, 16), 31.5)
  assert.equal(pcieBandwidthGBs(3, 16), 15.8)
  assert.equal(pcieBandwidthGBs(5, 16), 63)
  assert.equal(pcieBandwidthGBs(4, 8), 15.8)
  assert.equal(pcieBandwidthGBs(1, 16), 4)
  assert.equal(pcieBandwidthGBs(4, null), null)
})

test('nvidia-smi CSV with units in the header and [N/A] cells', () => {
  const csv = [
    'index, pci.bus_id, pci.device_id, name, memory.total [MiB], memory.free [MiB], pcie.link.gen.current, pcie.link.gen.max, pcie.link.width.current, pcie.link.width.max, driver_version',
    '0, 00000000:01:00.0, 0x268410DE, NVIDIA GeForce RTX 4090, 24564, 24211, 1, 4, 16, 16, 550.54.14',
    '1, 00000000:41:00.0, 0x220410DE, NVIDIA GeForce RTX 3090, 24576, [N/A], [N/A], 4, 16, 16, 550.54.14',
  ].join('\n')
  const g = parseNvidiaSmiCsv(csv)
  assert.equal(g.length, 2)
  assert.equal(g[0].busId, '0000:01:00.0')
  assert.equal(g[0].deviceId, '0x2684')
  assert.equal(g[0].memoryTotalBytes, 24564 * 1024 * 1024)
  assert.equal(g[0].genCurrent, 1)
  assert.equal(g[1].memoryFreeBytes, null)
  assert.equal(g[1].genCurrent, null)
  assert.equal(g[1].deviceId, '0x2204')
  assert.deepEqual(parseNvidiaSmiCsv(''), [])
  assert.equal(normalizeBusId('00000000:C1:00.0'), '0000:c1:00.0')
})

test('GPU names from the kernel id lists and pci.ids, specs by name', () => {
  assert.equal(gpuName('0x8086', '0x56a0', null), 'Intel Arc A770')
  assert.equal(gpuName('0x8086', '0x56a0', 16225243136), 'Intel Arc A770 16GB')
  assert.equal(gpuName('0x8086', '0x56a0', 8 * GiB), 'Intel Arc A770 8GB')
  assert.equal(gpuName('0x8086', '0x56a1', null), 'Intel Arc A750')
  assert.equal(gpuName('0x8086', '0xe20b', null), 'Intel Arc B580')
  assert.equal(gpuName('0x10de', '0x2335', null), 'NVIDIA H200')
  assert.equal(gpuName('0x10de', '0x2330', null), 'NVIDIA H100 80GB HBM3')
  assert.equal(intelArcFamily('0xe20d'), 'Battlemage (BMG)')
  assert.equal(gpuName('0x8086', '0x56a4', null), 'Intel Arc Alchemist (DG2-G12) 0x56a4')
  assert.equal(gpuName('0x1002', '0x744c', 24 * GiB), 'AMD Radeon RX 7900 XTX')
  assert.equal(gpuName('0x10de', '0x9999', null), 'NVIDIA GPU 0x9999')
  assert.equal(gpuSpec('Intel Arc A770 16GB')?.memoryBandwidthGBs, 560)
  assert.equal(gpuSpec('NVIDIA GeForce RTX 4090 D')?.memoryBandwidthGBs, 1008)
  assert.equal(gpuSpec('Intel Arc A770'), null, 'the A770 without a VRAM size is ambiguous')
})

test('meminfo, node meminfo, THP brackets', () => {
  const m = parseMeminfo(
    'MemTotal:       24683620 kB\nMemAvailable:   24369716 kB\nHugePages_Total:       8\nHugepagesize:       2048 kB\n',
  )
  assert.equal(m.MemTotal, 24683620 * 1024)
  assert.equal(m.HugePages_Total, 8)
  assert.equal(m.Hugepagesize, 2 * 1024 ** 2)
  assert.equal(
    parseNodeMeminfo('Node 0 MemTotal:        4417312 kB\nNode 0 MemFree:         3561296 kB\n').MemTotal,
    4417312 * 1024,
  )
  assert.equal(bracketed('always [madvise] never'), 'madvise')
  assert.equal(bracketed('never'), null)
})

test('DIMMs: the VM placeholder is "unknown", bank locators give socket and channel', () => {
  // what systeminformation returns on this project's VM (one bank, no locator, size = all RAM)
  const vm = [{size: 25276510208, bank: '', type: '', ecc: null, clockSpeed: 0, formFactor: '', partNum: ''}]
  assert.equal(isPlaceholderLayout(vm), true)
  assert.deepEqual(dimmsFromLayout(vm), [])
  assert.deepEqual(parseBankLocator('P0 CHANNEL A'), {socket: 0, channel: 'A'})
  assert.deepEqual(parseBankLocator('P1_Node1_Channel3_Dimm0'), {socket: 1, channel: '3'})
  assert.deepEqual(parseBankLocator('CPU2_DIMM_B1'), {socket: 1, channel: 'B'})
  assert.deepEqual(parseBankLocator('BANK 0'), {socket: null, channel: null})
  const desk = dimmsFromLayout(
    ['A', 'A', 'B', 'B'].map((c) => ({size: 32 * GiB, bank: `P0 CHANNEL ${c}`, type: 'DDR5', clockSpeed: 3600})),
  )
  assert.deepEqual(countChannels(desk, 1, 2), {channels: 2, perSocket: 2, source: 'dmi', assumed: false})
  const dell = dimmsFromLayout(
    Array.from({length: 16}, () => ({size: 32 * GiB, bank: 'Not Specified', type: 'DDR5', clockSpeed: 4800})),
  )
  assert.deepEqual(countChannels(dell, 2, 8), {channels: 16, perSocket: 8, source: 'derived', assumed: true})
  // 2 DIMMs per channel without locators: capped at the generation's channel count.
  const twoDpc = dimmsFromLayout(
    Array.from({length: 32}, () => ({size: 32 * GiB, bank: '', type: 'DDR5', clockSpeed: 4400})),
  )
  assert.equal(countChannels(twoDpc, 2, 8).channels, 16)
  assert.equal(countChannels([], 2, 8).channels, null)
  assert.equal(peakBandwidthGBs(16, 5600), 716.8)
  assert.equal(peakBandwidthGBs(24, 4800), 921.6)
  assert.equal(peakBandwidthGBs(null, 4800), null)
})

test('vendor tool versions', () => {
  assert.equal(
    parseToolVersion(
      'nvidia-smi',
      'NVIDIA-SMI version  : 550.54.14\nNVML version        : 550.54\nDRIVER version      : 550.54.14\nCUDA Version        : 12.4\n',
    ),
    '550.54.14',
  )
  assert.equal(
    parseToolVersion('xpu-smi', 'CLI:\n    Version: 1.2.39.20240906\n    Build ID: 8c8b2c16\n'),
    '1.2.39.20240906',
  )
  assert.equal(
    parseToolVersion('vulkaninfo', '==========\nVULKANINFO\n==========\n\nVulkan Instance Version: 1.3.275\n'),
    '1.3.275',
  )
  assert.equal(parseToolVersion('sycl-ls', 'no devices'), null)
})
