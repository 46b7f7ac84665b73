import {describe, expect, it} from 'vitest'

import {median, soakVerdict, windowGrowth} from './soak-growth.js'

/** One point every 2 s from 0 to 120 s, the value given by `at`. */
function series(at: (tMs: number) => number) {
  return Array.from({length: 61}, (_, index) => ({tMs: index * 2000, value: at(index * 2000)}))
}

const quick = {endMs: 120_000, fromMs: 30_000, limitPercent: 5, windows: 3}

describe('windowGrowth', () => {
  it('passes the CI run that failed: one 9 MB step at 64 s, then flat (+8.6% first to last minute)', () => {
    const growth = windowGrowth(
      series((t) => (t < 64_000 ? 157e6 : 170e6)),
      quick,
    )
    expect(growth.totalPercent).toBeGreaterThan(5)
    expect(growth.sustained).toBe(false)
    expect(growth.leaking).toBe(false)
  })

  it('fails a leak that goes on: 10% a minute', () => {
    const growth = windowGrowth(
      series((t) => 150e6 * (1 + (0.1 * t) / 60_000)),
      quick,
    )
    expect(growth.sustained).toBe(true)
    expect(growth.leaking).toBe(true)
    expect(growth.stepsPercent.every((step) => step > 2)).toBe(true)
  })

  it('passes slow growth under the limit', () => {
    expect(
      windowGrowth(
        series((t) => 150e6 * (1 + (0.01 * t) / 60_000)),
        quick,
      ).leaking,
    ).toBe(false)
  })

  it('fails a step above three times the limit even when it does not go on', () => {
    const growth = windowGrowth(
      series((t) => (t < 64_000 ? 150e6 : 180e6)),
      quick,
    )
    expect(growth.sustained).toBe(false)
    expect(growth.leaking).toBe(true)
  })

  it('does not call a shrinking series a leak, and takes medians so one GC spike does not decide', () => {
    expect(
      windowGrowth(
        series((t) => 200e6 - t * 100),
        quick,
      ).leaking,
    ).toBe(false)
    const spiky = series((t) => (t % 10_000 === 0 ? 400e6 : 150e6))
    expect(windowGrowth(spiky, quick).medians).toEqual([150e6, 150e6, 150e6])
  })

  it('says which window had no sample', () => {
    expect(() => windowGrowth([{tMs: 0, value: 1}], quick)).toThrow(/no sample between 30.0 s and 60.0 s/)
  })
})

describe('soakVerdict', () => {
  // The samples of the CI run that failed (2 min at 800 req/s, one every 2 s): minutes, RSS MB, heap in use MB.
  const failedInCi = (
    '0.0 359.6 59.6;0.1 363.5 57.8;0.1 364.5 63.0;0.1 366.3 61.6;0.2 365.8 61.3;0.2 367.3 64.5;0.2 369.5 64.1;' +
    '0.3 369.8 69.6;0.3 370.9 63.8;0.3 372.2 56.3;0.4 371.4 55.7;0.4 371.5 55.8;0.4 372.5 62.7;0.5 371.6 62.3;' +
    '0.5 373.1 62.2;0.5 374.3 62.3;0.6 378.9 55.9;0.6 379.0 55.4;0.6 380.2 61.6;0.7 379.4 61.5;0.7 375.9 57.4;' +
    '0.7 377.0 57.1;0.8 377.2 63.6;0.8 376.5 63.1;0.8 377.6 62.9;0.9 376.8 62.2;0.9 377.9 62.1;0.9 380.0 68.6;' +
    '1.0 379.9 59.2;1.0 380.0 58.8;1.0 381.1 58.8;1.1 380.5 64.9;1.1 380.7 71.1;1.1 382.0 70.2;1.2 381.3 70.2;' +
    '1.2 381.5 69.9;1.2 382.6 69.6;1.3 381.0 60.6;1.3 381.2 67.0;1.3 382.2 66.6;1.4 381.5 66.7;1.4 381.7 66.5;' +
    '1.4 382.8 66.4;1.5 382.8 72.7;1.5 382.8 72.6;1.5 384.1 63.6;1.6 383.3 69.9;1.6 383.5 69.7;1.6 384.6 69.4;' +
    '1.7 383.8 75.9;1.7 384.0 75.6;1.7 385.8 68.6;1.8 384.3 75.1;1.8 383.2 68.7;1.8 384.2 68.3;1.9 383.5 68.2;' +
    '1.9 383.7 74.5;1.9 384.6 65.9;2.0 383.8 66.0;2.0 383.9 66.0'
  )
    .split(';')
    // The log rounds minutes to one decimal; the first sample was taken at 2 s, the others 2 s apart.
    .map((line, index) => ({
      heap: Number(line.split(' ')[2]) * 1e6,
      rss: Number(line.split(' ')[1]) * 1e6,
      tMs: (index + 1) * 2000,
    }))
  const judged = (key: 'heap' | 'rss') =>
    windowGrowth(
      failedInCi.map((sample) => ({tMs: sample.tMs, value: sample[key]})),
      quick,
    )

  it('passes the quick CI run whose heap rose in every window before its first full collection (+11%)', () => {
    expect(judged('heap').leaking).toBe(true)
    expect(judged('rss').leaking).toBe(false)
    expect(soakVerdict(judged('rss'), judged('heap'), {limitPercent: 5, quick: true})).toEqual({
      heapJudged: false,
      leaking: false,
      residentJudged: 'rss',
    })
  })

  it('judges the heap in the long run, and resident memory in both', () => {
    expect(soakVerdict(judged('rss'), judged('heap'), {limitPercent: 5, quick: false})).toEqual({
      heapJudged: true,
      leaking: true,
      residentJudged: 'rss',
    })
    const leakingRss = windowGrowth(
      series((t) => 380e6 * (1 + (0.1 * t) / 60_000)),
      quick,
    )
    expect(soakVerdict(leakingRss, judged('heap'), {limitPercent: 5, quick: true}).leaking).toBe(true)
  })
})

