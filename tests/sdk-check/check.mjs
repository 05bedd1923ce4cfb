// sdk-check: the unmodified official PowerSync Node SDK (@powersync/node 1.1.0) running on a
// PowerSync core extension of our choice, against a mock PowerSync service on 127.0.0.1.
//
//   POWERSYNC_EXTENSION=path   extension to load (default: <repo>/target/release/libpowersync.so)
//   SDK_CHECK_LABEL=name       label for the output ('ours' by default, 'custom' with an override;
//                              'ours' requires a non-reference build, 'reference' requires 0.5.3/2ba6b280)
//   SDK_CHECK_TRANSCRIPT=file  write a normalised transcript (every powersync_control call the SDK
//                              made with its result, plus what the SDK showed) for comparison
//   SDK_CHECK_LOG=file         write every SDK log record
//   SDK_CHECK_SQL_LOG=file     record every statement the SDK runs (JSON lines; write connection in
//                              <file>, read connections in <file>.reader); default: a temp file
//   SDK_CHECK_VERBOSE=1        echo SDK log records of level info and above while running
//
// Prints one line per check and a final line `<label>: N passed, M failed`; exits 1 on failure.
// Every wait has a timeout and a watchdog ends the process after SDK_CHECK_TIMEOUT_MS (50 s).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import url from 'node:url';
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

import { PowerSyncDatabase, Schema, Table, column } from '@powersync/node';
import { startMockService } from './mock-service.mjs';
import { normalize, normalizeJsonText } from './normalize.mjs';

const require = createRequire(import.meta.url);
const HERE = path.dirname(url.fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const REFERENCE_COMMIT = '2ba6b280';

const extensionPath = path.resolve(
  process.env.POWERSYNC_EXTENSION || path.join(REPO, 'target/release/libpowersync.so')
);
const label = process.env.SDK_CHECK_LABEL || (process.env.POWERSYNC_EXTENSION ? 'custom' : 'ours');
const verbose = process.env.SDK_CHECK_VERBOSE === '1';
const TOTAL_TIMEOUT_MS = Number(process.env.SDK_CHECK_TIMEOUT_MS || 50_000);
const WAIT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Results, transcript, logging

let passed = 0;
let failed = 0;
const failures = [];

function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`  ok   ${name}`);
  } else {
    failed++;
    const d = detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`;
    failures.push(name + d);
    console.log(`  FAIL ${name}${d}`);
  }
  return ok;
}

function checkEq(name, actual, expected) {
  const a = stableJson(actual);
  const e = stableJson(expected);
  return check(name, a === e, `got ${a}, expected ${e}`);
}

function section(title) {
  console.log(`-- ${title}`);
  transcript.push(`## ${title}`);
}

function stableJson(v) {
  return JSON.stringify(v, (_k, value) => {
    if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
      return Object.fromEntries(Object.keys(value).sort().map((k) => [k, value[k]]));
    }
    return value;
  });
}

const IS_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const transcript = [];
function note(kind, value) {
  transcript.push(`${kind} ${JSON.stringify(normalize(value))}`);
}

const logRecords = [];
const controls = []; // {op, payload, response (raw text), parsed}
let sentBinary = []; // JSON of BSON documents sent, to describe line_binary calls in the transcript

