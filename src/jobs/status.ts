/** Job states that never change again. Kept free of schema libraries: the CLI loads it at start. */
export const TERMINAL: ReadonlySet<string> = new Set(["succeeded", "failed", "cancelled"]);
