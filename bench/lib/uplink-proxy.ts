/**
 * A TCP proxy on 127.0.0.1 that limits what flows towards the upstream (the "uplink") to a fixed
 * rate shared by all connections, the way one office or VPS line carries every part of a
 * multipart upload to a far S3. Replies flow back unlimited. bench/db-ops.ts puts it in front of
 * s3rver to show what streaming gains once the upload is no longer ~10× faster than pg_dump.
 */
import { connect, createServer, type Socket } from "node:net";
import { Transform } from "node:stream";

export interface UplinkProxy {
  endpoint: string;
  bytesPerSec: number;
  /** Bytes sent upstream so far (a check that the traffic really went through the proxy). */
  bytesUp(): number;
  close(): Promise<void>;
}

export async function startUplinkProxy(
  upstream: { host: string; port: number },
  bytesPerSec: number,
): Promise<UplinkProxy> {
  // The line is one FIFO: each chunk, whichever connection sent it, occupies it for len/rate.
  let lineFreeAt = performance.now();
  let sent = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const up = connect(upstream.port, upstream.host);
    sockets.add(client);
    sockets.add(up);
    const line = new Transform({
      transform(chunk: Buffer, _enc, done) {
        const now = performance.now();
        lineFreeAt = Math.max(now, lineFreeAt) + (chunk.length / bytesPerSec) * 1000;
        sent += chunk.length;
        setTimeout(() => done(null, chunk), lineFreeAt - now);
      },
    });
    const end = () => {
      client.destroy();
      up.destroy();
      line.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    for (const s of [client, up, line]) s.on("error", end);
    client.on("close", end);
    up.on("close", end);
    client.pipe(line).pipe(up);
    up.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const addr = server.address();
  if (!addr || typeof addr === "string") throw new Error("uplink proxy: no TCP address");
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bytesPerSec,
    bytesUp: () => sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
