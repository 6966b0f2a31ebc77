// llama.cpp RPC on loopback (issue 15): `moerig rpc-server` instances started here on 127.0.0.1
// (free ports, never another address), bench and check-plan over them, calibrate --rpc, and a
// server killed mid-run. Every wait is bounded.
import {test, before, after} from 'node:test'
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import {cachedSynthModel} from '../../src/runner/synth.js'
import {CI_LLVMPIPE_PROFILE} from '../support/checkplan-cases.js'
import {bin, cli, root, tempDir} from '../support/runner-helpers.js'
import {freePort, START_TIMEOUT_MS, startServer, stopServer, type RpcTestServer} from '../support/rpc-helpers.js'
import {benchResultSchema, type BenchResult} from '../../src/schemas/bench.js'
import {checkPlanResultSchema, type CheckPlanResult} from '../../src/schemas/checkplan.js'
import {rpcServerResultSchema} from '../../src/schemas/rpc.js'
import {tuneResultSchema, type TuneResult} from '../../src/schemas/tune.js'
import {schemaErrors} from '../../src/schemas/validate.js'
import {rpcServerInfo} from '../../src/engine/rpc-client.js'

let dir = ''
let tiny = ''
let a: RpcTestServer
let b: RpcTestServer

before(async () => {
  dir = tempDir('moerig-rpc-')
  tiny = await cachedSynthModel({preset: 'tiny'})
  ;[a, b] = await Promise.all([startServer(['--threads', '1']), startServer(['--threads', '1', '--mem', '2'])])
})

after(async () => {
  await Promise.all([a, b].filter(Boolean).map((s) => stopServer(s)))
})

test('rpc-server: serves on loopback, answers the protocol, --mem caps what it reports', async () => {
  assert.match(a.stdout(), new RegExp(`^serving 127\\.0\\.0\\.1:${a.port} \\(llama\\.cpp .*RPC protocol 6\\.`, 'm'))
  const info = await rpcServerInfo({host: '127.0.0.1', port: b.port}, {timeoutMs: 5000})
  assert.equal(info.devices.length, 1)
  assert.equal(info.devices[0].totalBytes, 2 * 1024 ** 3)
})

test('rpc-server: one line for an address it must not or cannot serve, or a device it does not have', async () => {
  let r = cli(['rpc-server', '--host', '0.0.0.0', '--port', String(a.port)])
  assert.notEqual(r.status, 0)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, /not loopback.*no authentication.*--expose/)
  r = cli(['rpc-server', '--port', String(a.port)])
  assert.notEqual(r.status, 0)
  assert.match(r.stderr, new RegExp(`port ${a.port} on 127\\.0\\.0\\.1 is in use`))
  r = cli(['rpc-server', '--mem', 'lots'])
  assert.match(r.stderr, /--mem "lots": expected a positive number of GiB/)
  r = cli(['rpc-server', '--port', String(await freePort()), '--device', 'Vulkan7'])
  assert.equal(r.status, 1)
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
  assert.match(r.stderr, /rpc-server exited before serving \(exit 1\): error: unknown device: Vulkan7/)
})

test('bench --rpc: the model runs over both servers, and the provenance names the RPC devices', () => {
  const r = cli([
    'bench',
    tiny,
    '--rpc',
    `${a.endpoint},${b.endpoint}`,
    '-ngl',
    '99',
    // llama.cpp splits by free memory, and b reports only 2 GiB (--mem): an even split instead
    '-ts',
    '1,1',
    '-p',
    '16',
    '-n',
    '4',
    '-r',
    '1',
    '-t',
    '1',
    '--no-save',
    '--json',
  ])
  assert.equal(r.status, 0, r.stderr || r.stdout)
  const res = JSON.parse(r.stdout) as BenchResult
  assert.deepEqual(schemaErrors(benchResultSchema, res), [])
  assert.equal(res.provenance.backend, 'RPC')
  assert.deepEqual(
    res.provenance.rpc?.map((d) => [d.name, d.endpoint, d.index]),
    [
      ['RPC0', a.endpoint, 0],
      ['RPC1', b.endpoint, 0],
    ],
  )
  // the layers' weights live on the servers, under the engine's device names
  const devs = res.memory.devices.map((d) => d.device)
  assert.ok(devs.includes('RPC0') && devs.includes('RPC1'), devs.join(','))
  assert.ok(res.results.every((x) => x.tps.mean > 0))
})

