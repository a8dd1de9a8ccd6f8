/** Anything a terminal acts on or that hides text: C0 controls but tab and newline, DEL, C1 controls, format characters (bidi). */
export const UNSAFE = /(?![\t\n])[\p{Cc}\p{Cf}]/u;
