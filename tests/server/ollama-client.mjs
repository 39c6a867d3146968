// Drives llv-server's Ollama routes with the official `ollama` npm client:
// list, show, chat with an image (streamed and not: the same text at
// temperature 0), generate, and the error a bad request raises.
// Usage: node ollama-client.mjs BASE_URL IMAGE_PATH
import fs from "node:fs";
import { Ollama } from "ollama";

const [host, imagePath] = process.argv.slice(2);
const c = new Ollama({ host });
const fail = (m) => { console.error("ollama-client.mjs: FAIL: " + m); process.exit(1); };
const model = "llama3.2-vision";
const image = fs.readFileSync(imagePath).toString("base64");

const tags = await c.list();
if (!tags.models.some((m) => m.model === "llama3.2-vision:latest")) fail("list " + JSON.stringify(tags));
const show = await c.show({ model });
if (!show.capabilities.includes("vision")) fail("show " + JSON.stringify(show.capabilities));
const options = { temperature: 0, num_predict: 10, seed: 3 };
const messages = [{ role: "user", content: "What is in this image?", images: [image] }];
const r = await c.chat({ model, messages, options });
if (!r.done || r.eval_count !== 10 || typeof r.message.content !== "string") fail("chat " + JSON.stringify(r));
let text = "", last = null;
for await (const part of await c.chat({ model, messages, options, stream: true })) {
  text += part.message.content;
  last = part;
}
if (!last.done || text !== r.message.content) fail("chat stream: " + JSON.stringify(text) + " vs " + JSON.stringify(r.message.content));
const g = await c.generate({ model, prompt: "Name the colour.", images: [image], options });
if (!g.done || typeof g.response !== "string") fail("generate " + JSON.stringify(g));
let gtext = "";
for await (const part of await c.generate({ model, prompt: "Name the colour.", images: [image], options, stream: true }))
  gtext += part.response;
if (gtext !== g.response) fail("generate stream differs");
try {
  await c.chat({ model: "nope", messages });
  fail("unknown model: no error");
} catch (e) {
  if (e.status_code !== 404 || !/not found/.test(e.error)) fail("unknown model: " + e);
}
console.log("ollama-client.mjs: all passed");
