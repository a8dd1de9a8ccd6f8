export { renderUnit, UNIT_FILE, UNIT_NAME, type UnitSpec } from "./unit";
export { parseUnitState, systemctl, type UnitState, verifyUnit } from "./commands";
export { systemdBooted, writeUnitFile } from "./ops";
