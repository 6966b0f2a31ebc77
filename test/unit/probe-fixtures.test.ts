// The probe on recorded machines (test/fixtures/probe/*, written by generate.mjs from the kernel's
// documented sysfs/procfs formats): dual socket, SNC with 4 nodes, Arc A770 + B580 behind their
// PCIe switches, RTX 4090 with nvidia-smi output. Plus damaged trees: unreadable entries are notes.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {cpSync, mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {assembleProfile, fixtureInputs} from '../../src/probe/probe.js'
import {bandwidthNodes} from '../../src/probe/bandwidth.js'
import {renderProfile} from '../../src/probe/summary.js'
import {MoerigError} from '../../src/lib/errors.js'
import {hardwareProfileSchema} from '../../src/schemas/hardware.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {tempDir} from '../support/tmp.js'

const FIX = join(import.meta.dirname, '..', 'fixtures', 'probe')
const GiB = 1024 ** 3
const MiB = 1024 ** 2
const probe = (name: string, dir = join(FIX, name)) => assembleProfile(fixtureInputs(dir))

const tmp = tempDir('moerig-probe-')

test('dual socket, 2 NUMA nodes (2 × Xeon Silver 4410Y, Dell-style DMI)', () => {
  const {profile: p, topology} = probe('dual-spr-2numa')
  assert.deepEqual(schemaErrors(hardwareProfileSchema, p), [])
  assert.equal(p.cpu.vendor, 'Intel')
  assert.equal(p.cpu.microarchitecture, 'Sapphire Rapids')
  assert.equal(p.cpu.sockets, 2)
  assert.equal(p.cpu.cores, 24)
  assert.equal(p.cpu.threads, 48)
  assert.equal(p.cpu.threadsPerCore, 2)
  assert.equal(p.cpu.l2Bytes, 24 * 2 * MiB)
  assert.equal(p.cpu.l3Bytes, 2 * 30 * MiB)
  assert.equal(p.cpu.baseMHz, 2000)
  assert.ok(p.cpu.flags.includes('amx_int8') && p.cpu.flags.includes('avx512_fp16'))
  assert.ok(!p.cpu.flags.includes('sse2'), 'only inference-relevant flags are listed')
  assert.equal(p.numa.nodes.length, 2)
  assert.equal(p.numa.nodes[1].cpus.length, 24)
  assert.deepEqual(
    p.numa.nodes.map((n) => n.socket),
    [0, 1],
  )
  assert.equal(p.numa.nodes[0].memTotalBytes, 263567180 * 1024)
  assert.deepEqual(p.numa.distances, [
    [10, 20],
    [20, 10],
  ])
  assert.equal(p.numa.subNumaClustering, false)
  assert.equal(p.memory.totalBytes, 527765632 * 1024)
  assert.equal(p.memory.dimms.length, 16)
  assert.equal(p.memory.speedMTs, 4000)
  assert.equal(p.memory.channels, 16)
  assert.equal(p.memory.provenance?.channels, 'derived')
  assert.equal(p.memory.theoreticalBandwidthGBs, 512)
  assert.equal(p.gpus.length, 0, 'the Matrox BMC VGA is not a GPU')
  assert.ok(p.notes?.some((n) => /Matrox/.test(n)))
  assert.ok(p.notes?.some((n) => /one DIMM per channel/.test(n)))
  assert.equal(p.virtualized, false)
  // --measure places one thread per physical core on each node.
  assert.deepEqual(bandwidthNodes(p, topology), [
    {id: 0, cpus: Array.from({length: 12}, (_, i) => i)},
    {id: 1, cpus: Array.from({length: 12}, (_, i) => 12 + i)},
  ])
})

