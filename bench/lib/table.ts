/** Plain fixed-width tables on stdout, so results paste into bench/README.md unchanged. */

export function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(`\n${title}\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

/** "ok" / "MISSED" against a target, so a regression stands out without asserting anything. */
export function verdict(met: boolean): string {
  return met ? "ok" : "MISSED";
}
