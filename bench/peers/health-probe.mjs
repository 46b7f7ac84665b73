// GET URL every 5 ms, one request at a time, for SECONDS; prints {"n", "p50_ms", "p99_ms", "max_ms", "failed"} as JSON.
// usage: node health-probe.mjs http://127.0.0.1:8080/health 8
import http from 'node:http'

const [url, seconds = '8'] = process.argv.slice(2)
const agent = new http.Agent({keepAlive: true, maxSockets: 1})
const end = performance.now() + Number(seconds) * 1000
const times = []
let failed = 0
const once = () =>
  new Promise((resolve) => {
    const start = performance.now()
    const req = http.get(url, {agent, timeout: 5000}, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode === 200) times.push(performance.now() - start)
        else failed++
        resolve()
      })
    })
    req.on('error', () => {
      failed++
      resolve()
    })
  })
while (performance.now() < end) {
  await once()
  await new Promise((resolve) => setTimeout(resolve, 5))
}
times.sort((a, b) => a - b)
const q = (p) => (times.length ? times[Math.min(times.length - 1, Math.floor(p * times.length))] : NaN)
const ms = (value) => +value.toFixed(2)
console.log(JSON.stringify({failed, max_ms: ms(q(1)), n: times.length, p50_ms: ms(q(0.5)), p99_ms: ms(q(0.99))}))
agent.destroy()
