import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { createGunzip, gunzipSync } from "node:zlib";
import { parallelGzip } from "../../../lambdas/core/parallelGzip";

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function compress(input: Buffer, chunk: number, blockSize: number, concurrency = 3): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const member of parallelGzip(chunks(input, chunk), { level: 1, blockSize, concurrency })) out.push(member);
  return Buffer.concat(out);
}

describe("parallelGzip", () => {
  it("gives one gzip file (concurrent members, in order) that gunzip and Node's createGunzip read back whole", async () => {
    const input = Buffer.concat([randomBytes(300_000), Buffer.from("x".repeat(500_000)), randomBytes(123_457)]);
    const gz = await compress(input, 10_000, 64 * 1024);
    expect(gunzipSync(gz).equals(input)).toBe(true);
    const back: Buffer[] = [];
    for await (const c of Readable.from([gz.subarray(0, 1000), gz.subarray(1000)]).pipe(createGunzip())) back.push(c as Buffer);
    expect(Buffer.concat(back).equals(input)).toBe(true);
  });

  it("writes a valid (empty) gzip file for no input, and one member for input smaller than a block", async () => {
    expect(gunzipSync(await compress(Buffer.alloc(0), 1, 1024)).length).toBe(0);
    const small = Buffer.from("INSERT INTO `t` VALUES (1);\n");
    expect(gunzipSync(await compress(small, 5, 1024)).equals(small)).toBe(true);
  });
});
