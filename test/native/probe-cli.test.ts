// `moerig probe` on this machine checked against lscpu, /sys/devices/system/node and /proc/meminfo;
// `moerig profiles` on the reference rigs; the loader other commands use; bad profiles.
import {test} from 'node:test'
import assert from 'node:assert/strict'
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {INFERENCE_FLAGS, parseLscpu} from '../../src/probe/cpu.js'
import {parseCpuList} from '../../src/probe/sysfs.js'
import {bandwidthNodes, measureBandwidth} from '../../src/probe/bandwidth.js'
import {probeMachine} from '../../src/probe/probe.js'
import {
  hardwareProfilesDir,
  listHardwareProfiles,
  loadHardwareProfile,
  profileErrors,
} from '../../src/profiles/hardware.js'
import {loadHardware} from '../../src/probe/machine.js'
import {MoerigError} from '../../src/lib/errors.js'
import {addonPath} from '../../src/engine/addon.js'
import {hardwareProfileSchema, profileListSchema, type HardwareProfile} from '../../src/schemas/hardware.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {tempDir} from '../support/tmp.js'

const tmp = tempDir('moerig-probe-cli-')
const run = (...args: string[]) => spawnSync(process.execPath, ['bin/run.js', ...args], {encoding: 'utf8'})

test('probe --json matches lscpu, /sys/devices/system/node and /proc/meminfo on this machine', () => {
  const r = run('probe', '--json', '--models-dir', tmp)
  assert.equal(r.status, 0, r.stderr)
  const p = JSON.parse(r.stdout) as HardwareProfile
  assert.deepEqual(schemaErrors(hardwareProfileSchema, p), [])
  const ls = parseLscpu(execFileSync('lscpu', {encoding: 'utf8', env: {...process.env, LC_ALL: 'C'}}))
  assert.equal(p.cpu.threads, Number(ls['CPU(s)']))
  assert.equal(p.cpu.sockets, Number(ls['Socket(s)']))
  assert.equal(p.cpu.cores, Number(ls['Core(s) per socket']) * Number(ls['Socket(s)']))
  assert.equal(p.cpu.model, ls['Model name'])
  const lsFlags = new Set(ls.Flags.split(/\s+/))
  assert.deepEqual(
    p.cpu.flags,
    INFERENCE_FLAGS.filter((f) => lsFlags.has(f)),
  )
  const nodeDirs = readdirSync('/sys/devices/system/node')
    .filter((d) => /^node\d+$/.test(d))
    .sort()
  assert.equal(p.numa.nodes.length, nodeDirs.length)
  for (const d of nodeDirs) {
    const id = Number(d.slice(4))
    const node = p.numa.nodes.find((n) => n.id === id)
    assert.ok(node, `node ${id} reported`)
    assert.deepEqual(node.cpus, parseCpuList(readFileSync(`/sys/devices/system/node/${d}/cpulist`, 'utf8')))
    assert.equal(node.cpus.length > 0 ? `NUMA node${id} CPU(s)` in ls : true, true)
  }
  const memTotalKiB = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1])
  // MemTotal can move by a few pages between reads on a ballooned VM.
  assert.ok(
    Math.abs(p.memory.totalBytes - memTotalKiB * 1024) < 64 * 1024 ** 2,
    `${p.memory.totalBytes} vs ${memTotalKiB * 1024}`,
  )
  assert.equal(p.disk?.path, tmp)
  assert.equal(typeof p.disk?.fits400GB, 'boolean')
  // Hidden facts are null with a note, never 0.
  if (p.memory.dimms.length === 0) {
    assert.equal(p.memory.channels, null)
    assert.equal(p.memory.theoreticalBandwidthGBs, null)
  }
})

test('probe prints a readable summary and --save writes a profile that validates', () => {
  const file = join(tmp, 'sub', 'me.json')
  const r = run('probe', '--save', file, '--models-dir', tmp)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /^CPU {6}/m)
  assert.match(r.stdout, /^NUMA {5}/m)
  assert.match(r.stdout, /^Memory {3}/m)
  assert.match(r.stdout, /saved: /)
  assert.deepEqual(profileErrors(JSON.parse(readFileSync(file, 'utf8'))), [])
  const v = run('profiles', 'validate', file)
  assert.equal(v.status, 0, v.stderr)
  assert.match(v.stdout, /^ok/)
})

