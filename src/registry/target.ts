import {loadConfig, type LoadedConfig} from '../config/load.js'
import {type RegistryTarget, resolveRegistryTarget, parseRegistryFlag} from './reference.js'

/**
 * The registry target of a command: `--registry` wins and then model.yaml is optional (versions and rollback work
 * from any directory); without it, model.yaml's `registry:` section.
 */
export async function targetForDir(
  dir: string,
  registryFlag: string | undefined,
): Promise<{target: RegistryTarget; loaded?: LoadedConfig}> {
  if (registryFlag) {
    const target = parseRegistryFlag(registryFlag)
    const loaded = await loadConfig(dir).catch(() => undefined)
    return {loaded, target}
  }
  const loaded = await loadConfig(dir)
  return {loaded, target: resolveRegistryTarget(loaded.config, undefined, loaded.file)}
}
