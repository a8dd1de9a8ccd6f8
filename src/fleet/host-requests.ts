/**
 * Requests for agents that wait until the agent's own lease long-poll takes them: the
 * coordinator never opens a connection to an agent (issue #16). One queue per host, and the
 * long-polls of that host woken when a request arrives. Shared by the log relay and the
 * transfer relay, which keep their own sessions and timers around it.
 */
export class HostRequests<T> {
  private readonly pending = new Map<string, T[]>();
  private readonly listeners = new Map<string, Set<() => void>>();

  /** Queues `request` for `hostId` and wakes that host's waiting long-polls. */
  push(hostId: string, request: T): void {
    const queue = this.pending.get(hostId) ?? [];
    queue.push(request);
    this.pending.set(hostId, queue);
    for (const wake of this.listeners.get(hostId) ?? []) wake();
  }

  /** The next request for this host, oldest first; null when none waits. */
  take(hostId: string): T | null {
    const queue = this.pending.get(hostId);
    const request = queue?.shift() ?? null;
    if (queue?.length === 0) this.pending.delete(hostId);
    return request;
  }

  /** Withdraws the not-yet-taken requests of `hostId` that match (their reader or download is gone). */
  remove(hostId: string, match: (request: T) => boolean): void {
    const rest = this.pending.get(hostId)?.filter((r) => !match(r));
    if (rest?.length) this.pending.set(hostId, rest);
    else this.pending.delete(hostId);
  }

  /** Wakes a lease long-poll of `hostId` when a request arrives for it; returns the unsubscribe. */
  onRequested(hostId: string, wake: () => void): () => void {
    const set = this.listeners.get(hostId) ?? new Set();
    set.add(wake);
    this.listeners.set(hostId, set);
    return () => {
      set.delete(wake);
      if (set.size === 0) this.listeners.delete(hostId);
    };
  }
}
