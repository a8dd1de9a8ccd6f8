/** Test harness: free TCP ports on the loopback interface. */
import { createServer } from "node:net";

/**
 * A port that was free a moment ago (the kernel picks it by binding 127.0.0.1:0).
 * Racy by nature; callers bind it right away. Pass `host` to probe another address.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}
