import {runCommand} from '@oclif/test'
import {describe, expect, it} from 'vitest'

describe('mlship bench --ui flags', () => {
  it('refuses --port without --ui, and --fail-below with it (exit 2)', async () => {
    const args = ['bench', '--url', 'http://127.0.0.1:9/predict', '--payload', 'body.json']
    const port = await runCommand([...args, '--port', '8999'])
    expect(port.error?.oclif?.exit).toBe(2)
    expect(port.error?.message).toMatch(/--port: --ui/)
    const gate = await runCommand([...args, '--ui', '--fail-below', '10'])
    expect(gate.error?.oclif?.exit).toBe(2)
    expect(gate.error?.message).toMatch(/--fail-below/)
  })
})
