/** Every job kind the daemon can run. */
import type { AnyJobDef } from "../jobs/define";

export const JOB_KINDS: AnyJobDef[] = [];
