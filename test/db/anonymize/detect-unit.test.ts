/** Pure parts of detect (heuristics) and the dry run (the counting SQL, exactly). */
import { describe, expect, test } from "bun:test";
import { mergeRuleLayers, parseRulesOverride } from "../../../src/db/anonymize-rules";
import {
  contentSignal,
  coveredBy,
  looksLikeEmail,
  looksLikePhone,
  personalByContent,
  personalByName,
} from "../../../src/db/anonymize/detect";
import { previewQuery } from "../../../src/db/anonymize/dry-run";
import { loadAnonymizeRules } from "../../../src/db/backup";

describe("personalByName", () => {
  test.each([
    ["res_partner", "x_private_mail", "e-mail"],
    ["x_contact", "partner_email", "e-mail"],
    ["hr_employee", "emergency_phone", "phone"],
    ["x_shop", "delivery_street2", "address"],
    ["x_shop", "billing_zip", "address"],
    ["ir_mail_server", "smtp_pass", "credential"],
    ["payment_provider", "stripe_secret_key", "credential"],
    ["x_api", "api_key", "credential"],
    ["res_partner_bank", "acc_number", "bank account"],
    ["x_visit", "client_ip", "ip address"],
    ["hr_employee", "place_of_birth", "birth date"],
    ["hr_employee", "identification_id", "national id"],
    ["x_loyalty", "holder_name", "name"],
    ["x_member", "lastname", "name"],
    ["res_partner", "name", "name"],
    ["hr_applicant", "name", "name"],
    ["x_sale", "customer_name", "name"],
  ])("%s.%s: %s", (table, column, kind) => {
    expect(personalByName(table, column)).toBe(kind);
  });

  test.each([
    ["ir_model", "name"],
    ["ir_ui_view", "arch_db"],
    ["product_template", "name"],
    ["res_country", "code"],
    ["ir_model_fields", "model_name"],
    ["x_shop", "passed_checks"],
    ["x_shop", "zipper_size"],
    ["ir_config_parameter", "key"],
  ])("%s.%s: not personal by name", (table, column) => {
    expect(personalByName(table, column)).toBeNull();
  });
});

describe("content heuristics", () => {
  test("e-mail addresses, also encoded", () => {
    for (const v of [
      "jane@example.com",
      "<p>write to J. Roe &lt;jane.roe@mail.example.org&gt;</p>",
      "mailto:jane%40example.com",
      "jane&#64;example.com",
    ])
      expect(looksLikeEmail(v)).toBe(true);
    for (const v of ["@home", "a@b", "user at example dot com", "price: 10 @ 5"]) expect(looksLikeEmail(v)).toBe(false);
  });

  test("phone numbers by shape; dates, plain numbers and short numbers are not", () => {
    for (const v of ["+32 475 12 34 56", "(870)-931-0505", "call 0475/12.34.56 after 5", "+1 870-931-0506"])
      expect(looksLikePhone(v)).toBe(true);
    for (const v of ["2024-01-02 10:11:12", "12345678901", "order 123-45", "v17.0.1.3", "amount 1 234"])
      expect(looksLikePhone(v)).toBe(false);
  });

  test("signal and verdict: any e-mail; phones from two values on", () => {
    expect(contentSignal(["a@x.org", null, "+32 475 12 34 56", "plain"])).toEqual({ emails: 1, phones: 1, sampled: 3 });
    expect(personalByContent({ emails: 1, phones: 1, sampled: 3 })).toBe(
      "1 of 3 sampled values hold an e-mail address",
    );
    expect(personalByContent({ emails: 0, phones: 1, sampled: 3 })).toBeNull();
    expect(personalByContent({ emails: 0, phones: 2, sampled: 9 })).toBe("2 of 9 sampled values hold a phone number");
    expect(personalByContent({ emails: 0, phones: 0, sampled: 0 })).toBeNull();
  });
});

describe("coveredBy", () => {
  const rules = mergeRuleLayers([
    {
      override: parseRulesOverride(
        "tables:\n  res_partner:\n    columns:\n      street: { keep: true }\n  mail_message:\n    enabled: false\npiiCheck:\n  exclude: [x_t.kept]\n",
        "r",
      ),
      source: "r",
    },
  ]).rules;
  test("a rule covers; keep, a disabled table, no rule do not; an exclusion counts as decided", () => {
    expect(coveredBy(rules, "res_partner", "email")).toBe(true);
    expect(coveredBy(rules, "res_partner", "street")).toBe(false);
    expect(coveredBy(rules, "mail_message", "body")).toBe(false);
    expect(coveredBy(rules, "res_partner", "x_custom")).toBe(false);
    expect(coveredBy(rules, "x_t", "kept")).toBe(true);
  });
});

describe("previewQuery", () => {
  test("one counting query per table: constants as parameters, kept and missing columns left out", () => {
    const q = previewQuery("res_partner", new Set(["id", "email", "phone", "street", "login", "ref"]), {
      email: { fake: "email" },
      phone: { set: null },
      ref: { set: "X" },
      street: { keep: true },
      vat: { set: null },
      login: { fake: "login" },
      comment: { template: "c-{id}" },
    });
    expect(q.sql).toBe(
      'SELECT count(*)::bigint AS n, count(*) FILTER (WHERE "email" IS NOT NULL AND "email"::text <> \'\')::bigint AS c0, ' +
        'count(*) FILTER (WHERE "phone"::text IS DISTINCT FROM $1::text)::bigint AS c1, ' +
        'count(*) FILTER (WHERE "ref"::text IS DISTINCT FROM $2::text)::bigint AS c2, ' +
        'count(*) FILTER (WHERE "login"::text LIKE \'%@%\')::bigint AS c3 FROM public."res_partner"',
    );
    expect(q.params).toEqual([null, "X"]);
    expect(q.columns).toEqual([
      { column: "email", rule: "fake" },
      { column: "phone", rule: "set" },
      { column: "ref", rule: "set" },
      { column: "login", rule: "fake" },
    ]);
    expect(q.missing).toEqual(["vat", "comment"]);
  });

  test("templates: onlyIfEmail counts addresses, others every non-NULL value; devPassword every hash", () => {
    const q = previewQuery("t", new Set(["a", "b", "p"]), {
      a: { template: "x-{id}", onlyIfEmail: true },
      b: { template: "y" },
      p: { devPassword: true },
    });
    expect(q.sql).toBe(
      'SELECT count(*)::bigint AS n, count(*) FILTER (WHERE "a"::text LIKE \'%@%\')::bigint AS c0, count(*) FILTER (WHERE "b" IS NOT NULL)::bigint AS c1, count(*) FILTER (WHERE "p" IS NOT NULL)::bigint AS c2 FROM public."t"',
    );
  });

  test("the shipped defaults parse, and every rule names a plain identifier (no quoting surprises)", () => {
    const rules = loadAnonymizeRules();
    for (const [table, t] of Object.entries(rules.tables)) {
      expect(table).toMatch(/^[a-z_][a-z0-9_]*$/);
      for (const c of Object.keys(t.columns)) expect(c).toMatch(/^[a-z_][a-z0-9_]*$/);
    }
    expect(Object.keys(rules.tables).length).toBeGreaterThanOrEqual(25);
  });
});
