// uWebSockets.js pub/sub for the bench/peers/ side-by-side runs, with
// Nchan's URL scheme, so `livehub bench --peer nchan --url http://127.0.0.1:PORT`
// drives it unchanged (the payload is delivered as is):
//   POST /pub/<id>      -> app.publish(<id>, body); 200 only after the publish
//   WebSocket /sub/<id> -> subscribed to topic <id> (nothing is sent on open)
// One process, one thread (uWS runs its own event loop inside node's).
// Usage: node server.mjs PORT  (127.0.0.1 only; prints "uws listening on ...")
// File descriptors: node raises its soft RLIMIT_NOFILE to the hard limit at
// start, so 10,000 sockets need a hard limit above that (lib.sh checks).
import uWS from "uwebsockets";

const port = Number(process.argv[2] ?? 8095);
const app = uWS.App();
app.ws("/sub/*", {
  // A subscriber whose unsent bytes pass 1 MiB is skipped by publish (those
  // messages are dropped, and the bench counts them lost) until it drains;
  // it is not closed. 1 MiB is ~10,000 100-byte events: only a stalled
  // reader gets there (the default 64 KiB could drop on a loopback burst).
  maxBackpressure: 1 << 20,
  closeOnBackpressureLimit: false,
  // Idle subscribers send nothing: uWS pings them every ~idleTimeout and the
  // bench tool answers, so 120 s (the default) never closes a live one.
  idleTimeout: 120,
  sendPingsAutomatically: true,
  maxPayloadLength: 16 << 10,  // subscribers send nothing but pongs
  compression: uWS.DISABLED,
  upgrade: (res, req, context) => {
    res.upgrade({ topic: req.getUrl().slice("/sub/".length) },
      req.getHeader("sec-websocket-key"), req.getHeader("sec-websocket-protocol"),
      req.getHeader("sec-websocket-extensions"), context);
  },
  open: (ws) => { ws.subscribe(ws.getUserData().topic); },
});
app.post("/pub/*", (res, req) => {
  const topic = req.getUrl().slice("/pub/".length);
  let aborted = false;
  const parts = [];
  res.onAborted(() => { aborted = true; });
  res.onData((chunk, isLast) => {
    // The chunk is only valid during this callback: copy all but a lone one.
    if (!isLast) return void parts.push(Buffer.from(chunk.slice(0)));
    const body = parts.length ? Buffer.concat([...parts, Buffer.from(chunk)]) : chunk;
    if (aborted) return;
    res.cork(() => {
      app.publish(topic, body, false);  // text frames, like Nchan's
      res.end();
    });
  });
});
app.listen("127.0.0.1", port, (listenSocket) => {
  if (!listenSocket) {
    console.error(`uws: cannot listen on 127.0.0.1:${port}`);
    process.exit(1);
  }
  console.log(`uws listening on 127.0.0.1:${port}`);
});