test('probe --sysroot reads a recorded tree', () => {
  const r = run('probe', '--json', '--sysroot', 'test/fixtures/probe/snc4-dual-6430')
  assert.equal(r.status, 0, r.stderr)
  const p = JSON.parse(r.stdout) as HardwareProfile
  assert.equal(p.numa.nodes.length, 4)
  assert.equal(p.numa.subNumaClustering, true)
  const bad = run('probe', '--json', '--sysroot', tmp)
  assert.equal(bad.status, 1)
  assert.match(JSON.parse(bad.stdout).error.message, /no root\/ folder/)
})

test(
  'memory bandwidth: one thread per core per node, triad measured',
  {skip: existsSync(addonPath) ? false : 'native addon not built'},
  async () => {
    const {profile, topology} = await probeMachine({modelsDir: null})
    const nodes = bandwidthNodes(profile, topology)
    assert.equal(
      nodes.reduce((a, n) => a + n.cpus.length, 0),
      profile.cpu.cores,
    )
    const bw = await measureBandwidth(profile, topology, {arrayBytesPerThread: 16 * 1024 ** 2, repetitions: 2})
    assert.ok(bw.triadGBs > 0 && bw.copyGBs! > 0)
    assert.equal(bw.threads, profile.cpu.cores)
    assert.equal(bw.perNode.length, nodes.length)
    assert.equal(bw.provenance?.triadGBs, 'measured')
    assert.deepEqual(schemaErrors(hardwareProfileSchema, {...profile, bandwidth: bw}), [])
  },
)

