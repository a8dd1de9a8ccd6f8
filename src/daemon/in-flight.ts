/**
 * The requests a daemon's listeners are still answering. Stopping a Bun server closes its
 * connections but leaves their handlers running: a shutdown waits for them (`drain`) before it
 * closes what they use, the state database. `signal` is aborted when the drain begins, so a long
 * poll (an agent's lease) ends then instead of at its deadline.
 */
export class InFlight {
  private readonly running = new Set<Promise<Response>>();
  private readonly closing = new AbortController();
  readonly signal = this.closing.signal;

  /** `fetch`, each call counted until its response is there (a streamed body is not waited for). */
  wrap<A extends unknown[]>(fetch: (req: Request, ...rest: A) => Response | Promise<Response>) {
    return (req: Request, ...rest: A): Promise<Response> => {
      // Called at once (not a tick later); a throw becomes a rejected answer, as Bun expects.
      const answer = (async () => fetch(req, ...rest))();
      this.running.add(answer);
      const done = () => void this.running.delete(answer);
      answer.then(done, done);
      return answer;
    };
  }

  /** Ends the long polls and resolves once every handler has returned (failed ones too). */
  async drain(): Promise<void> {
    this.closing.abort();
    await Promise.allSettled([...this.running]);
  }
}
