/**
 * Text a tenant controls (its Odoo's output, its addons' tests, its health answers, its commits)
 * made safe to show on an operator's terminal. A terminal obeys what it is sent: escape sequences
 * can rewrite earlier lines, set the window title, plant a hyperlink (OSC 8) or write the
 * clipboard (OSC 52), and bidi or zero-width characters reorder or hide what is shown. Everything
 * that is stored for display (job logs, failure reasons, API error messages) passes here first,
 * so no reader of it (CLI, `--json`, the console, SSE) has to filter again.
 */

/**
 * Control strings (OSC, DCS, SOS, PM, APC, by ESC or their C1 byte): the payload up to its
 * terminator (BEL, ST) or the end of the line, so an unterminated one cannot swallow later lines.
 */
const CONTROL_STRING =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these patterns exist to find terminal controls
  /(?:\u001b[\]PX^_]|[\u0090\u0098\u009d\u009e\u009f])[^\u0007\u001b\u009c\n]*(?:\u0007|\u001b\\|\u009c)?/g;
/** CSI (ESC [ or its C1 byte): parameters, intermediates, final byte (cursor moves, colours, erase). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these patterns exist to find terminal controls
const CSI = /(?:\u001b\[|\u009b)[\u0030-\u003f]*[\u0020-\u002f]*[\u0040-\u007e]?/g;
/** Any other escape sequence: ESC, intermediates, final byte (ESC c resets the terminal, ESC 7 saves the cursor). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these patterns exist to find terminal controls
const ESCAPE = /\u001b[\u0020-\u002f]*[\u0030-\u007e]?/g;
/**
 * What is left to drop: C0 controls but tab and newline, DEL, C1 controls, and format characters
 * (\p{Cf}: bidi overrides and isolates, LRM/RLM, zero-width characters, BOM, tag characters).
 */
const INVISIBLE = /(?![\t\n])[\p{Cc}\p{Cf}]/gu;

/**
 * `text` without anything a terminal would act on: escape sequences are removed whole (not only
 * their ESC, which would leave `[2J` litter), a carriage return inside the text becomes a newline
 * (so a line cannot be overwritten by what follows it on the same line) while one ending the text
 * (a CRLF line split at LF) is dropped, and the remaining controls and format characters are
 * dropped. Tabs and newlines stay.
 */
export function displayText(text: string): string {
  return text
    .replace(CONTROL_STRING, "")
    .replace(CSI, "")
    .replace(ESCAPE, "")
    .replace(/\r+$/, "")
    .replace(/\r\n?/g, "\n")
    .replace(INVISIBLE, "");
}

/** `text` cut to at most `max` characters, ending in `…` when cut, never inside a surrogate pair. */
export function capped(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}
