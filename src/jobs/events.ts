/**
 * In-process fan-out of job progress to SSE subscribers. The queue (coordinator side) emits;
 * a remote agent's reports go through the same queue methods, so they reach subscribers too.
 */
import type { JobStreamEvent } from "./view";

type Listener = (ev: JobStreamEvent) => void;

export class JobEvents {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly queuedListeners = new Set<() => void>();
  private readonly cancelListeners = new Set<(jobId: string) => void>();
  private readonly statusListeners = new Set<(jobId: string, ev: Extract<JobStreamEvent, { type: "job" }>) => void>();

  subscribe(jobId: string, fn: Listener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) {
      set = new Set();
      this.listeners.set(jobId, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  emit(jobId: string, ev: JobStreamEvent): void {
    for (const fn of this.listeners.get(jobId) ?? []) fn(ev);
    if (ev.type === "job") for (const fn of this.statusListeners) fn(jobId, ev);
  }

  /** Every job's status changes (the audit log records the outcomes). */
  onStatus(fn: (jobId: string, ev: Extract<JobStreamEvent, { type: "job" }>) => void): () => void {
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }

  /** Work became available (a job was queued or a lock was released): wakes idle agents. */
  onQueued(fn: () => void): () => void {
    this.queuedListeners.add(fn);
    return () => this.queuedListeners.delete(fn);
  }

  queued(): void {
    for (const fn of this.queuedListeners) fn();
  }

  /** A running job was asked to stop: a runner in this process aborts it now, not at its next heartbeat. */
  onCancelRequested(fn: (jobId: string) => void): () => void {
    this.cancelListeners.add(fn);
    return () => this.cancelListeners.delete(fn);
  }

  cancelRequested(jobId: string): void {
    for (const fn of this.cancelListeners) fn(jobId);
  }
}
