/**
 * The child-process side of `check-plan` and of probe's engine device list (worker.ts dispatches
 * here). Check: load the model once with the plan's placement, then create (and free) one context
 * per entry; no decoding, so a software Vulkan device (llvmpipe) answers in well under a second
 * per context. Every context's llama.cpp log (KV and compute buffer sizes) goes back to the CLI.
 */
import type {ChildEvent, CheckJob, DevicesJob} from './protocol.js'
import {initEngine, type LlamaModel} from '../engine/engine.js'

type Send = (e: ChildEvent) => Promise<void>

export async function checkJob(job: CheckJob, load: (job: CheckJob) => Promise<LlamaModel>, send: Send): Promise<void> {
  const model = await load(job)
  const out: Array<{nCtx: number; nUbatch: number; log: string[]}> = []
  try {
    for (let i = 0; i < job.contexts.length; i++) {
      const ctx = await model.createContext(job.contexts[i])
      try {
        out.push({nCtx: ctx.config.nCtx, nUbatch: ctx.config.nUbatch, log: ctx.log})
        await send({type: 'context', test: i, ...ctx.config, log: ctx.log})
      } finally {
        ctx.dispose()
      }
    }
  } finally {
    model.dispose()
  }
  await send({type: 'check-done', contexts: out})
}

export async function devicesJob(job: DevicesJob, send: Send): Promise<void> {
  const init = await initEngine(job.setup)
  await send({type: 'devices-done', ...init})
}
