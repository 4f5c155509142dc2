#!/usr/bin/env node
// The GRIP backend Pushpin needs for the side-by-side runs (no npm deps).
// Pushpin forwards each subscribe request here; the answer tells it what to
// hold open and on which channel (https://pushpin.org/docs/protocols/grip/):
//
//   GET /sub/<channel>                       (HTTP streaming / SSE)
//     -> 200, Content-Type: text/event-stream, Grip-Hold: stream,
//        Grip-Channel: <channel>, empty body: Pushpin keeps the response
//        open and appends what is published in the "http-stream" format.
//   POST /sub/<channel>, application/websocket-events   (WebSocket-over-HTTP,
//        the route needs `over_http`)
//     OPEN  -> OPEN + TEXT "c:{"type":"subscribe","channel":"<channel>"}"
//              with Sec-WebSocket-Extensions: grip (the "c:" prefix marks a
//              control message to Pushpin, not to the client);
//     other events (TEXT, PING, CLOSE, DISCONNECT) -> acknowledged, no reply
//              beyond CLOSE for CLOSE.
//
// Usage: node bench/peers/grip-backend.mjs PORT   (listens on 127.0.0.1 only)
// Prints "grip-backend listening on 127.0.0.1:PORT" once ready.
import http from "node:http";

const port = Number(process.argv[2] ?? 0);
const kMaxBody = 64 << 10;
let requests = 0;

// Bodies are handled as latin1 strings: one char per byte, so the hex
// lengths of the WebSocket-over-HTTP format (bytes) match string lengths,
// and binary content (a CLOSE code) passes through unchanged.

// Parses a WebSocket-over-HTTP body into [{type, content}].
function parseEvents(body) {
  const events = [];
  let i = 0;
  while (i < body.length) {
    const eol = body.indexOf("\r\n", i);
    if (eol < 0) break;
    const line = body.slice(i, eol);
    const sp = line.indexOf(" ");
    const type = sp < 0 ? line : line.slice(0, sp);
    let content = "";
    i = eol + 2;
    if (sp >= 0) {
      const len = parseInt(line.slice(sp + 1), 16);
      content = body.slice(i, i + len);
      i += len + 2;  // content + \r\n
    }
    events.push({ type, content });
  }
  return events;
}

function wsEvent(type, content) {
  if (content === undefined) return `${type}\r\n`;
  return `${type} ${content.length.toString(16)}\r\n${content}\r\n`;
}

const latin1 = (utf8Text) => Buffer.from(utf8Text, 'utf8').toString('latin1');

const server = http.createServer((req, res) => {
  ++requests;
  const m = /^\/sub\/(.+)$/.exec(req.url ?? "");
  if (!m) {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("grip-backend: only /sub/<channel>\n");
    return;
  }
  const channel = decodeURIComponent(m[1]);
  if (req.method === "GET") {
    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "Grip-Hold": "stream",
      "Grip-Channel": channel,
      "Content-Length": "0",
    });
    res.end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size <= kMaxBody) chunks.push(c);
  });
  req.on("end", () => {
    if (size > kMaxBody) {
      res.writeHead(413, { "Content-Type": "text/plain" });
      res.end(`grip-backend: body over ${kMaxBody} bytes\n`);
      return;
    }
    const events = parseEvents(Buffer.concat(chunks).toString("latin1"));
    let out = "";
    for (const e of events) {
      if (e.type === "OPEN") {
        out += wsEvent("OPEN");
        out += wsEvent("TEXT", latin1("c:" + JSON.stringify({ type: "subscribe", channel })));
      } else if (e.type === "CLOSE") {
        out += wsEvent("CLOSE", e.content);
      }
    }
    res.writeHead(200, {
      "Content-Type": "application/websocket-events",
      "Sec-WebSocket-Extensions": "grip",
      "Content-Length": String(out.length),
    });
    res.end(Buffer.from(out, "latin1"));
  });
});

server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  console.log(`grip-backend listening on 127.0.0.1:${server.address().port}`);
});
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    console.log(`grip-backend: ${requests} requests`);
    process.exit(0);
  });
}
