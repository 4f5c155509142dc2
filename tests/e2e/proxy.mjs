// A TCP proxy on 127.0.0.1 in front of a hub, for faults a browser test
// cannot make by itself:
//  - `refuseUpgrades = true`: WebSocket upgrades get 403 (a proxy that blocks
//    WebSocket), plain HTTP (pages, SSE, history) passes;
//  - `dropEvents(stream, n)`: the next n `event`/`batch` frames of `stream`
//    the hub sends over WebSocket are dropped on the wire, so the client sees
//    a seq jump (a "skip sequences" fault between hub and browser).
// The hub's WebSocket frames are unmasked and uncompressed (it negotiates no
// extension), so they can be read and forwarded frame by frame.

import net from 'node:net';

export async function startProxy(targetPort) {
  const state = {
    refuseUpgrades: false, refused: 0, upgraded: 0, dropped: 0,
    drop: null, // {stream, n}
    sockets: new Set(),
  };
  const server = net.createServer((client) => {
    state.sockets.add(client);
    client.on('close', () => state.sockets.delete(client));
    client.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0 && head.length < 65536) return;
      client.off('data', onData);
      client.pause();
      const text = head.subarray(0, end).toString('latin1');
      const upgrade = /^upgrade:\s*websocket/im.test(text);
      if (upgrade && state.refuseUpgrades) {
        state.refused += 1;
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      state.sockets.add(upstream);
      upstream.on('close', () => { state.sockets.delete(upstream); client.destroy(); });
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(head);
      client.pipe(upstream);
      client.resume();
      if (!upgrade) {
        upstream.pipe(client);
        return;
      }
      state.upgraded += 1;
      filterWebSocket(upstream, client, state);
    };
    client.on('data', onData);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    get refused() { return state.refused; },
    get upgraded() { return state.upgraded; },
    get dropped() { return state.dropped; },
    set refuseUpgrades(v) { state.refuseUpgrades = v; },
    dropEvents(stream, n) { state.drop = { stream, n }; },
    // Cuts every proxied connection (the browser sees the hub go away).
    cutAll() { for (const s of state.sockets) s.destroy(); },
    close() {
      for (const s of state.sockets) s.destroy();
      return new Promise((r) => server.close(r));
    },
  };
}

// Forwards hub -> browser: the HTTP 101 head as is, then frame by frame,
// dropping the frames `state.drop` asks for.
function filterWebSocket(upstream, client, state) {
  let buf = Buffer.alloc(0);
  let headDone = false;
  upstream.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (!headDone) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.write(buf.subarray(0, end + 4));
      buf = buf.subarray(end + 4);
      headDone = true;
    }
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const frame = buf.subarray(0, off + len);
      buf = buf.subarray(off + len);
      if (shouldDrop(frame, off, state)) {
        state.dropped += 1;
        continue;
      }
      client.write(frame);
    }
  });
}

function shouldDrop(frame, off, state) {
  const d = state.drop;
  if (!d || d.n <= 0) return false;
  const opcode = frame[0] & 0x0f;
  if (opcode !== 1) return false; // text frames only
  let msg;
  try {
    msg = JSON.parse(frame.subarray(off).toString('utf8'));
  } catch {
    return false;
  }
  if ((msg.type !== 'event' && msg.type !== 'batch') || msg.stream !== d.stream) return false;
  d.n -= 1;
  return true;
}
