export { renderUnit, UNIT_FILE, UNIT_NAME, type UnitSpec } from "./unit";
export { systemctl, verifyUnit } from "./commands";
export { systemdBooted, writeUnitFile } from "./ops";
