/**
 * One job per lock key at a time inside one process. An agent runs two runners — jobs leased
 * from the coordinator and its own scheduled backups (src/daemon/agent-local.ts) — and the
 * coordinator's per-env lock only sees the first: both take this gate on the env's key, so a
 * scheduled backup never runs beside a deploy of the same env.
 */
export class KeyGate {
  private readonly tails = new Map<string, Promise<void>>();

  /** Resolves once every earlier holder of `key` released it; call the returned function to release. */
  async acquire(key: string): Promise<() => void> {
    const before = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.tails.set(key, tail);
    await before;
    return () => {
      release();
      // The last holder leaves no entry behind.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
  }
}