test('check-plan of a two-host plan and of a three-host plan, executed over loopback servers', () => {
  for (const [hosts, servers] of [
    [2, [a]],
    [3, [a, b]],
  ] as const) {
    const planPath = join(dir, `plan-${hosts}.json`)
    const hw = Array(hosts).fill(CI_LLVMPIPE_PROFILE).join(',')
    const p = cli(['plan', tiny, '--hardware', hw, '--gpus', '0', '--ctx', '2048', '-o', planPath])
    assert.equal(p.status, 0, p.stderr)
    const rpc = servers.map((s) => s.endpoint).join(',')
    const r = cli(['check-plan', planPath, '--rpc', rpc, '--json'])
    assert.equal(r.status, 0, r.stderr || r.stdout)
    const res = JSON.parse(r.stdout) as CheckPlanResult
    assert.deepEqual(schemaErrors(checkPlanResultSchema, res), [])
    const ids = res.devices.map((d) => d.id)
    assert.ok(ids.includes('RPC0:CPU'), ids.join(','))
    assert.equal(res.devices.find((d) => d.id === 'RPC0:CPU')?.engineDevice, 'RPC0')
    // the same bounds as local devices (check-plan's own verdict)
    const text = cli(['check-plan', planPath, '--rpc', rpc])
    assert.equal(text.status, 0, text.stderr)
    assert.match(text.stdout, /within bounds/)
    // the plan's remote hosts need as many servers
    const none = cli(['check-plan', planPath])
    assert.equal(none.status, 1)
    assert.match(none.stderr, /splits across \d other machine\(s\).*--rpc HOST:PORT/)
  }
})

test('calibrate --rpc measures the loopback link', () => {
  const out = join(dir, 'links.json')
  const r = cli(['calibrate', '--rpc', a.endpoint, '--hardware', CI_LLVMPIPE_PROFILE, '--save', out, '--json'])
  assert.equal(r.status, 0, r.stderr || r.stdout)
  const links = JSON.parse(r.stdout).calibration.rpcLinks
  assert.equal(links.length, 1)
  assert.equal(links[0].endpoint, a.endpoint)
  assert.ok(links[0].rttUs > 0 && links[0].uploadGBs > 0 && links[0].downloadGBs > 0)
})

test('tune --rpc: every measurement has the server attached; two --hardware profiles split onto it', () => {
  const tune = (hw: string[]) => {
    const args = ['tune', tiny, '--rpc', a.endpoint, ...hw, '--budget', '5s', '-p', '16', '-n', '4', '-r', '1']
    const r = cli([...args, '--no-save', '--json'])
    assert.equal(r.status, 0, r.stderr || r.stdout)
    const res = JSON.parse(r.stdout) as TuneResult
    assert.deepEqual(schemaErrors(tuneResultSchema, res), [])
    assert.deepEqual(
      res.provenance.rpc?.map((d) => [d.name, d.endpoint]),
      [['RPC0', a.endpoint]],
    )
    assert.ok(res.measured.length > 0)
    return res
  }
  const hw = `${CI_LLVMPIPE_PROFILE},${CI_LLVMPIPE_PROFILE}`
  // one profile: this machine's placements, the server attached (and the result says so)
  const one = tune([])
  assert.ok(
    one.notes.some((n) => /one --hardware profile plans this machine alone/.test(n)),
    one.notes.join('\n'),
  )
  // this machine + one other: the planner splits, and the measured memory is on the server's device
  const two = tune(['--hardware', hw])
  // (a configuration the 5 s budget stopped before its first repetition has no memory to report:
  // seen once under the full suite's load)
  const ran = two.measured.filter((m) => m.decode !== null || m.prefill !== null)
  assert.ok(ran.length > 0)
  for (const m of ran) assert.ok((m.memory.find((d) => d.device === 'RPC0')?.totalBytes ?? 0) > 0, m.flags)
  // text output lists the devices as bench does; a second machine without its server is one line
  const text = cli([
    'tune',
    tiny,
    '--rpc',
    a.endpoint,
    '--hardware',
    hw,
    '--budget',
    '5s',
    '-p',
    '16',
    '-n',
    '4',
    '--no-save',
  ])
  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, new RegExp(`^RPC devices: RPC0 at ${a.endpoint} \\(`, 'm'))
  const none = cli(['tune', tiny, '--hardware', hw, '--budget', '5s', '--no-save'])
  assert.equal(none.status, 2, none.stderr)
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr)
  assert.match(none.stderr, /names 1 other machine\(s\) .* but --rpc was not given/)
})

