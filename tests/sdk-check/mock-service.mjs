// A small mock PowerSync service (the sync protocol of docs/protocol.md) on 127.0.0.1 with a random free port.
//
//   POST /sync/stream                 streams lines pushed by the test (NDJSON or BSON framing)
//   GET  /write-checkpoint2.json      returns {"data":{"write_checkpoint": <next id>}}
//   POST /sync/checkpoint-request     returns {"data":{"checkpoint_request_id": max(posted, known)}}
//
// The test drives the stream explicitly (stream.send(line)) so that the order of
// powersync_control calls is deterministic.
import http from 'node:http';
import { encodeDocument } from './bson.mjs';

export async function startMockService() {
  const service = {
    url: null,
    streams: [],
    writeCheckpointRequests: [],
    otherRequests: [],
    nextWriteCheckpoint: 1,
    checkpointRequests: [],
    knownCheckpointRequestId: 0n,
    // POST /sync/checkpoint-request responses wait for this promise (lets the test order events).
    checkpointRequestGate: null,
    // Framing for the next /sync/stream response: 'ndjson' or 'bson'.
    framing: 'ndjson',
    streamWaiters: [],
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const bodyText = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method === 'POST' && url.pathname === '/sync/stream') {
        let body = null;
        try {
          body = JSON.parse(bodyText);
        } catch (e) {
          body = { unparseable: bodyText };
        }
        const framing = service.framing;
        const stream = {
          index: service.streams.length,
          headers: req.headers,
          body,
          framing,
          closed: false,
          linesSent: 0,
          send(line) {
            if (stream.closed) throw new Error(`mock: stream ${stream.index} is already closed`);
            stream.linesSent++;
            if (framing === 'bson') {
              res.write(encodeDocument(line));
            } else {
              res.write(JSON.stringify(line) + '\n');
            }
          },
          end() {
            if (!stream.closed) {
              stream.closed = true;
              res.end();
            }
          },
        };
        res.on('close', () => {
          stream.closed = true;
        });
        res.writeHead(200, {
          'content-type': framing === 'bson' ? 'application/vnd.powersync.bson-stream' : 'application/x-ndjson',
          'cache-control': 'no-store',
        });
        res.flushHeaders();
        service.streams.push(stream);
        for (const w of service.streamWaiters.splice(0)) w();
      } else if (req.method === 'POST' && url.pathname === '/sync/checkpoint-request') {
        // Checkpoint requests (docs/protocol.md, "The client's side"): answers the larger of the posted id and the highest one already known.
        let body = null;
        try {
          body = JSON.parse(bodyText);
        } catch (e) {
          body = { unparseable: bodyText };
        }
        const entry = { body, authorization: req.headers['authorization'], returned: null };
        service.checkpointRequests.push(entry);
        Promise.resolve(service.checkpointRequestGate).then(() => {
          let posted = 0n;
          try {
            posted = BigInt(body.checkpoint_request_id);
          } catch (_) {}
          const accepted = posted > service.knownCheckpointRequestId ? posted : service.knownCheckpointRequestId;
          service.knownCheckpointRequestId = accepted;
          entry.returned = String(accepted);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ data: { checkpoint_request_id: String(accepted) } }));
        });
      } else if (req.method === 'GET' && url.pathname === '/write-checkpoint2.json') {
        const id = String(service.nextWriteCheckpoint);
        service.writeCheckpointRequests.push({
          clientId: url.searchParams.get('client_id'),
          authorization: req.headers['authorization'],
          returned: id,
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: { write_checkpoint: id } }));
      } else {
        service.otherRequests.push({ method: req.method, url: req.url, body: bodyText });
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'not found in mock' }));
      }
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  service.url = `http://127.0.0.1:${server.address().port}`;

  service.close = async () => {
    for (const s of service.streams) {
      try {
        s.end();
      } catch (_) {}
    }
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(() => resolve()));
  };

  return service;
}
