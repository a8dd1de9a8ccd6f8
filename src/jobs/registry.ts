/** Job kinds by name; the daemon registers every kind it can run. */
import type { AnyJobDef } from "./define";

export class JobRegistry {
  private readonly kinds = new Map<string, AnyJobDef>();

  constructor(defs: AnyJobDef[] = []) {
    for (const d of defs) this.add(d);
  }

  add(def: AnyJobDef): this {
    if (this.kinds.has(def.kind)) throw new Error(`job kind ${def.kind} registered twice`);
    this.kinds.set(def.kind, def);
    return this;
  }

  get(kind: string): AnyJobDef | undefined {
    return this.kinds.get(kind);
  }
}
