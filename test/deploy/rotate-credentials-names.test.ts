/** The rotation's second login: a valid PostgreSQL identifier for every env role name, distinct per role. */
import { describe, expect, test } from "bun:test";
import { aliasOf } from "../../src/deploy/rotate-credentials";
import { dbIdentifier } from "../../src/env/naming";
import { IDENT } from "../../src/host/postgres";

describe("aliasOf", () => {
  test("short roles get _rot; roles at the limit stay within 63 characters and distinct", () => {
    expect(aliasOf("odoo_shop")).toBe("odoo_shop_rot");
    const a = dbIdentifier(`a${"x".repeat(62)}`);
    const b = dbIdentifier(`b${"x".repeat(62)}`);
    const c = dbIdentifier(`${"x".repeat(62)}a`);
    const aliases = [a, b, c].map(aliasOf);
    for (const alias of aliases) {
      expect(alias).toMatch(IDENT);
      expect(alias.length).toBeLessThanOrEqual(63);
    }
    expect(new Set(aliases).size).toBe(3);
    expect(aliasOf("o".repeat(59))).toBe(`${"o".repeat(59)}_rot`);
    expect(aliasOf("o".repeat(60))).toMatch(/^o{50}_rot_[0-9a-f]{8}$/);
  });
});
