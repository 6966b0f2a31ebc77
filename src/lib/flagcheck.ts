import {USAGE_EXIT} from './command.js'
import {MoerigError} from './errors.js'

/**
 * Cross-flag checks that oclif's per-flag min/max cannot express. Call right after parse; each
 * throws one MoerigError line naming both flags and their values.
 */

/**
 * The physical batch (llama.cpp -ub) is a slice of the logical batch (-b): ubatch > batch would be
 * silently cut to batch by llama.cpp, so a plan or a bench row would record a size that never ran.
 * `names` are the flags as the command spells them.
 */
export function assertUbatchWithinBatch(
  ubatch: number | undefined,
  batch: number | undefined,
  names: {ubatch: string; batch: string} = {ubatch: '--ubatch-size', batch: '--batch-size'},
): void {
  if (ubatch !== undefined && batch !== undefined && ubatch > batch) {
    throw new MoerigError(
      'E_USAGE',
      `${names.ubatch} ${ubatch} is larger than ${names.batch} ${batch}: the physical batch must be ≤ the logical batch (lower ${names.ubatch} or raise ${names.batch})`,
      USAGE_EXIT,
    )
  }
}
