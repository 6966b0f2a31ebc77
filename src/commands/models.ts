import {MoerigCommand} from '../lib/command.js'
import {listModels, renderModels} from '../planner/models.js'
import {modelsListSchema, type ModelsList} from '../schemas/model.js'
import {assertValid} from '../schemas/validate.js'

export default class Models extends MoerigCommand {
  static override summary = 'List catalog models and their quants with computed (and published) file sizes'

  static override description =
    'The catalog lives in profiles/models/ (published hyper-parameters with sources). Sizes are computed tensor by tensor with llama-quantize v0.4.0 rules; where a published GGUF exists its size is shown beside.'

  static override examples = ['<%= config.bin %> models', '<%= config.bin %> models --json']

  async run(): Promise<ModelsList> {
    await this.parse(Models)
    const list = assertValid<ModelsList>(modelsListSchema, listModels(), 'models list')
    for (const line of renderModels(list)) this.log(line)
    return list
  }
}