const logger = {
  log(record) {
    const entry = {
      t: Date.now(),
      level: record.level,
      message: String(record.message),
      error: record.error ? String(record.error?.stack || record.error?.message || record.error) : undefined,
    };
    logRecords.push(entry);
    const m = /^powersync_control\((\w+), /.exec(entry.message);
    if (record.level === 10 && m) {
      const rest = entry.message.slice(m[0].length);
      const sep = rest.lastIndexOf(') -> ');
      const payload = rest.slice(0, sep);
      const response = rest.slice(sep + 5);
      let parsed = null;
      try {
        parsed = JSON.parse(response);
      } catch (_) {}
      const c = { op: m[1], payload, response, parsed };
      controls.push(c);
      let payloadDesc = normalizeJsonText(payload);
      if (c.op === 'line_binary') payloadDesc = `<bson ${JSON.stringify(sentBinary.shift() ?? null)}>`;
      transcript.push(`control ${c.op} ${payloadDesc}\n    -> ${normalizeJsonText(response)}`);
    } else if (record.level >= 40 || (verbose && record.level >= 30)) {
      const lvl = record.level >= 50 ? 'ERROR' : record.level >= 40 ? 'WARN' : 'INFO';
      console.log(`     [sdk ${lvl}] ${entry.message}${entry.error ? ` (${entry.error.split('\n')[0]})` : ''}`);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntil(pred, what, ms = WAIT_MS) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(15);
  }
  throw new Error(`timeout after ${ms} ms waiting for ${what}`);
}

function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}

// Tracks whether a promise has settled without awaiting it.
function track(promise) {
  const t = { settled: false, error: null };
  t.promise = promise.then(
    () => {
      t.settled = true;
    },
    (e) => {
      t.settled = true;
      t.error = e;
    }
  );
  return t;
}

const countOp = (...ops) => controls.filter((c) => ops.includes(c.op)).length;
const lineCount = () => countOp('line_text', 'line_binary');
const established = () => controls.filter((c) => c.op === 'connection' && c.payload === 'established').length;
const instructions = (c) => (Array.isArray(c?.parsed) ? c.parsed : []);
const hasInstruction = (c, key) => instructions(c).some((i) => key in i);
const logLines = (c) => instructions(c).filter((i) => 'LogLine' in i).map((i) => i.LogLine);

// Sends one line on a mock stream and waits until the SDK has passed it to powersync_control.
async function sendLine(stream, line) {
  const before = lineCount();
  if (stream.framing === 'bson') sentBinary.push(line);
  stream.send(line);
  await waitUntil(() => lineCount() > before, `powersync_control for line ${JSON.stringify(line).slice(0, 80)}`);
  return controls.filter((c) => c.op === 'line_text' || c.op === 'line_binary')[before];
}

function op(opId, type, id, data, checksum, extra = {}) {
  return {
    op_id: String(opId),
    op: 'PUT',
    object_type: type,
    object_id: id,
    checksum,
    subkey: null,
    data: data == null ? null : JSON.stringify(data),
    ...extra,
  };
}

function remove(opId, type, id, checksum) {
  return { op_id: String(opId), op: 'REMOVE', object_type: type, object_id: id, checksum };
}

const bucketChecksum = (ops) => ops.reduce((acc, o) => (acc + o.checksum) >>> 0, 0);

function statusSummary(s) {
  return {
    connected: s.connected,
    connecting: s.connecting,
    downloading: s.downloading,
    uploading: s.uploading,
    hasSynced: s.hasSynced,
    lastSyncedAt: s.lastSyncedAt,
    priorities: s.priorityStatusEntries,
    downloadError: s.downloadError ? String(s.downloadError) : undefined,
    uploadError: s.uploadError ? String(s.uploadError) : undefined,
    core: s.core,
  };
}

// ---------------------------------------------------------------------------------------------
// The scenario

const lists = new Table({ name: column.text, owner_id: column.text, created_at: column.text });
const todos = new Table(
  { list_id: column.text, description: column.text, completed: column.integer, rank: column.real },
  { trackPrevious: true, indexes: { by_list: ['list_id'] } }
);
const local_settings = new Table({ key: column.text, value: column.text }, { localOnly: true });
const events = new Table({ kind: column.text, payload: column.text }, { insertOnly: true });
const notes = new Table(
  { title: column.text, body: column.text, rating: column.integer },
  { viewName: 'notes_view', trackMetadata: true, ignoreEmptyUpdates: true, trackPrevious: { columns: ['title'], onlyWhenChanged: true } }
);
const schema = new Schema({ lists, todos, local_settings, events, notes });
// Raw tables: raw_items with explicit statements (incl. "Rest" and a clear statement), raw_tags with
// statements inferred from its local table raw_tags_local (and crud triggers from the extension).
const RAW_ITEMS_DDL = 'CREATE TABLE raw_items (id TEXT PRIMARY KEY NOT NULL, name TEXT, qty INTEGER, extra TEXT)';
const RAW_TAGS_DDL = 'CREATE TABLE raw_tags_local (id TEXT PRIMARY KEY NOT NULL, label TEXT, weight INTEGER)';
schema.withRawTables({
  raw_items: {
    put: {
      sql: 'INSERT OR REPLACE INTO raw_items (id, name, qty, extra) VALUES (?, ?, ?, ?)',
      params: ['Id', { Column: 'name' }, { Column: 'qty' }, 'Rest'],
    },
    delete: { sql: 'DELETE FROM raw_items WHERE id = ?', params: ['Id'] },
    clear: 'DELETE FROM raw_items',
  },
  raw_tags: { schema: { tableName: 'raw_tags_local' }, clear: 'DELETE FROM raw_tags_local' },
});

let db = null;
let service = null;
let tmpDir = null;
let sqlLogPath = null;

// Number of statements run on the SDK's write connection whose text or parameters contain `needle`.
function writerSqlCount(needle) {
  return fs.readFileSync(sqlLogPath, 'utf8').split('\n').filter((l) => l.includes(needle)).length;
}

async function scenario() {
  console.log(`sdk-check [${label}]: extension ${extensionPath}`);
  if (!fs.existsSync(extensionPath)) {
    check('extension file exists', false, extensionPath);
    throw new Error('extension missing');
  }

  // The version the file reports when loaded directly, to prove the SDK's worker loaded this file.
  const BetterSqlite = require('better-sqlite3');
  let directVersion = null;
  {
    const raw = new BetterSqlite(':memory:');
    try {
      raw.loadExtension(extensionPath, 'sqlite3_powersync_init');
      directVersion = raw.prepare('select powersync_rs_version() as v').get().v;
    } finally {
      raw.close();
    }
  }

  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-check-'));
  sqlLogPath = process.env.SDK_CHECK_SQL_LOG || path.join(tmpDir, 'sql.jsonl');
  fs.writeFileSync(sqlLogPath, '');
  fs.writeFileSync(`${sqlLogPath}.reader`, '');
  db = new PowerSyncDatabase({
    schema,
    database: {
      dbFilename: 'sdk-check.db',
      dbLocation: tmpDir,
      readWorkerCount: 1,
      openWorker: (_defaultUrl, options) =>
        new Worker(new URL('./worker.mjs', import.meta.url), {
          ...options,
          workerData: { extensionPath, sqlLog: sqlLogPath },
        }),
    },
    logger,
  });

  // 1. Open ---------------------------------------------------------------------------------
  section('open');
  await withTimeout(db.init(), WAIT_MS, 'db.init()');
  check('db.init() completes (version check, powersync_replace_schema, offline status)', true);

  const { v: version } = await db.get('select powersync_rs_version() as v');
  const { v: sqliteVersion } = await db.get('select sqlite_version() as v');
  console.log(`     loaded powersync_rs_version() = ${version}, sqlite ${sqliteVersion}`);
  check('SDK worker loaded the requested file', version === directVersion, `${version} vs direct ${directVersion}`);
  if (label === 'ours') {
    check(`powersync_rs_version() is ours (not .../${REFERENCE_COMMIT})`, !version.endsWith(`/${REFERENCE_COMMIT}`), version);
  } else if (label === 'reference') {
    check(`powersync_rs_version() is the reference (.../${REFERENCE_COMMIT})`, version.endsWith(`/${REFERENCE_COMMIT}`), version);
  }
  check('powersync_rs_version() starts with 0.5.', version.startsWith('0.5.'), version);

  const views = (await db.getAll("select name from sqlite_master where type = 'view' order by name")).map((r) => r.name);
  note('views', views);
  checkEq('schema views created', views, ['events', 'lists', 'local_settings', 'notes_view', 'todos']);
  await db.execute(RAW_ITEMS_DDL);
  await db.execute(RAW_TAGS_DDL);
  const rawTagsJson = JSON.stringify(Schema.rawTableToJson(schema.rawTables.find((t) => t.name === 'raw_tags')));
  for (const kind of ['INSERT', 'UPDATE', 'DELETE']) {
    await db.execute('SELECT powersync_create_raw_table_crud_trigger(?, ?, ?)', [rawTagsJson, `raw_tags_${kind.toLowerCase()}`, kind]);
  }
  const rawTriggers = await db.getAll("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'raw_tags_local' ORDER BY name");
  note('raw table triggers', rawTriggers);
  checkEq('powersync_create_raw_table_crud_trigger created 3 triggers', rawTriggers.map((t) => t.name), ['raw_tags_delete', 'raw_tags_insert', 'raw_tags_update']);
  const { id: clientId } = await db.get('select powersync_client_id() as id');
  check('powersync_client_id() is a uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(clientId), clientId);
  note('offline status', statusSummary(db.currentStatus));
  check('offline status: not connected, not synced', !db.currentStatus.connected && !db.currentStatus.hasSynced);

  // 2. Local writes and the upload queue ----------------------------------------------------
  section('local writes');
  await db.writeTransaction(async (tx) => {
    await tx.execute('INSERT INTO lists (id, name, owner_id, created_at) VALUES (?, ?, ?, ?)', [
      'list-local-1', 'Groceries', 'u1', '2024-01-01',
    ]);
    await tx.execute('INSERT INTO todos (id, list_id, description, completed, rank) VALUES (?, ?, ?, ?, ?)', [
      'todo-local-1', 'list-local-1', 'Milk', 0, 1.5,
    ]);
    await tx.execute("INSERT INTO local_settings (id, key, value) VALUES (uuid(), 'theme', 'dark')");
  });
  await db.writeTransaction(async (tx) => {
    await tx.execute('UPDATE todos SET completed = 1, description = ? WHERE id = ?', ['Oat milk', 'todo-local-1']);
    await tx.execute('INSERT INTO events (id, kind, payload) VALUES (?, ?, ?)', ['ev-1', 'opened', '{"x":1}']);
  });
  await db.execute('DELETE FROM lists WHERE id = ?', ['list-local-1']);

  const setting = await db.getAll('SELECT id, key, value FROM local_settings');
  check('local-only table row written (id from uuid())', setting.length === 1 && IS_UUID.test(setting[0].id), setting);

  const stats = await db.getUploadQueueStats();
  checkEq('getUploadQueueStats().count', stats.count, 5);

  const all = await db.getCrudBatch();
  const entries = all ? all.crud.map((e) => e.toJSON()) : [];
  note('crud batch', { haveMore: all?.haveMore, entries });
  checkEq('getCrudBatch(): 5 entries, haveMore false', [entries.length, all?.haveMore], [5, false]);
  checkEq('crud op ids 1..5', entries.map((e) => e.op_id), [1, 2, 3, 4, 5]);
  checkEq(
    'crud ops/types/ids',
    entries.map((e) => [e.op, e.type, e.id]),
    [
      ['PUT', 'lists', 'list-local-1'],
      ['PUT', 'todos', 'todo-local-1'],
      ['PATCH', 'todos', 'todo-local-1'],
      ['PUT', 'events', 'ev-1'],
      ['DELETE', 'lists', 'list-local-1'],
    ]
  );
  checkEq('PUT lists opData', entries[0]?.data, { name: 'Groceries', owner_id: 'u1', created_at: '2024-01-01' });
  checkEq('PUT todos opData', entries[1]?.data, { list_id: 'list-local-1', description: 'Milk', completed: 0, rank: 1.5 });
  checkEq('PATCH todos opData', entries[2]?.data, { completed: 1, description: 'Oat milk' });
  checkEq('PATCH todos previousValues (trackPrevious: the whole old row)', entries[2]?.old, {
    list_id: 'list-local-1', description: 'Milk', completed: 0, rank: 1.5,
  });
  checkEq('PUT events (insert-only) opData', entries[3]?.data, { kind: 'opened', payload: '{"x":1}' });
  check('DELETE has no opData', entries[4] && entries[4].data === undefined, entries[4]);
  const txIds = entries.map((e) => e.tx_id);
  check(
    'transaction ids: [a, a, b, b, c] with a < b < c',
    txIds.length === 5 && txIds[0] === txIds[1] && txIds[2] === txIds[3] && txIds[0] < txIds[2] && txIds[2] < txIds[4],
    txIds
  );
  checkEq('transaction ids are 1, 1, 2, 2, 3', txIds, [1, 1, 2, 2, 3]);

  const small = await db.getCrudBatch(2);
  checkEq('getCrudBatch(2): ids [1,2], haveMore true', [small?.crud.map((e) => e.clientId), small?.haveMore], [[1, 2], true]);

  const firstTx = await db.getNextCrudTransaction();
  checkEq(
    'getNextCrudTransaction(): first transaction has ops 1,2 and its transactionId',
    [firstTx?.crud.map((e) => e.clientId), firstTx?.transactionId],
    [[1, 2], txIds[0]]
  );
  const txSizes = [];
  for await (const t of db.getCrudTransactions()) txSizes.push([t.transactionId, t.crud.map((e) => e.clientId)]);
  note('crud transactions', txSizes);
  checkEq('getCrudTransactions(): 3 transactions', txSizes.map((t) => t[1]), [[1, 2], [3, 4], [5]]);

  // 3. Sync against the mock service ---------------------------------------------------------
  section('stream subscription');
  const todosSub = await withTimeout(db.syncStream('todos_stream', { list: 'L1' }).subscribe({ ttl: 3600 }), WAIT_MS, 'subscribe');
  const offlineStreams = db.currentStatus.syncStreams ?? [];
  note('offline streams', offlineStreams.map((s) => s.subscription));
  check(
    'offline status lists the explicit stream subscription',
    offlineStreams.some((s) => s.subscription.name === 'todos_stream' && s.subscription.hasExplicitSubscription),
    offlineStreams.map((s) => s.subscription)
  );

  section('connect');
  service = await startMockService();
  let credFetches = 0;
  let uploadMode = 'transactions';
  const uploadGate = deferred();
  let currentUploadGate = uploadGate.promise;
  const uploaded = [];
  const connector = {
    async fetchCredentials() {
      credFetches++;
      return { endpoint: service.url, token: `token-${credFetches}` };
    },
    async uploadData(database) {
      await currentUploadGate;
      if (uploadMode === 'transactions') {
        const tx = await database.getNextCrudTransaction();
        if (!tx) return;
        uploaded.push({ kind: 'transaction', transactionId: tx.transactionId, crud: tx.crud.map((e) => e.toJSON()) });
        await tx.complete();
      } else {
        const batch = await database.getCrudBatch(100);
        if (!batch) return;
        uploaded.push({ kind: 'batch', crud: batch.crud.map((e) => e.toJSON()) });
        await batch.complete();
      }
    },
  };

  const connectPromise = track(
    db.connect(connector, {
      params: { user: 'u1' },
      appMetadata: { app: 'sdk-check' },
      crudUploadThrottleMs: 50,
      retryDelayMs: 300,
    })
  );
  await waitUntil(() => service.streams.length >= 1, 'POST /sync/stream');
  await waitUntil(() => established() >= 1, "powersync_control('connection', 'established')");
  const s1 = service.streams[0];
  note('stream request 1', s1.body);
  const startCall = controls.find((c) => c.op === 'start');
  let startPayload = null;
  try {
    startPayload = JSON.parse(startCall?.payload);
  } catch (_) {}
  check('start payload carries the schema', Array.isArray(startPayload?.schema?.tables), startCall?.payload?.slice(0, 200));
  checkEq('start instructions', instructions(startCall).map((i) => Object.keys(i)[0]), ['UpdateSyncStatus', 'EstablishSyncStream']);
  checkEq('Authorization header', s1.headers['authorization'], 'Token token-1');
  check('Accept prefers BSON', String(s1.headers['accept']).includes('application/vnd.powersync.bson-stream'), s1.headers['accept']);
  checkEq('request.client_id = powersync_client_id()', s1.body.client_id, clientId);
  checkEq('request.buckets (fresh database)', s1.body.buckets, []);
  checkEq(
    'request flags include_checksum/raw_data/binary_data',
    [s1.body.include_checksum, s1.body.raw_data, s1.body.binary_data],
    [true, true, true]
  );
  checkEq('request.parameters', s1.body.parameters, { user: 'u1' });
  checkEq('request.app_metadata', s1.body.app_metadata, { app: 'sdk-check' });
  checkEq('request.streams', s1.body.streams, {
    include_defaults: true,
    subscriptions: [{ stream: 'todos_stream', parameters: { list: 'L1' }, override_priority: null }],
  });
  checkEq('request key order', Object.keys(s1.body), [
    'buckets', 'include_checksum', 'raw_data', 'binary_data', 'client_id', 'parameters', 'streams', 'app_metadata',
  ]);

  await withTimeout(connectPromise.promise, WAIT_MS, 'db.connect()');
  check('connect() resolved', connectPromise.settled && !connectPromise.error, String(connectPromise.error));
  check('status connected after connect()', db.currentStatus.connected === true && !db.currentStatus.connecting, statusSummary(db.currentStatus));

  // Buckets: lists_global (priority 0, default stream lists_stream), todos_u1 (priority 3, explicit todos_stream).
  const listOps = [
    op(1, 'lists', 'list-s1', { name: 'Server list 1', owner_id: 'u1', created_at: '2024-02-01' }, 101),
    op(2, 'lists', 'list-s2', { name: 'Server list 2', owner_id: 'u2', created_at: '2024-02-02' }, 102),
  ];
  const todoOps = [
    op(3, 'todos', 'todo-s1', { list_id: 'list-s1', description: 'Buy bread', completed: 0, rank: 2 }, 4000000000),
    op(4, 'todos', 'todo-s2', { list_id: 'list-s1', description: 'Buy eggs', completed: 0 }, 204),
  ];
  const streamsDesc = [
    { name: 'lists_stream', is_default: true, errors: [] },
    { name: 'todos_stream', is_default: false, errors: [] },
  ];
  const listsBucket = (ops) => ({
    bucket: 'lists_global', checksum: bucketChecksum(ops), priority: 0, count: ops.length, subscriptions: [{ default: 0 }],
  });
  const todosBucket = (ops) => ({
    bucket: 'todos_u1', checksum: bucketChecksum(ops), priority: 3, count: ops.length, subscriptions: [{ sub: 0 }],
  });

  section('first sync: partial priority 0 while local writes are pending');
  let c = await sendLine(s1, { token_expires_in: 600 });
  checkEq('token_expires_in 600 (first line) -> instructions', instructions(c).map((i) => Object.keys(i)[0]), []);
  c = await sendLine(s1, {
    checkpoint: { last_op_id: '4', write_checkpoint: null, buckets: [listsBucket(listOps), todosBucket(todoOps)], streams: streamsDesc },
  });
  check('checkpoint -> UpdateSyncStatus', hasInstruction(c, 'UpdateSyncStatus'), c?.response);
  check('status downloading after checkpoint', db.currentStatus.downloading === true);
  checkEq(
    'downloadProgress after checkpoint (total, downloaded)',
    [db.currentStatus.downloadProgress?.totalOperations, db.currentStatus.downloadProgress?.downloadedOperations],
    [4, 0]
  );
  const streamNames = (db.currentStatus.syncStreams ?? []).map((s) => [s.subscription.name, s.subscription.isDefault]);
  checkEq('status streams after checkpoint', streamNames, [['todos_stream', false], ['lists_stream', true]]);

  await sendLine(s1, { data: { bucket: 'lists_global', data: listOps } });
  const p0 = db.currentStatus.downloadProgress?.untilPriority(0);
  checkEq('downloadProgress.untilPriority(0) after lists data', [p0?.totalOperations, p0?.downloadedOperations], [2, 2]);

  c = await sendLine(s1, { partial_checkpoint_complete: { last_op_id: '4', priority: 0 } });
  checkEq('partial_checkpoint_complete -> instructions', instructions(c).map((i) => Object.keys(i)[0]), ['UpdateSyncStatus']);
  const prio0 = db.currentStatus.statusForPriority(0);
  check('statusForPriority(0).hasSynced after partial', prio0?.hasSynced === true, prio0);
  check('statusForPriority(0).lastSyncedAt is a recent Date', prio0?.lastSyncedAt instanceof Date && Math.abs(Date.now() - prio0.lastSyncedAt) < 60_000, prio0);
  check('overall hasSynced still false after partial', !db.currentStatus.hasSynced, statusSummary(db.currentStatus));
  await withTimeout(db.waitForFirstSync({ priority: 0 }), 2000, 'waitForFirstSync({priority: 0})');
  check('waitForFirstSync({priority: 0}) resolves', true);
  let listRows = await db.getAll('SELECT id, name, owner_id FROM lists ORDER BY id');
  note('lists after partial', listRows);
  checkEq('priority-0 rows visible (local list deleted)', listRows.map((r) => r.id), ['list-s1', 'list-s2']);
  let todoRows = await db.getAll('SELECT id, description, completed, rank FROM todos ORDER BY id');
  checkEq('priority-3 rows not yet visible', todoRows.map((r) => r.id), ['todo-local-1']);

  await sendLine(s1, { data: { bucket: 'todos_u1', data: todoOps } });
  const firstSync = track(db.waitForFirstSync());
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '4' } });
  check(
    'checkpoint_complete with pending local writes -> INFO log, not applied',
    logLines(c).some((l) => l.severity === 'INFO') && !hasInstruction(c, 'DidCompleteSync'),
    c?.response
  );
  todoRows = await db.getAll('SELECT id FROM todos ORDER BY id');
  checkEq('server todos still hidden behind the local-write gate', todoRows.map((r) => r.id), ['todo-local-1']);
  await sleep(50);
  check('waitForFirstSync() still pending', !firstSync.settled);

  section('upload, write checkpoint, completed_upload');
  service.nextWriteCheckpoint = 10;
  uploadGate.resolve();
  await waitUntil(() => countOp('completed_upload') >= 1, 'completed_upload after the first upload');
  note('uploaded', uploaded);
  checkEq('uploadData saw 3 transactions', uploaded.map((u) => u.crud.map((e) => e.op_id)), [[1, 2], [3, 4], [5]]);
  checkEq('uploaded transaction ids', uploaded.map((u) => u.transactionId), [1, 2, 3]);
  checkEq('GET /write-checkpoint2.json client_id', service.writeCheckpointRequests.map((r) => r.clientId), [clientId]);
  c = controls.filter((x) => x.op === 'completed_upload')[0];
  checkEq('completed_upload (pending checkpoint has no write checkpoint) -> []', c?.parsed, []);
  checkEq('upload queue empty', await db.getCrudBatch(), null);

  const todoOps2 = [
    ...todoOps,
    op(5, 'todos', 'todo-local-1', { list_id: 'list-local-1', description: 'Oat milk', completed: 1, rank: 1.5 }, 305),
    remove(6, 'todos', 'todo-s2', 306),
  ];
  c = await sendLine(s1, {
    checkpoint_diff: { last_op_id: '6', write_checkpoint: '10', updated_buckets: [todosBucket(todoOps2)], removed_buckets: [] },
  });
  check('checkpoint_diff -> UpdateSyncStatus', hasInstruction(c, 'UpdateSyncStatus'), c?.response);
  await sendLine(s1, { data: { bucket: 'todos_u1', data: todoOps2.slice(2) } });
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '6' } });
  checkEq(
    'checkpoint_complete (write_checkpoint 10) -> instructions',
    instructions(c).map((i) => Object.keys(i)[0]),
    ['LogLine', 'LogLine', 'DidCompleteSync', 'UpdateSyncStatus']
  );
  checkEq('DidCompleteSync payload', instructions(c).find((i) => 'DidCompleteSync' in i)?.DidCompleteSync, {
    applied_checkpoint_request_id: '10',
  });
  await withTimeout(firstSync.promise, 2000, 'waitForFirstSync()');
  check('waitForFirstSync() resolves after the complete checkpoint', firstSync.settled && !firstSync.error);
  const st = db.currentStatus;
  note('status after first full sync', statusSummary(st));
  check('hasSynced', st.hasSynced === true, statusSummary(st));
  check('lastSyncedAt is a recent Date', st.lastSyncedAt instanceof Date && Math.abs(Date.now() - st.lastSyncedAt) < 60_000, st.lastSyncedAt);
  check('connected and not downloading', st.connected && !st.connecting && !st.downloading, statusSummary(st));
  checkEq('priorityStatusEntries priorities', (st.priorityStatusEntries ?? []).map((p) => [p.priority, p.hasSynced]), [[2147483647, true]]);
  check('statusForPriority(0) and (3) synced', st.statusForPriority(0)?.hasSynced === true && st.statusForPriority(3)?.hasSynced === true);
  checkEq('core internal_last_applied_checkpoint_request_id', st.core?.internal_last_applied_checkpoint_request_id, '10');
  check('no download/upload error', !st.downloadError && !st.uploadError, statusSummary(st));
  todoRows = await db.getAll('SELECT id, list_id, description, completed, rank FROM todos ORDER BY id');
  note('todos after full sync', todoRows);
  checkEq('synced todos visible', todoRows, [
    { id: 'todo-local-1', list_id: 'list-local-1', description: 'Oat milk', completed: 1, rank: 1.5 },
    { id: 'todo-s1', list_id: 'list-s1', description: 'Buy bread', completed: 0, rank: 2 },
  ]);
  checkEq('local-only table untouched by sync', (await db.getAll('SELECT key, value FROM local_settings')), [{ key: 'theme', value: 'dark' }]);
  await withTimeout(todosSub.waitForFirstSync(), 2000, 'subscription.waitForFirstSync()');
  const todosStream = db.currentStatus.forStream({ name: 'todos_stream', parameters: { list: 'L1' } });
  check('stream subscription synced (forStream)', todosStream?.subscription.hasSynced === true, todosStream?.subscription);

  section('write while connected, upload via getCrudBatch, checkpoint with write_checkpoint');
  uploadMode = 'batch';
  service.nextWriteCheckpoint = 11;
  await db.execute('UPDATE todos SET completed = 1 WHERE id = ?', ['todo-s1']);
  await waitUntil(() => countOp('completed_upload') >= 2, 'completed_upload after the second upload');
  note('uploaded', uploaded.slice(3));
  checkEq('uploaded batch', uploaded.slice(3).map((u) => [u.kind, u.crud.map((e) => [e.op, e.type, e.id, e.data, e.old])]), [
    ['batch', [['PATCH', 'todos', 'todo-s1', { completed: 1 }, { list_id: 'list-s1', description: 'Buy bread', completed: 0, rank: 2 }]]],
  ]);
  checkEq('second write checkpoint request', service.writeCheckpointRequests.length, 2);
  const todoOps3 = [
    ...todoOps2,
    op(7, 'todos', 'todo-s1', { list_id: 'list-s1', description: 'Buy bread (server)', completed: 1, rank: 2 }, 407),
  ];
  await sendLine(s1, {
    checkpoint: { last_op_id: '7', write_checkpoint: '11', buckets: [listsBucket(listOps), todosBucket(todoOps3)], streams: streamsDesc },
  });
  await sendLine(s1, { data: { bucket: 'todos_u1', data: todoOps3.slice(4) } });
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '7' } });
  check('checkpoint_complete (write_checkpoint 11) -> DidCompleteSync', hasInstruction(c, 'DidCompleteSync'), c?.response);
  checkEq('core internal_last_applied_checkpoint_request_id', db.currentStatus.core?.internal_last_applied_checkpoint_request_id, '11');
  checkEq(
    'server version of the written row applied',
    await db.getAll("SELECT description, completed FROM todos WHERE id = 'todo-s1'"),
    [{ description: 'Buy bread (server)', completed: 1 }]
  );

  section('extras: table options and raw tables (local writes)');
  const uploadGate2 = deferred();
  currentUploadGate = uploadGate2.promise;
  service.nextWriteCheckpoint = 12;
  await db.execute("INSERT INTO notes_view (id, title, body, rating, _metadata) VALUES ('note-1', 'T1', 'B1', 5, 'meta-insert')");
  await db.execute("UPDATE notes_view SET body = 'B2', _metadata = 'meta-update' WHERE id = 'note-1'");
  await db.execute("UPDATE notes_view SET body = 'B2' WHERE id = 'note-1'");
  await db.execute("UPDATE notes_view SET title = 'T2' WHERE id = 'note-1'");
  await db.execute("DELETE FROM notes_view WHERE id = 'note-1'");
  await db.writeTransaction(async (tx) => {
    await tx.execute("INSERT INTO raw_tags_local (id, label, weight) VALUES ('tag-1', 'urgent', 3)");
    await tx.execute("INSERT INTO raw_tags_local (id, label, weight) VALUES ('tag-2', 'later', 1)");
  });
  await db.execute("UPDATE raw_tags_local SET weight = 4 WHERE id = 'tag-1'");
  await db.execute("DELETE FROM raw_tags_local WHERE id = 'tag-2'");
  const extraBatch = await db.getCrudBatch();
  const extraEntries = extraBatch ? extraBatch.crud.map((e) => e.toJSON()) : [];
  note('crud entries (notes, raw_tags)', extraEntries);
  checkEq(
    'crud ops for notes (empty update ignored) and raw_tags',
    extraEntries.map((e) => [e.op, e.type, e.id]),
    [
      ['PUT', 'notes', 'note-1'],
      ['PATCH', 'notes', 'note-1'],
      ['PATCH', 'notes', 'note-1'],
      ['DELETE', 'notes', 'note-1'],
      ['PUT', 'raw_tags', 'tag-1'],
      ['PUT', 'raw_tags', 'tag-2'],
      ['PATCH', 'raw_tags', 'tag-1'],
      ['DELETE', 'raw_tags', 'tag-2'],
    ]
  );
  checkEq('notes metadata (trackMetadata)', extraEntries.slice(0, 4).map((e) => e.metadata ?? null), ['meta-insert', 'meta-update', null, null]);
  checkEq('notes PATCH data', extraEntries.slice(1, 3).map((e) => e.data), [{ body: 'B2' }, { title: 'T2' }]);
  checkEq('notes previousValues (columns [title], onlyWhenChanged)', extraEntries.slice(1, 4).map((e) => e.old ?? null), [{}, { title: 'T1' }, { title: 'T2' }]);
  checkEq('raw_tags PUT/PATCH data', extraEntries.slice(4, 7).map((e) => e.data), [
    { label: 'urgent', weight: 3 }, { label: 'later', weight: 1 }, { weight: 4 },
  ]);
  uploadGate2.resolve();
  await waitUntil(() => countOp('completed_upload') >= 3, 'completed_upload after the third upload');
  checkEq('third upload: one batch with the 8 entries', uploaded.slice(4).map((u) => u.crud.length), [8]);

  section('extras: raw tables, untyped rows, subkeys, MOVE/REMOVE, unknown line, partial priority 1');
  const miscOps = [
    op(8, 'notes', 'note-s1', { title: 'Ünïcødé ✓ "q"', body: 'line1\nline2', rating: 4, nested: { a: [1, 2] }, big: 1234567890123, f: 0.1 }, 8),
    op(9, 'raw_items', 'ri-1', { name: 'Widget', qty: 3, color: 'red', tags: ['a', 'b'] }, 9),
    op(10, 'raw_tags', 'tag-s1', { label: 'server', weight: 7, ignored_col: 'x' }, 10),
    op(11, 'mystery_type', 'm-1', { x: 1 }, 11),
    op(12, 'notes', 'note-s2', { title: 'with subkey' }, 12, { subkey: 'sk1' }),
    { op_id: '13', op: 'MOVE', checksum: 13 },
    op(14, 'notes', 'note-s3', { title: 'to be removed' }, 14),
    remove(15, 'notes', 'note-s3', 15),
    op(16, 'raw_items', 'ri-2', { name: 'Gadget', qty: 1 }, 16),
    remove(17, 'raw_items', 'ri-2', 17),
  ];
  const miscBucket = { bucket: 'misc', checksum: bucketChecksum(miscOps), priority: 1, count: miscOps.length };
  c = await sendLine(s1, {
    checkpoint_diff: { last_op_id: '17', write_checkpoint: '12', updated_buckets: [miscBucket], removed_buckets: [] },
  });
  check('checkpoint_diff adding a bucket -> UpdateSyncStatus', hasInstruction(c, 'UpdateSyncStatus'), c?.response);
  c = await sendLine(s1, { unknown_kind: { x: 1 } });
  checkEq('unknown line -> DEBUG LogLine', c?.parsed, [{ LogLine: { severity: 'DEBUG', line: 'Unknown sync line' } }]);
  await sendLine(s1, { data: { bucket: 'misc', data: miscOps.slice(0, 5) } });
  await sendLine(s1, { data: { bucket: 'misc', data: miscOps.slice(5) } });
  c = await sendLine(s1, { partial_checkpoint_complete: { last_op_id: '17', priority: 1 } });
  // The gate stays closed for priorities > 0 until a complete checkpoint reached the write checkpoint target.
  checkEq('partial_checkpoint_complete priority 1 before write checkpoint 12 was applied -> [] (skipped)', c?.parsed, []);
  checkEq('priority entries unchanged by the skipped partial', (db.currentStatus.priorityStatusEntries ?? []).map((p) => p.priority), [2147483647]);
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '17' } });
  check('checkpoint_complete -> DidCompleteSync', hasInstruction(c, 'DidCompleteSync'), c?.response);
  const notesRows = await db.getAll('SELECT id, title, body, rating FROM notes_view ORDER BY id');
  note('notes after sync', notesRows);
  checkEq('notes synced (unicode, REMOVE applied, subkey row)', notesRows, [
    { id: 'note-s1', title: 'Ünïcødé ✓ "q"', body: 'line1\nline2', rating: 4 },
    { id: 'note-s2', title: 'with subkey', body: null, rating: null },
  ]);
  const rawItems = await db.getAll('SELECT id, name, qty, extra FROM raw_items ORDER BY id');
  note('raw_items after sync', rawItems);
  checkEq('raw table with explicit statements (Rest column)', rawItems, [
    { id: 'ri-1', name: 'Widget', qty: 3, extra: '{"color":"red","tags":["a","b"]}' },
  ]);
  const rawTags = await db.getAll('SELECT id, label, weight FROM raw_tags_local ORDER BY id');
  note('raw_tags_local after sync', rawTags);
  check('raw table with inferred statements has the synced row', rawTags.some((r) => r.id === 'tag-s1' && r.label === 'server' && r.weight === 7), rawTags);
  const untyped = await db.getAll('SELECT type, id, data FROM ps_untyped ORDER BY type, id');
  note('ps_untyped after sync', untyped);
  checkEq('unknown object_type kept in ps_untyped', untyped.map((r) => [r.type, r.id]), [['mystery_type', 'm-1']]);
  checkEq('crud queue empty after raw-table sync', await db.getCrudBatch(), null);

  section('extras: bucket removal');
  c = await sendLine(s1, {
    checkpoint_diff: { last_op_id: '17', write_checkpoint: '12', updated_buckets: [], removed_buckets: ['misc'] },
  });
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '17' } });
  check('checkpoint_complete after removal -> DidCompleteSync', hasInstruction(c, 'DidCompleteSync'), c?.response);
  const afterRemoval = {
    notes: (await db.getAll('SELECT id FROM notes_view')).map((r) => r.id),
    raw_items: (await db.getAll('SELECT id FROM raw_items')).map((r) => r.id),
    raw_tags: (await db.getAll('SELECT id FROM raw_tags_local ORDER BY id')).map((r) => r.id),
    untyped: (await db.getAll('SELECT id FROM ps_untyped')).map((r) => r.id),
  };
  note('after bucket removal', afterRemoval);
  checkEq('rows of the removed bucket are gone', afterRemoval, { notes: [], raw_items: [], raw_tags: [], untyped: [] });

  section('checksum mismatch and reconnect');
  const badListOps = [op(18, 'lists', 'list-s4', { name: 'Server list 4', owner_id: 'u1', created_at: '2024-02-04' }, 118)];
  await sendLine(s1, {
    checkpoint_diff: {
      last_op_id: '18', write_checkpoint: '12',
      updated_buckets: [{ ...listsBucket([...listOps, ...badListOps]), checksum: 999 }], removed_buckets: [],
    },
  });
  await sendLine(s1, { data: { bucket: 'lists_global', data: badListOps } });
  c = await sendLine(s1, { checkpoint_complete: { last_op_id: '18' } });
  checkEq('checksum mismatch -> [LogLine WARNING, CloseSyncStream{false}]', instructions(c).map((i) => ('LogLine' in i ? i.LogLine.severity : i)), [
    'WARNING', { CloseSyncStream: { hide_disconnect: false } },
  ]);
  note('checksum warning', logLines(c));
  await waitUntil(() => service.streams.length >= 2, 'POST /sync/stream after the checksum failure (retry delay)');
  await waitUntil(() => established() >= 2, "powersync_control('connection', 'established') after the checksum failure");
  const sRetry = service.streams[1];
  note('stream request after checksum failure', sRetry.body);
  checkEq('request after checksum failure drops the failed bucket', sRetry.body.buckets, [{ name: 'todos_u1', after: '17' }]);
  const listOpsResent = [...listOps, ...badListOps];
  await sendLine(sRetry, {
    checkpoint: {
      last_op_id: '18', write_checkpoint: '12', buckets: [listsBucket(listOpsResent), todosBucket(todoOps3)], streams: streamsDesc,
    },
  });
  await sendLine(sRetry, { data: { bucket: 'lists_global', data: listOpsResent } });
  c = await sendLine(sRetry, { checkpoint_complete: { last_op_id: '18' } });
  check('re-sent bucket applied -> DidCompleteSync', hasInstruction(c, 'DidCompleteSync'), c?.response);
  checkEq('lists after re-sync', (await db.getAll('SELECT id FROM lists ORDER BY id')).map((r) => r.id), ['list-s1', 'list-s2', 'list-s4']);

  section('token refresh, reconnect with BSON framing');
  service.framing = 'bson';
  c = await sendLine(sRetry, { token_expires_in: 20 });
  checkEq('token_expires_in 20 -> FetchCredentials', c?.parsed, [{ FetchCredentials: { did_expire: false } }]);
  await waitUntil(() => service.streams.length >= 3, 'POST /sync/stream after refreshed_token');
  await waitUntil(() => established() >= 3, "powersync_control('connection', 'established') after refreshed_token");
  const rt = controls.find((x) => x.op === 'refreshed_token');
  checkEq('refreshed_token -> CloseSyncStream{hide_disconnect: true}', rt?.parsed, [{ CloseSyncStream: { hide_disconnect: true } }]);
  const s2 = service.streams[2];
  note('stream request 2', s2.body);
  check('credentials were fetched again', credFetches >= 2 && s2.headers['authorization'] !== 'Token token-1', [credFetches, s2.headers['authorization']]);
  checkEq('request 2 buckets', s2.body.buckets, [
    { name: 'todos_u1', after: '18' },
    { name: 'lists_global', after: '18' },
  ]);
  await waitUntil(() => sRetry.closed, 'previous stream closed by the SDK');
  check('previous stream closed', sRetry.closed);

  const listOps2 = [...listOpsResent, op(19, 'lists', 'list-s3', { name: 'Server list 3', owner_id: 'u1', created_at: '2024-02-03' }, 108)];
  c = await sendLine(s2, { token_expires_in: 600 });
  await sendLine(s2, {
    checkpoint: {
      last_op_id: '19', write_checkpoint: '12',
      buckets: [listsBucket(listOps2), { ...todosBucket(todoOps3), checksum: { $int64: todosBucket(todoOps3).checksum } }],
      streams: streamsDesc,
    },
  });
  await sendLine(s2, { data: { bucket: 'lists_global', data: listOps2.slice(3) } });
  c = await sendLine(s2, { partial_checkpoint_complete: { last_op_id: '19', priority: 0 } });
  checkEq('BSON partial_checkpoint_complete priority 0 -> [UpdateSyncStatus]', instructions(c).map((i) => Object.keys(i)[0]), ['UpdateSyncStatus']);
  checkEq('priority entries after a partial following a full sync', (db.currentStatus.priorityStatusEntries ?? []).map((p) => p.priority), [0, 2147483647]);
  c = await sendLine(s2, { checkpoint_complete: { last_op_id: '19' } });
  check('BSON checkpoint_complete -> DidCompleteSync', hasInstruction(c, 'DidCompleteSync'), c?.response);
  listRows = await db.getAll('SELECT id, name FROM lists ORDER BY id');
  note('lists after BSON sync', listRows);
  checkEq('BSON-synced row visible', listRows.map((r) => r.id), ['list-s1', 'list-s2', 'list-s3', 'list-s4']);
  check('connected after reconnect', db.currentStatus.connected === true, statusSummary(db.currentStatus));

  section('disconnect');
  const beforeDisconnect = controls.length;
  await withTimeout(db.disconnect(), WAIT_MS, 'db.disconnect()');
  // Aborting the request ends the body, so the iteration normally ends with `connection end`
  // (or with `stop` when the abort wins); the final `stop` then has nothing left to do.
  const ending = controls.slice(beforeDisconnect);
  const endCall = ending.find((x) => x.op === 'connection' || x.op === 'stop');
  checkEq(
    'iteration end -> [UpdateSyncStatus, CloseSyncStream{hide_disconnect: false}]',
    instructions(endCall).map((i) => ('CloseSyncStream' in i ? i : Object.keys(i)[0])),
    ['UpdateSyncStatus', { CloseSyncStream: { hide_disconnect: false } }]
  );
  checkEq('final stop -> []', ending.at(-1)?.op === 'stop' ? ending.at(-1).parsed : ending.at(-1), []);
  const fin = db.currentStatus;
  note('status after disconnect', statusSummary(fin));
  check('disconnected status', !fin.connected && !fin.connecting && !fin.downloading && fin.hasSynced === true, statusSummary(fin));
  const { s: offline } = await db.get('select powersync_offline_sync_status() as s');
  note('powersync_offline_sync_status', JSON.parse(offline));

  section('disconnectAndClear');
  await db.execute("INSERT INTO raw_items (id, name, qty) VALUES ('ri-local', 'local only', 1)");
  await withTimeout(db.disconnectAndClear(), WAIT_MS, 'db.disconnectAndClear()');
  const cleared = {};
  for (const t of ['lists', 'todos', 'local_settings', 'notes_view', 'raw_items', 'raw_tags_local', 'ps_crud', 'ps_buckets', 'ps_oplog', 'ps_untyped']) {
    cleared[t] = (await db.get(`SELECT count(*) AS n FROM ${t}`)).n;
  }
  note('row counts after disconnectAndClear', cleared);
  checkEq('disconnectAndClear empties synced, local-only and raw tables (clear statement)', cleared, {
    lists: 0, todos: 0, local_settings: 0, notes_view: 0, raw_items: 0, raw_tags_local: 0, ps_crud: 0, ps_buckets: 0, ps_oplog: 0, ps_untyped: 0,
  });
  note('status after disconnectAndClear', statusSummary(db.currentStatus));
  check('status after disconnectAndClear: not synced', !db.currentStatus.hasSynced, statusSummary(db.currentStatus));
  const { id: clientIdAfter } = await db.get('select powersync_client_id() as id');
  check('client id kept by powersync_clear(1)', clientIdAfter === clientId, [clientIdAfter, clientId]);

  section('checkpoint requests mode');
  const seedGate = deferred();
  service.checkpointRequestGate = seedGate.promise;
  service.knownCheckpointRequestId = 40n;
  const streamsBefore = service.streams.length;
  const establishedBefore = established();
  const connectR = track(
    db.connect(connector, { params: { user: 'u1' }, checkpointMode: 'requests', crudUploadThrottleMs: 50, retryDelayMs: 300 })
  );
  await waitUntil(() => service.streams.length > streamsBefore, 'POST /sync/stream in requests mode');
  await waitUntil(() => established() > establishedBefore, "powersync_control('connection', 'established') in requests mode");
  await withTimeout(connectR.promise, WAIT_MS, 'db.connect({checkpointMode: requests})');
  const sR = service.streams[streamsBefore];
  note('stream request (requests mode)', sR.body);
  const startR = controls.filter((x) => x.op === 'start').at(-1);
  const establishR = instructions(startR).find((i) => 'EstablishSyncStream' in i)?.EstablishSyncStream;
  note('EstablishSyncStream.checkpoint_request', establishR?.checkpoint_request);
  check(
    'EstablishSyncStream carries checkpoint_request {client_id, checkpoint_request_id}',
    establishR?.checkpoint_request?.client_id === clientId && /^\d+$/.test(establishR?.checkpoint_request?.checkpoint_request_id ?? ''),
    establishR?.checkpoint_request
  );
  await waitUntil(() => service.checkpointRequests.length >= 1, 'POST /sync/checkpoint-request (seeding)');
  checkEq('seeding posts the checkpoint_request object', service.checkpointRequests[0].body, establishR?.checkpoint_request);
  seedGate.resolve();
  await waitUntil(
    () => writerSqlCount('seed_checkpoint_request_id') >= 1 && writerSqlCount('current_checkpoint_request_id') >= 1,
    'seed_checkpoint_request_id and current_checkpoint_request_id on the write connection'
  );
  const reqOps = [op(30, 'lists', 'list-r1', { name: 'Requested list 1', owner_id: 'u1', created_at: '2024-03-01' }, 30)];
  const reqBucket = (ops) => ({ bucket: 'req_bucket', checksum: bucketChecksum(ops), priority: 3, count: ops.length });
  await sendLine(sR, { token_expires_in: 600 });
  await sendLine(sR, { checkpoint: { last_op_id: '30', write_checkpoint: '40', buckets: [reqBucket(reqOps)] } });
  await sendLine(sR, { data: { bucket: 'req_bucket', data: reqOps } });
  c = await sendLine(sR, { checkpoint_complete: { last_op_id: '30' } });
  checkEq('checkpoint with write_checkpoint 40 -> DidCompleteSync', instructions(c).find((i) => 'DidCompleteSync' in i), {
    DidCompleteSync: { applied_checkpoint_request_id: '40' },
  });
  checkEq('internal_last_applied_checkpoint_request_id (requests mode)', db.currentStatus.core?.internal_last_applied_checkpoint_request_id, '40');

  const request = await withTimeout(db.requestCheckpoint(), WAIT_MS, 'db.requestCheckpoint()');
  checkEq('requestCheckpoint() posts the next id after the seed', service.checkpointRequests.at(-1).body, {
    client_id: clientId, checkpoint_request_id: '41',
  });
  check('CheckpointRequest.hasSynced false before the service answered', request.hasSynced === false);
  const requestSynced = track(request.waitForSync());
  await sendLine(sR, { checkpoint_diff: { last_op_id: '30', write_checkpoint: '41', updated_buckets: [], removed_buckets: [] } });
  c = await sendLine(sR, { checkpoint_complete: { last_op_id: '30' } });
  await withTimeout(requestSynced.promise, 2000, 'CheckpointRequest.waitForSync()');
  check('CheckpointRequest.waitForSync() resolves, hasSynced', requestSynced.settled && !requestSynced.error && request.hasSynced, String(requestSynced.error));

  await db.execute("INSERT INTO lists (id, name, owner_id, created_at) VALUES ('list-r2', 'Requested list 2', 'u1', '2024-03-02')");
  await waitUntil(() => countOp('completed_upload') >= 4, 'completed_upload in requests mode');
  checkEq('upload in requests mode allocates and posts id 42', service.checkpointRequests.at(-1).body, {
    client_id: clientId, checkpoint_request_id: '42',
  });
  const reqOps2 = [...reqOps, op(31, 'lists', 'list-r2', { name: 'Requested list 2', owner_id: 'u1', created_at: '2024-03-02' }, 31)];
  await sendLine(sR, { checkpoint_diff: { last_op_id: '31', write_checkpoint: '42', updated_buckets: [reqBucket(reqOps2)], removed_buckets: [] } });
  await sendLine(sR, { data: { bucket: 'req_bucket', data: reqOps2.slice(1) } });
  c = await sendLine(sR, { checkpoint_complete: { last_op_id: '31' } });
  checkEq('checkpoint with write_checkpoint 42 -> DidCompleteSync', instructions(c).find((i) => 'DidCompleteSync' in i), {
    DidCompleteSync: { applied_checkpoint_request_id: '42' },
  });
  checkEq('lists after requests-mode sync', (await db.getAll('SELECT id FROM lists ORDER BY id')).map((r) => r.id), ['list-r1', 'list-r2']);
  checkEq('upload queue empty', await db.getCrudBatch(), null);
  note('checkpoint requests received', service.checkpointRequests.map((r) => [r.body, r.returned]));
  await withTimeout(db.disconnect(), WAIT_MS, 'db.disconnect() (requests mode)');
  check('disconnected (requests mode)', !db.currentStatus.connected, statusSummary(db.currentStatus));
  check('no unexpected HTTP requests', service.otherRequests.length === 0, service.otherRequests);
  const errors = logRecords.filter((r) => r.level >= 50);
  check('SDK logged no errors', errors.length === 0, errors.map((e) => `${e.message} ${e.error ?? ''}`).slice(0, 3));
  todosSub.unsubscribe();
}