test('profiles lists the four reference rigs, all valid and cited', () => {
  const r = run('profiles', '--json')
  assert.equal(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepEqual(schemaErrors(profileListSchema, out), [])
  const ids = out.profiles.map((p: {id: string}) => p.id)
  for (const id of ['dual-8592-2xa770', 'dual-6454s-4090d', 'w9-3495x-a770', 'dual-9654-3090'])
    assert.ok(ids.includes(id), id)
  for (const p of listHardwareProfiles()) {
    assert.equal(p.valid, true, p.error ?? '')
    assert.equal(p.profile?.origin, 'reference')
    assert.ok(Object.keys(p.profile?.citations ?? {}).length >= 5, `${p.id} cites its sources`)
  }
  const text = run('profiles')
  assert.match(
    text.stdout,
    /dual-8592-2xa770 +2 × Intel\(R\) Xeon\(R\) Platinum 8592\+, 1024 GiB \(717 GB\/s peak\); GPUs: Intel Arc A770 16GB, Intel Arc A770 16GB/,
  )
})

test('reference rigs carry the published figures', async () => {
  const a = await loadHardwareProfile('dual-8592-2xa770')
  assert.equal(a.cpu.cores, 128)
  assert.equal(a.memory.theoreticalBandwidthGBs, 716.8)
  assert.equal(a.gpus.length, 2)
  const b = await loadHardwareProfile('dual-6454s-4090d')
  assert.equal(b.memory.theoreticalBandwidthGBs, 614.4)
  assert.equal(b.gpus[0].deviceId, '0x2685')
  const c = await loadHardwareProfile(join(hardwareProfilesDir, 'w9-3495x-a770.json'))
  assert.equal(c.memory.theoreticalBandwidthGBs, 307.2)
  const d = await loadHardwareProfile('dual-9654-3090')
  assert.equal(d.memory.channels, 24)
  assert.ok(!d.cpu.flags.includes('amx_tile'))
})

test('loadHardwareProfile: "probe", unknown ids and bad files', async () => {
  const me = await loadHardware('probe')
  assert.equal(me.origin, 'probe')
  await assert.rejects(
    loadHardwareProfile('no-such-rig'),
    (e: unknown) => e instanceof MoerigError && /ids: .*dual-6454s-4090d/.test(e.message),
  )
  await assert.rejects(loadHardwareProfile(join(tmp, 'missing.json')), /no such file/)
  const bad = JSON.parse(readFileSync(join(hardwareProfilesDir, 'w9-3495x-a770.json'), 'utf8'))
  bad.gpus[0].vramBytes = '16GB'
  const file = join(tmp, 'bad.json')
  writeFileSync(file, JSON.stringify(bad))
  await assert.rejects(
    loadHardwareProfile(file),
    (e: unknown) =>
      e instanceof MoerigError &&
      e.message === `hardware profile ${file}: /gpus/0/vramBytes must be an integer or null, got "16GB"`,
  )
})

test('a wrong field fails with one line naming the JSON path and what was expected', () => {
  const good = JSON.parse(readFileSync(join(hardwareProfilesDir, 'dual-6454s-4090d.json'), 'utf8'))
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the cases poke arbitrary paths of a parsed profile
  const cases: Array<[(p: any) => void, RegExp]> = [
    [
      (p) => (p.memory.theoreticalBandwidthGBs = 700),
      /^\/memory\/theoreticalBandwidthGBs must be channels × MT\/s × 8 bytes = 16 × 4800 × 8 = 614\.4 GB\/s, got 700$/,
    ],
    [(p) => (p.gpus[0].numaNode = 5), /^\/gpus\/0\/numaNode must be one of the NUMA node ids \(0, 1\), got 5$/],
    [(p) => (p.cpu.threads = 8), /^\/cpu\/threads must be ≥ \/cpu\/cores/],
    [(p) => (p.gpus[0].vendorId = '10de'), /^\/gpus\/0\/vendorId must match pattern/],
    [(p) => (p.memory.color = 'red'), /^\/memory has unknown field "color"$/],
    [(p) => delete p.citations, /^\/citations must cite/],
  ]
  for (const [mutate, expected] of cases) {
    const p = structuredClone(good)
    mutate(p)
    const errs = profileErrors(p)
    assert.ok(errs.length >= 1)
    assert.match(errs[0], expected)
  }
  const file = join(tmp, 'bad-bw.json')
  const p = structuredClone(good)
  p.memory.theoreticalBandwidthGBs = 700
  writeFileSync(file, JSON.stringify(p))
  const r = run('profiles', 'validate', file)
  assert.equal(r.status, 1)
  // each problem once on stdout (the JSON path and what was expected), one summary line on stderr
  assert.match(r.stdout, /bad-bw\.json: \/memory\/theoreticalBandwidthGBs must be/)
  assert.equal(r.stdout.match(/theoreticalBandwidthGBs/g)?.length, 1)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, /^moerig: error: 1 of 1 hardware profile file invalid/)
  const j = run('profiles', 'validate', file, '--json')
  assert.equal(j.status, 1)
  assert.equal(JSON.parse(j.stdout).results[0].valid, false)
  const notJson = join(tmp, 'broken.json')
  writeFileSync(notJson, '{"schemaVersion": 1,')
  const nj = run('profiles', 'show', notJson)
  assert.equal(nj.status, 1)
  assert.match(nj.stderr, /^moerig: error: hardware profile .*broken\.json: not valid JSON/)
})

test('profiles flags an invalid file in the folder and exits non-zero', () => {
  const dir = join(tmp, 'rigs')
  execFileSync('mkdir', ['-p', dir])
  const good = readFileSync(join(hardwareProfilesDir, 'w9-3495x-a770.json'), 'utf8')
  writeFileSync(join(dir, 'w9-3495x-a770.json'), good)
  writeFileSync(join(dir, 'renamed.json'), good)
  const r = run('profiles', '--dir', dir)
  assert.equal(r.status, 1)
  assert.match(r.stdout, /^w9-3495x-a770 /m)
  assert.match(r.stdout, /^INVALID .*renamed\.json: \/id "w9-3495x-a770" must match the file name "renamed"/m)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, /^moerig: error: 1 of 2 hardware profiles are invalid/)
})
