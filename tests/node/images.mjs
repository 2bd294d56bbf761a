// Drives the official OpenAI Node SDK against the proxy for tests/e2e/test_node_sdk.py.
// Usage: node images.mjs '<json command>'; prints one JSON line: the answer, the stream's
// events, or the error the SDK raised ({"error": {"status", "message", "code"}}).
import { readFile } from "node:fs/promises";
import OpenAI, { toFile } from "openai";

const command = JSON.parse(process.argv[2]);
const client = new OpenAI({ baseURL: command.base_url, apiKey: command.api_key, maxRetries: 0 });

async function file(path, name) {
  return toFile(await readFile(path), name, { type: "image/png" });
}

async function run() {
  const params = { ...command.params };
  if (command.images) {
    const files = await Promise.all(command.images.map((p, i) => file(p, `image-${i}.png`)));
    params.image = files.length === 1 ? files[0] : files;
  }
  if (command.mask) params.mask = await file(command.mask, "mask.png");
  if (command.operation === "variation") return client.images.createVariation(params);
  if (command.operation === "edit" && params.stream) {
    const events = [];
    for await (const event of await client.images.edit(params)) events.push(event);
    return { events };
  }
  return client.images.edit(params);
}

try {
  console.log(JSON.stringify(await run()));
} catch (err) {
  if (!(err instanceof OpenAI.APIError)) throw err;
  console.log(JSON.stringify({ error: { status: err.status, message: err.message, code: err.code } }));
}
