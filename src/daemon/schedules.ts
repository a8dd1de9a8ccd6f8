/** Every periodic task of the coordinator, built from the config (a task may be off). */
import type { Config } from "../config/schema";
import type { Schedule } from "./scheduler";

export function schedulesFor(_config: Config): Schedule[] {
  return [];
}