test('a server that is not there, and one killed mid-run: one line, no hang', async () => {
  const gone = await freePort()
  const r = cli([
    'bench',
    tiny,
    '--rpc',
    `127.0.0.1:${gone}`,
    '-ngl',
    '99',
    '-p',
    '0',
    '-n',
    '4',
    '-r',
    '1',
    '--no-save',
  ])
  assert.equal(r.status, 1)
  assert.equal(r.stderr.trim().split('\n').length, 1)
  assert.match(r.stderr, new RegExp(`RPC server 127\\.0\\.0\\.1:${gone}: connection refused`))

  const victim = await startServer(['--threads', '1'])
  const t0 = Date.now()
  const benchProc = spawn(
    process.execPath,
    [
      bin,
      'bench',
      tiny,
      '--rpc',
      victim.endpoint,
      '-ngl',
      '99',
      '-p',
      '0',
      '-n',
      '64',
      '-r',
      '200',
      '-t',
      '1',
      '--no-save',
    ],
    {cwd: root, stdio: ['ignore', 'pipe', 'pipe']},
  )
  let err = ''
  benchProc.stderr!.on('data', (d) => (err += d))
  // kill the server once the bench is connected and running
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the bench never connected')), START_TIMEOUT_MS)
    const poll = setInterval(() => {
      if (/a client connected/.test(victim.stdout())) {
        clearInterval(poll)
        clearTimeout(t)
        setTimeout(resolve, 1500)
      }
    }, 100)
  })
  // the wrapper killed outright: its rpc-server goes with it (no server left behind on the port)
  await stopServer(victim, 'SIGKILL')
  const code = await new Promise<number | null>((resolve, reject) => {
    const t = setTimeout(() => {
      benchProc.kill('SIGKILL')
      reject(new Error(`bench hung after its RPC server died: ${err}`))
    }, 60_000)
    benchProc.on('exit', (c) => {
      clearTimeout(t)
      resolve(c)
    })
  })
  assert.equal(code, 1, err)
  const lines = err.trim().split('\n')
  assert.equal(lines.length, 1, err)
  assert.match(lines[0], new RegExp(`lost the connection to an RPC server: 127\\.0\\.0\\.1:${victim.port}`))
  assert.ok(Date.now() - t0 < 120_000)
  await assert.rejects(rpcServerInfo({host: '127.0.0.1', port: victim.port}, {timeoutMs: 2000}), /connection refused/)
})

test('rpc-server --json: its result when stopped', async () => {
  const port = await freePort()
  const proc = spawn(process.execPath, [bin, 'rpc-server', '--port', String(port), '--json'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  // ready when it answers the protocol
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    try {
      await rpcServerInfo({host: '127.0.0.1', port}, {timeoutMs: 2000})
      break
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((r) => setTimeout(r, 300))
    }
  }
  const code = await stopServer({port, endpoint: '', proc, stdout: () => out}, 'SIGTERM')
  assert.equal(code, 0)
  const res = JSON.parse(out)
  assert.deepEqual(schemaErrors(rpcServerResultSchema, res), [])
  assert.equal(res.endpoint, `127.0.0.1:${port}`)
  assert.equal(res.stoppedBy, 'SIGTERM')
  assert.equal(res.exposed, false)
})