// ---------------------------------------------------------------------------------------------

async function cleanup() {
  if (db) {
    try {
      await withTimeout(db.close(), 10_000, 'db.close()');
    } catch (e) {
      check('db.close()', false, String(e));
    }
  }
  if (service) {
    try {
      await withTimeout(service.close(), 5_000, 'mock service close');
    } catch (_) {}
  }
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
}

function finish(code) {
  if (process.env.SDK_CHECK_TRANSCRIPT) fs.writeFileSync(process.env.SDK_CHECK_TRANSCRIPT, transcript.join('\n') + '\n');
  if (process.env.SDK_CHECK_LOG) {
    fs.writeFileSync(
      process.env.SDK_CHECK_LOG,
      logRecords.map((r) => `${r.t} ${r.level} ${r.message}${r.error ? ` | ${r.error}` : ''}`).join('\n') + '\n'
    );
  }
  if (failures.length) {
    console.log(`sdk-check [${label}] failures:`);
    for (const f of failures) console.log(`  - ${f}`);
  }
  console.log(`${label}: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed > 0 ? 1 : 0));
}

const watchdog = setTimeout(() => {
  check(`finished within ${TOTAL_TIMEOUT_MS} ms`, false, 'watchdog fired');
  finish(1);
}, TOTAL_TIMEOUT_MS);

try {
  await scenario();
} catch (e) {
  check('scenario ran to the end', false, e?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(e));
}
await cleanup();
clearTimeout(watchdog);
finish();
