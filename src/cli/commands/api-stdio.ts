/**
 * The coordinator end of `--via ssh://`: run by sshd as the SSH user, it reads one request
 * (a JSON head line, then the body) on stdin, sends it to the local daemon with the local
 * credential of that OS user (ODOOOPS_TOKEN, its `auth login`, or the local token file that
 * only root and the odooops group can read) and writes the JSON status line and the body back.
 * So the SSH user's own rights decide the odooops user: RBAC is the daemon's, as for a local CLI.
 */
import { defineCommand } from "citty";
import { z } from "zod";
import { Invalid, Unauthorized } from "../../errors";
import type { ResponseHead } from "../../fleet/ssh/via";
import { resolveCredentials } from "../credentials";
import type { CliIo } from "../io";

const Head = z
  .object({
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
    // Only the API: the channel is not a general proxy to whatever listens on the daemon's port.
    path: z
      .string()
      .regex(/^\/api\/v1\/[^\s]*$/)
      .refine((p) => !p.includes("/../") && !p.includes("\\")),
    headers: z.record(z.string(), z.string()),
  })
  .strict();

/** Headers the caller may pass on; credentials and hop-by-hop headers are this side's. */
const PASSED = new Set(["content-type", "accept", "last-event-id", "if-match", "if-none-match", "idempotency-key"]);

export function parseHead(raw: Uint8Array): { head: z.infer<typeof Head>; body: Uint8Array } {
  const nl = raw.indexOf(10);
  if (nl < 0) throw new Invalid("api-stdio: expected a JSON request line on stdin");
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(raw.subarray(0, nl)));
  } catch {
    throw new Invalid("api-stdio: the request line is not JSON");
  }
  const parsed = Head.safeParse(json);
  if (!parsed.success)
    throw new Invalid(`api-stdio: bad request line: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return { head: parsed.data, body: raw.subarray(nl + 1) };
}

export function apiStdioCommand(io: CliIo) {
  return defineCommand({
    meta: {
      name: "api-stdio",
      description: "Serve one API request on stdin/stdout for `odooops --via ssh://` (run by sshd, not by hand)",
    },
    async run() {
      const raw = new Uint8Array(await new Response(Bun.stdin.stream()).arrayBuffer());
      const { head, body } = parseHead(raw);
      const cred = resolveCredentials(io.globals, io.env);
      if (!cred.token)
        throw new Unauthorized(
          "no odooops credential for this SSH user on the coordinator: run `odooops auth login` here once, or use an account in the odooops group",
        );
      const headers: Record<string, string> = { authorization: `Bearer ${cred.token}` };
      for (const [k, v] of Object.entries(head.headers)) if (PASSED.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
      const res = await fetch(`${cred.url.replace(/\/+$/, "")}${head.path}`, {
        method: head.method,
        headers,
        body: ["GET", "HEAD"].includes(head.method) || body.length === 0 ? undefined : body,
      });
      // fetch already decoded the body: its encoding and length headers no longer describe it.
      const passedBack = [...res.headers.entries()].filter(
        ([k]) => !["content-encoding", "content-length"].includes(k),
      );
      const out: ResponseHead = { status: res.status, headers: Object.fromEntries(passedBack) };
      const w = Bun.stdout.writer();
      w.write(`${JSON.stringify(out)}\n`);
      if (res.body)
        for await (const chunk of res.body) {
          w.write(chunk);
          await w.flush();
        }
      await w.end();
    },
  });
}
