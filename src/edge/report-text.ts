import path from 'node:path'

import {formatBytes} from '../util/bytes.js'
import type {BuildNodeFolderResult} from './node-folder.js'

/** `build --target node`: what was written for which platform, its size, and how to run it on the device. */
export function nodeFolderText(result: BuildNodeFolderResult): string {
  const runtime = `onnxruntime-node ${result.onnxruntimeVersion}`
  return [
    `Wrote ${result.name}@${result.version} for plain Node.js on ${result.platform} to ${result.outputDir}`,
    `  size     ${formatBytes(result.sizeBytes)} in ${result.files.length} files (${runtime})`,
    `\nCopy the folder to the device and run: ${path.basename(result.outputDir)}/start.sh  (Node.js 20.12+)`,
  ].join('\n')
}