test('sub-NUMA clustering: 2 sockets, 4 nodes, CPU facts from lscpu only', () => {
  const {profile: p, topology} = probe('snc4-dual-6430')
  assert.deepEqual(schemaErrors(hardwareProfileSchema, p), [])
  assert.equal(p.cpu.model, 'Intel(R) Xeon(R) Gold 6430')
  assert.equal(p.cpu.provenance?.model, 'lscpu')
  assert.equal(p.cpu.provenance?.flags, 'lscpu')
  assert.equal(p.cpu.sockets, 2)
  assert.equal(p.cpu.cores, 64)
  assert.equal(p.cpu.threads, 64)
  assert.equal(p.cpu.l3Bytes, 120 * MiB)
  assert.equal(p.cpu.provenance?.l3Bytes, 'lscpu')
  assert.equal(p.numa.nodes.length, 4)
  assert.equal(p.numa.subNumaClustering, true)
  assert.deepEqual(
    p.numa.nodes.map((n) => n.socket),
    [0, 0, 1, 1],
  )
  assert.deepEqual(p.numa.distances?.[0], [10, 12, 21, 21])
  assert.equal(p.memory.channels, 16)
  assert.equal(p.memory.channelsPerSocket, 8)
  assert.equal(p.memory.provenance?.channels, 'dmi')
  assert.equal(p.memory.theoreticalBandwidthGBs, 563.2)
  assert.equal(p.memory.hugePages?.transparent, 'never')
  assert.equal(p.memory.hugePages?.total, 1024)
  assert.equal(p.gpus.length, 0)
  assert.ok(p.notes?.some((n) => /ASPEED/.test(n)))
  assert.deepEqual(
    bandwidthNodes(p, topology).map((n) => n.cpus.length),
    [16, 16, 16, 16],
  )
})

test('Arc A770 behind its PCIe switch (DKMS i915) and Arc B580 (xe)', () => {
  const {profile: p} = probe('arc-a770-w790')
  assert.deepEqual(schemaErrors(hardwareProfileSchema, p), [])
  assert.equal(p.gpus.length, 2, 'the A770 audio function (class 0x0403) is not a GPU')
  const [a770, b580] = p.gpus
  assert.equal(a770.name, 'Intel Arc A770 16GB')
  assert.equal(a770.vendorId, '0x8086')
  assert.equal(a770.deviceId, '0x56a0')
  assert.equal(a770.driver, 'i915')
  assert.equal(a770.vramBytes, 16225243136)
  assert.equal(a770.provenance?.vramBytes, 'sysfs')
  assert.equal(a770.memoryBandwidthGBs, 560)
  // The GPU endpoint says 2.5 GT/s x1 (switch-internal); the slot link is at the switch upstream port.
  assert.equal(a770.pcie.linkAt, '0000:01:00.0')
  assert.equal(a770.pcie.gen, 4)
  assert.equal(a770.pcie.width, 16)
  assert.equal(a770.pcie.bandwidthGBs, 31.5)
  assert.equal(a770.numaNode, 0)
  assert.equal(a770.provenance?.numaNode, 'derived')
  assert.equal(b580.name, 'Intel Arc B580')
  assert.equal(b580.driver, 'xe')
  assert.equal(b580.vramBytes, 12 * GiB)
  assert.equal(b580.pcie.width, 8)
  assert.equal(b580.pcie.bandwidthGBs, 15.8)
  assert.equal(p.memory.channels, 4)
  assert.equal(p.memory.theoreticalBandwidthGBs, 153.6)
  assert.deepEqual(
    p.tools?.map((t) => t.name),
    ['xpu-smi', 'sycl-ls'],
  )
  const text = renderProfile(p).join('\n')
  assert.match(text, /Intel Arc A770 16GB .*15\.1 GiB VRAM \[sysfs\], 560 GB\/s memory \[spec\]/)
  assert.match(text, /PCIe Gen4 x16 = 31\.5 GB\/s/)
})

test('A770 on mainline i915 (no local-memory file): VRAM unknown, never guessed', () => {
  const dir = join(tmp, 'arc-mainline')
  cpSync(join(FIX, 'arc-a770-w790'), dir, {recursive: true})
  rmSync(join(dir, 'root/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:01.0/0000:03:00.0/drm'), {
    recursive: true,
  })
  const {profile: p} = probe('', dir)
  const a770 = p.gpus[0]
  assert.equal(a770.name, 'Intel Arc A770')
  assert.equal(a770.vramBytes, null)
  assert.equal(a770.memoryBandwidthGBs, null)
  assert.ok(p.notes?.some((n) => /0000:03:00\.0.*VRAM unknown.*8 GB or 16 GB/.test(n)))
})

