/** `policy validate` behind the API: the CLI only renders (`policy show`: env/policy-view.ts). */
import { POLICY_FILE } from "./load";
import { checkPolicy } from "./schema";
import type { PolicyValidation } from "./view";

export function validatePolicy(text: string, file = POLICY_FILE): PolicyValidation {
  const checked = checkPolicy(text, file);
  return checked.ok
    ? { ok: true, problems: [], policy: checked.policy }
    : { ok: false, problems: checked.problems, policy: null };
}
