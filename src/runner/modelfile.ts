/**
 * Check a GGUF in TS before any native code touches it (src/model/gguf.ts reads the header and
 * refuses truncated files, wrong magic, absurd counts with one E_GGUF_* line), so that the common
 * bad inputs never reach llama.cpp, where they could abort the process.
 */
import {basename} from 'node:path'
import {readGguf, type GgufModel} from '../model/gguf.js'
import {MoerigError} from '../lib/errors.js'

export interface ModelFile {
  path: string
  gguf: GgufModel
  /** general.name or the file name without .gguf */
  name: string
}

export async function checkModelFile(path: string): Promise<ModelFile> {
  const gguf = await readGguf(path)
  if (gguf.tensors.length === 0)
    throw new MoerigError(
      'E_GGUF_EMPTY',
      `${path}: has no tensors (a vocabulary-only GGUF?); bench and run need a complete model`,
    )
  const meta = gguf.metadata['general.name']
  const name = typeof meta === 'string' && meta.trim() ? meta.trim() : basename(path).replace(/\.gguf$/i, '')
  return {path, gguf, name}
}
