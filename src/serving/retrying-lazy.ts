/**
 * `create`, called on first use and its promise shared by every caller after; a rejected promise is forgotten, so the
 * next caller tries again (a `??=` on the promise would keep a failure, and every later call would fail with it).
 */
export function retryingLazy<T>(create: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined
  return () => {
    if (pending) return pending
    const created = create()
    pending = created
    created.catch(() => {
      if (pending === created) pending = undefined
    })
    return created
  }
}