describe("soakVerdict of a quick run with V8's committed heap sampled", () => {
  // A clean 3-minute run of the container at 800 req/s (2 processes), one sample every 2 s: seconds, RSS MB, V8's
  // committed heap MB (nodejs_heap_size_total_bytes). RSS steps up with the committed heap (at 22, 84 and 172 s).
  const cleanRun = (
    '2 216.6 43.7;4 217.6 44.0;6 217.9 44.0;8 218.1 44.5;10 218.6 45.3;12 219.7 50.0;14 223.4 50.8;' +
    '16 225.5 51.3;18 226.7 52.1;20 228.1 53.1;22 234.0 61.5;24 234.1 61.5;26 235.1 61.5;28 235.1 61.5;' +
    '30 235.4 61.5;32 235.4 61.5;34 235.5 61.5;36 235.5 61.5;38 235.7 61.5;40 235.8 61.5;42 235.9 61.8;' +
    '44 235.9 61.8;46 235.9 61.8;48 236.0 61.8;50 236.9 61.8;52 236.9 61.8;54 236.9 61.8;56 236.9 61.8;' +
    '58 237.1 61.8;60 237.2 61.8;62 237.2 61.8;64 235.9 60.8;66 235.9 60.8;68 236.0 61.5;70 236.2 61.5;' +
    '72 236.3 61.5;74 236.5 61.5;76 236.8 62.3;78 236.9 62.3;80 237.0 62.3;82 237.1 62.6;84 243.9 79.6;' +
    '86 249.9 79.9;88 250.0 79.9;90 250.3 80.4;92 250.4 80.4;94 250.6 80.4;96 250.7 80.4;98 250.9 80.7;' +
    '100 251.2 81.2;102 251.3 81.2;104 251.8 81.5;106 252.0 81.5;108 252.2 81.5;110 252.4 81.7;' +
    '112 252.6 82.0;114 252.8 83.0;116 253.0 83.0;118 253.0 82.2;120 253.0 82.2;122 253.0 82.2;' +
    '124 253.0 82.2;126 253.0 82.2;128 253.0 82.2;130 253.0 82.2;132 253.1 82.2;134 253.1 82.2;' +
    '136 253.1 82.2;138 253.1 82.2;140 253.1 82.2;142 253.1 82.2;144 253.1 82.2;146 253.3 82.5;' +
    '148 253.4 82.5;150 253.4 82.5;152 253.4 82.5;154 253.4 82.5;156 253.4 82.5;158 253.5 82.5;' +
    '160 254.2 82.5;162 254.2 82.5;164 254.2 82.5;166 254.2 82.5;168 254.2 82.5;170 254.2 82.5;' +
    '172 256.3 90.9;174 259.0 90.9;176 260.4 90.9;178 260.4 90.9;180 260.5 90.9'
  )
    .split(';')
    .map((line) => line.split(' ').map(Number) as [number, number, number])
  const window = {endMs: 180_000, fromMs: 60_000, limitPercent: 5, windows: 3}
  const growthOf = (value: (rssMb: number, heapTotalMb: number) => number) =>
    windowGrowth(
      cleanRun.map(([seconds, rssMb, heapTotalMb]) => ({tMs: seconds * 1000, value: value(rssMb, heapTotalMb)})),
      window,
    )
  const flatHeap = growthOf(() => 40)

  it("passes RSS that grew past the limit with V8's committed heap alone", () => {
    const rss = growthOf((rssMb) => rssMb)
    const outsideHeap = growthOf((rssMb, heapTotalMb) => rssMb - heapTotalMb)
    expect(rss.totalPercent).toBeGreaterThan(5)
    expect(outsideHeap.totalPercent).toBeLessThan(0)
    expect(soakVerdict(rss, flatHeap, {limitPercent: 5, outsideHeap, quick: true})).toEqual({
      heapJudged: false,
      leaking: false,
      residentJudged: 'outside-heap',
    })
  })

  it('fails memory outside the heap that grows in every window (a native leak), and RSS past three times the limit', () => {
    const rss = growthOf((rssMb) => rssMb)
    const outsideHeap = growthOf((rssMb, heapTotalMb) => rssMb - heapTotalMb)
    // The same run with 10 MB a minute more outside the heap, in every sample.
    const nativeLeak = windowGrowth(
      cleanRun.map(([seconds, rssMb, heapTotalMb]) => ({
        tMs: seconds * 1000,
        value: rssMb - heapTotalMb + seconds / 6,
      })),
      window,
    )
    expect(soakVerdict(rss, flatHeap, {limitPercent: 5, outsideHeap: nativeLeak, quick: true}).leaking).toBe(true)
    // RSS rising 10% a minute (a fast leak of the JS heap: V8 commits what it holds), nothing outside the heap.
    const fastLeak = windowGrowth(
      cleanRun.map(([seconds, rssMb]) => ({tMs: seconds * 1000, value: rssMb * (1 + seconds / 600)})),
      window,
    )
    expect(fastLeak.totalPercent).toBeGreaterThan(15)
    expect(soakVerdict(fastLeak, flatHeap, {limitPercent: 5, outsideHeap, quick: true}).leaking).toBe(true)
  })
})

describe('median', () => {
  it('takes the middle, or the mean of the two middles', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 2, 3])).toBe(2.5)
  })
})
