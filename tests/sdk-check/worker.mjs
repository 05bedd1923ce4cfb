// Database worker for the PowerSync Node SDK that loads the extension named by the parent thread
// (workerData.extensionPath) instead of the one bundled with @powersync/node.
//
// With workerData.sqlLog set, the better-sqlite3 handles are wrapped so that every statement the
// SDK runs (SQL, parameters, result rows or change count) is appended as one JSON line to that
// file (write connection) or to `<file>.reader` (read connections). This only observes the driver; the SDK itself is unmodified.
import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import { startPowerSyncWorker } from '@powersync/node/worker.js';

const extensionPath = workerData?.extensionPath;
const sqlLog = workerData?.sqlLog;
if (!extensionPath) {
  throw new Error('sdk-check worker: workerData.extensionPath is required');
}

function jsonable(value) {
  if (value instanceof Uint8Array) return { blob: Buffer.from(value).toString('hex') };
  if (typeof value === 'bigint') return { bigint: value.toString() };
  if (Array.isArray(value)) return value.map(jsonable);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonable(v)]));
  }
  return value;
}

function log(file, entry) {
  fs.appendFileSync(file, JSON.stringify(jsonable(entry)) + '\n');
}

function wrapStatement(stmt, sql, file) {
  return new Proxy(stmt, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop === 'all' || prop === 'run' || prop === 'get') {
        return (...args) => {
          try {
            const result = value.apply(target, args);
            log(file, prop === 'run' ? { sql, params: args, changes: result.changes } : { sql, params: args, rows: result });
            return result;
          } catch (e) {
            log(file, { sql, params: args, error: String(e?.message ?? e), code: e?.code });
            throw e;
          }
        };
      }
      return value.bind(target);
    },
  });
}

async function loadBetterSqlite3() {
  const Base = (await import('better-sqlite3')).default;
  if (!sqlLog) return Base;
  return class LoggingDatabase extends Base {
    constructor(path, options) {
      super(path, options);
      this.sdkCheckLog = options?.readonly ? `${sqlLog}.reader` : sqlLog;
    }
    prepare(sql) {
      return wrapStatement(super.prepare(sql), sql, this.sdkCheckLog);
    }
  };
}

startPowerSyncWorker({ extensionPath: () => extensionPath, loadBetterSqlite3 });
