import {describe, expect, it} from 'vitest'

import {InFlight, type Linked} from './in-flight.js'

interface Item extends Linked<Item> {
  name: string
}

const item = (name: string): Item => ({name})
const names = (list: InFlight<Item>) => [...list].map((i) => i.name)

describe('InFlight', () => {
  it('keeps items in the order they came, takes out any of them, and counts them', () => {
    const list = new InFlight<Item>()
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(item) as [Item, Item, Item, Item]
    for (const i of [a, b, c, d]) list.add(i)
    expect(names(list)).toEqual(['a', 'b', 'c', 'd'])
    expect(list.delete(b)).toBe(true)
    expect(list.delete(a)).toBe(true)
    expect(list.delete(d)).toBe(true)
    expect(names(list)).toEqual(['c'])
    expect(list.size).toBe(1)
    list.add(a)
    expect(names(list)).toEqual(['c', 'a'])
    expect(list.delete(c) && list.delete(a)).toBe(true)
    expect(names(list)).toEqual([])
    expect(list.size).toBe(0)
  })

  it('ignores an item added twice or taken out twice', () => {
    const list = new InFlight<Item>()
    const a = item('a')
    list.add(a)
    list.add(a)
    expect(list.size).toBe(1)
    expect(list.delete(a)).toBe(true)
    expect(list.delete(a)).toBe(false)
    expect(list.delete(item('never added'))).toBe(false)
    expect(list.size).toBe(0)
  })

  it('lets go of the items it takes out (no links left to the rest), and may be changed while iterated', () => {
    const list = new InFlight<Item>()
    const items = ['a', 'b', 'c'].map(item)
    for (const i of items) list.add(i)
    for (const i of list) list.delete(i)
    expect(list.size).toBe(0)
    for (const i of items) expect([i.previous, i.next]).toEqual([undefined, undefined])
  })
})
