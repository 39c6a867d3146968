// Drives llv-server's /v1/chat/completions with the official `openai` npm client:
// plain, streamed (with usage) and with an image. Usage: node openai-client.mjs BASE_URL MODEL IMAGE_PATH
import fs from "node:fs";
import OpenAI from "openai";

const [base, model, imagePath] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: "unused", maxRetries: 0, timeout: 60000 });
const fail = (m) => { console.error("openai-client: FAIL: " + m); process.exit(1); };

const messages = [{ role: "user", content: "Say hello." }];
const r = await client.chat.completions.create({ model, messages, max_tokens: 12, seed: 5, temperature: 0 });
if (r.object !== "chat.completion" || !Number.isInteger(r.created)) fail("completion shape " + JSON.stringify(r));
if (typeof r.choices[0].message.content !== "string") fail("no content");
if (!Number.isInteger(r.usage.total_tokens)) fail("no usage");

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 12, seed: 5, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = "", ids = new Set(), usage = null, finish = 0;
for await (const chunk of stream) {
  ids.add(chunk.id);
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish++;
  }
}
if (text !== r.choices[0].message.content) fail(`stream text ${JSON.stringify(text)} != ${JSON.stringify(r.choices[0].message.content)}`);
if (ids.size !== 1 || finish !== 1 || !usage) fail(`ids ${ids.size} finish ${finish} usage ${JSON.stringify(usage)}`);

const b64 = fs.readFileSync(imagePath).toString("base64");
const ri = await client.chat.completions.create({
  model, max_tokens: 8, seed: 5,
  messages: [{ role: "user", content: [
    { type: "image_url", image_url: { url: `data:image/png;base64,${b64}` } },
    { type: "text", text: "What is in the image?" }] }],
});
if (typeof ri.choices[0].message.content !== "string") fail("image answer");

try {
  await client.chat.completions.create({ model, messages, max_tokens: 1.5 });
  fail("max_tokens 1.5 accepted");
} catch (e) {
  if (!(e instanceof OpenAI.BadRequestError) || e.status !== 400) fail("expected a 400 BadRequestError, got " + e);
}
console.log("openai-client: ok (" + JSON.stringify(text) + ")");
