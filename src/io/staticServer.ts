/**
 * A minimal static HTTP server for a folder (shards and their index), used to stream shards over HTTP in tests and
 * examples without a network: GET /name returns the file with its content-length, 404 otherwise. Listens on 127.0.0.1
 * on a free port.
 */
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

export interface StaticServer {
  url: string;
  /** Request paths in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

export async function serveDirectory(dir: string): Promise<StaticServer> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    requests.push(request.url ?? "");
    const path = join(dir, decodeURIComponent((request.url ?? "/").slice(1)));
    try {
      response.writeHead(200, { "content-length": statSync(path).size });
      createReadStream(path).pipe(response);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
