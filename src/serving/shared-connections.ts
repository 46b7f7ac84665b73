import net, {type Socket} from 'node:net'

/** A process that serves connections handed to it: one of the cluster layout's other HTTP processes (cluster.ts). */
export interface ConnectionPeer {
  /** Hands the connection on; resolves false where it could not (the process is gone), and the caller serves it. */
  hand(socket: Socket): Promise<boolean>
}

/**
 * The cluster layout's port (layout.ts): the first HTTP process listens on it, and hands the connections it accepts
 * round, one in turn to its own server and to each of the other processes that is warm, which serve them. This is what
 * node:cluster's primary does (round-robin, a connection's socket passed over IPC), except that the process that
 * accepts serves its share too: the cluster is ready as soon as that one process is, with no second node process on
 * the way to the first answer (issue 19: cold start).
 *
 * A connection is handed on before a byte of it is read (pauseOnConnect): whoever serves it reads it whole.
 * Keep-alive connections stay where they were handed.
 */
export class SharedConnections {
  private readonly peers = new Map<number, ConnectionPeer>()
  private readonly door: net.Server
  private turn = 0

  /** `serveHere`: this process's own server takes a connection (RunningServer.acceptConnection). */
  constructor(private readonly serveHere: (socket: Socket) => void) {
    // noDelay as node's HTTP server sets it (the socket option goes with the socket to whoever serves it).
    this.door = net.createServer({noDelay: true, pauseOnConnect: true}, (socket) => this.dispatch(socket))
  }

  /** Listens on `host`:`port` (0 picks a free port); resolves with the port. Rejects as net's listen does. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.door.once('error', reject)
      this.door.listen({host, port}, () => {
        this.door.off('error', reject)
        resolve((this.door.address() as net.AddressInfo).port)
      })
    })
  }

  /**
   * Accepts no connection any more. Not awaited: net's close waits for the processes it handed connections to, and
   * never ends once they are all gone; each server drains its own connections (RunningServer.close).
   */
  close(): void {
    if (this.door.listening) this.door.close()
  }

  /** Process `index` is warm: it takes its turn from the next connection on. */
  add(index: number, peer: ConnectionPeer): void {
    this.peers.set(index, peer)
  }

  /** Process `index` stopped, or is stopping: no connection goes to it any more. */
  remove(index: number): void {
    this.peers.delete(index)
  }

  private dispatch(socket: Socket): void {
    const peers = [...this.peers.values()]
    const turn = this.turn++ % (peers.length + 1)
    const peer = turn === 0 ? undefined : peers[turn - 1]
    if (!peer) {
      this.serveHere(socket)
      return
    }
    const fallBack = () => {
      if (!socket.destroyed) this.serveHere(socket)
    }
    void peer.hand(socket).then((handed) => {
      if (!handed) fallBack()
    }, fallBack)
  }
}