test('RTX 4090 with nvidia-smi, idling at Gen1; Radeon iGPU on amdgpu', () => {
  const {profile: p} = probe('nvidia-4090-zen4')
  assert.deepEqual(schemaErrors(hardwareProfileSchema, p), [])
  assert.equal(p.cpu.microarchitecture, 'Zen 4')
  assert.equal(p.cpu.vendor, 'AMD')
  assert.ok(!p.cpu.flags.includes('avx512_fp16') && !p.cpu.flags.includes('amx_tile'))
  assert.ok(p.cpu.flags.includes('avx512_bf16'))
  assert.equal(p.cpu.l3Bytes, 64 * MiB, 'two CCDs, one 32 MB L3 each')
  assert.equal(p.cpu.l2Bytes, 16 * MiB)
  const [rtx, igpu] = p.gpus
  assert.equal(rtx.name, 'NVIDIA GeForce RTX 4090')
  assert.equal(rtx.provenance?.name, 'tool')
  assert.equal(rtx.vramBytes, 24564 * MiB)
  assert.equal(rtx.vramFreeBytes, 24211 * MiB)
  assert.equal(rtx.provenance?.vramBytes, 'tool')
  assert.equal(rtx.memoryBandwidthGBs, 1008)
  assert.equal(rtx.pcie.gen, 1)
  assert.equal(rtx.pcie.maxGen, 4)
  assert.equal(rtx.pcie.maxBandwidthGBs, 31.5)
  assert.ok(p.notes?.some((n) => /Gen1 x16 below its Gen4 x16/.test(n)))
  assert.equal(igpu.vendor, 'amd')
  assert.equal(igpu.integrated, true)
  assert.equal(igpu.vramBytes, 512 * MiB)
  assert.equal(igpu.vramFreeBytes, (512 - 41) * MiB)
  // 4 DIMMs on 2 channels (2 DIMMs per channel, named by the bank locator).
  assert.equal(p.memory.dimms.length, 4)
  assert.equal(p.memory.channels, 2)
  assert.equal(p.memory.theoreticalBandwidthGBs, 57.6)
  assert.equal(p.tools?.[0].version, '550.54.14')
})

test('unreadable sysfs entries become one-line notes, not crashes', () => {
  const dir = join(tmp, 'damaged')
  cpSync(join(FIX, 'dual-spr-2numa'), dir, {recursive: true})
  // A directory where a file should be reads as EISDIR even for root (chmod 000 would not stop root).
  const meminfo = join(dir, 'root/sys/devices/system/node/node1/meminfo')
  rmSync(meminfo)
  mkdirSync(meminfo)
  const distance = join(dir, 'root/sys/devices/system/node/node0/distance')
  rmSync(distance)
  mkdirSync(distance)
  const {profile: p} = probe('', dir)
  assert.equal(p.numa.nodes[1].memTotalBytes, null)
  assert.equal(p.numa.distances, null)
  assert.ok(p.notes?.includes('/sys/devices/system/node/node1/meminfo: unreadable (EISDIR)'), JSON.stringify(p.notes))
  assert.ok(p.notes?.some((n) => /distance matrix not exposed/.test(n)))
  for (const n of p.notes ?? []) assert.ok(!n.includes('\n'), 'notes are single lines')
})

test('a tree without /proc/meminfo is one clear error', () => {
  const dir = join(tmp, 'empty')
  mkdirSync(join(dir, 'root'), {recursive: true})
  assert.throws(
    () => probe('', dir),
    (e: unknown) =>
      e instanceof MoerigError &&
      e.code === 'E_PROBE' &&
      /memory size unknown/.test(e.message) &&
      !e.message.includes('\n'),
  )
})
