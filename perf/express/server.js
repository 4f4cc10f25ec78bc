// Express 5 with its defaults (weak ETag from the body, 304 on a fresh
// If-None-Match), serving the same JSON bytes as perf/src/bin/load_target.rs.
//
//   PORT=3003 PAYLOADS=/tmp/payloads node server.js
//
// PAYLOADS is a directory holding 1k.json and 1m.json, fetched from the Rust
// server by perf/scripts/load.sh so that both serve identical bytes.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const express = require('express');

const dir = process.env.PAYLOADS || path.join(__dirname, 'payloads');
const port = Number(process.env.PORT || 3003);
const docs = {
  '1k': fs.readFileSync(path.join(dir, '1k.json')),
  '1m': fs.readFileSync(path.join(dir, '1m.json')),
};

const app = express();
for (const [name, body] of Object.entries(docs)) {
  app.get(`/json/${name}`, (req, res) => {
    res.type('application/json').send(body);
  });
}

app.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port} (express ${require('express/package.json').version})`);
});
