// Entry point of `make sdk-check`.
//
// Runs check.mjs (the unmodified @powersync/node SDK against the mock service) twice — on our
// extension and on the reference 0.5.3 build — and then compares what both runs recorded:
//   * the transcript: every powersync_control call the SDK made (payload and full instruction
//     JSON), plus what the SDK showed (crud entries, rows, status, requests), normalised;
//   * every statement the SDK ran on its write connection and its read connection, with results.
// Both runs must pass their own checks and the recordings must be identical (after masking
// uuids, wall-clock timestamps and the build commit).
//
//   SDK_CHECK_OURS=path        our extension (default <repo>/target/release/libpowersync.so)
//   SDK_CHECK_REFERENCE=path   reference extension (default: <repo>/.cache/reference/... if
//                              tools/reference/setup.sh ran, else the identical file shipped in
//                              node_modules/@powersync/node); `skip` runs ours only
//   POWERSYNC_EXTENSION=path   run check.mjs once on that file only, without comparison
//   SDK_CHECK_COMPARE_ONLY=1   only compare the recordings already in out/ (debugging)
//
// Output files go to tests/sdk-check/out/. Final line: `sdk-check: N passed, M failed`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import url from 'node:url';
import { normalizeSqlLog } from './normalize.mjs';

const HERE = path.dirname(url.fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const OUT = path.join(HERE, 'out');
const CHILD_TIMEOUT_MS = 60_000;

function defaultReference() {
  const cached = path.join(REPO, '.cache/reference/node/package/lib/libpowersync_x64.linux.so');
  if (fs.existsSync(cached)) return cached;
  return path.join(HERE, 'node_modules/@powersync/node/lib/libpowersync_x64.linux.so');
}

function runCheck(label, extension) {
  for (const suffix of ['transcript.txt', 'sql.jsonl', 'sql.jsonl.reader', 'log']) {
    fs.rmSync(path.join(OUT, `${label}.${suffix}`), { force: true });
  }
  const env = {
    ...process.env,
    POWERSYNC_EXTENSION: extension,
    SDK_CHECK_LABEL: label,
    SDK_CHECK_TRANSCRIPT: path.join(OUT, `${label}.transcript.txt`),
    SDK_CHECK_SQL_LOG: path.join(OUT, `${label}.sql.jsonl`),
    SDK_CHECK_LOG: path.join(OUT, `${label}.log`),
  };
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(HERE, 'check.mjs')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    const timer = setTimeout(() => {
      console.log(`sdk-check: ${label} run exceeded ${CHILD_TIMEOUT_MS} ms, killing pid ${child.pid}`);
      child.kill('SIGKILL');
    }, CHILD_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /^\S+: (\d+) passed, (\d+) failed\s*$/m.exec(out.trim().split('\n').at(-1) ?? '');
      resolve({
        label,
        code,
        passed: m ? Number(m[1]) : 0,
        failed: m ? Number(m[2]) : 1,
      });
    });
  });
}

function excerpt(line, at) {
  const start = Math.max(0, at - 200);
  return `${start > 0 ? '…' : ''}${line.slice(start, at + 300)}${at + 300 < line.length ? '…' : ''}`;
}

// Compares two line lists; prints where they first differ and writes a unified diff file.
function compare(name, refLines, ourLines, refFile, ourFile) {
  const same = refLines.length === ourLines.length && refLines.every((l, i) => l === ourLines[i]);
  if (same) {
    console.log(`  ok   ${name} identical (${ourLines.length} lines)`);
    return true;
  }
  console.log(`  FAIL ${name} differ (reference ${refLines.length} lines, ours ${ourLines.length} lines)`);
  let shown = 0;
  const n = Math.max(refLines.length, ourLines.length);
  for (let i = 0; i < n && shown < 5; i++) {
    const r = refLines[i] ?? '<missing>';
    const o = ourLines[i] ?? '<missing>';
    if (r === o) continue;
    let at = 0;
    while (at < r.length && at < o.length && r[at] === o[at]) at++;
    console.log(`     line ${i + 1}, first difference at column ${at + 1}:`);
    console.log(`       reference: ${excerpt(r, at)}`);
    console.log(`       ours:      ${excerpt(o, at)}`);
    shown++;
  }
  const diffFile = path.join(OUT, `diff-${name.replace(/[^a-z0-9]+/gi, '-')}.txt`);
  const d = spawnSync('diff', ['-u', refFile, ourFile], { encoding: 'utf8' });
  if (d.stdout) {
    fs.writeFileSync(diffFile, d.stdout);
    console.log(`     full diff: ${path.relative(process.cwd(), diffFile)}`);
  }
  return false;
}

function readLines(file) {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length) : [];
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });

  if (process.env.POWERSYNC_EXTENSION) {
    const r = await runCheck(process.env.SDK_CHECK_LABEL || 'custom', path.resolve(process.env.POWERSYNC_EXTENSION));
    console.log(`sdk-check: ${r.passed} passed, ${r.failed} failed`);
    process.exit(r.failed > 0 || r.code !== 0 ? 1 : 0);
  }

  const ours = path.resolve(process.env.SDK_CHECK_OURS || path.join(REPO, 'target/release/libpowersync.so'));
  const refSetting = process.env.SDK_CHECK_REFERENCE || defaultReference();
  let passed = 0;
  let failed = 0;

  const compareOnly = process.env.SDK_CHECK_COMPARE_ONLY === '1';
  const runs = compareOnly ? [] : [await runCheck('ours', ours)];
  if (compareOnly) {
    runs.push({ label: 'ours', code: 0, passed: 0, failed: 0 }, { label: 'reference', code: 0, passed: 0, failed: 0 });
  } else if (refSetting !== 'skip') {
    if (fs.existsSync(refSetting)) {
      runs.push(await runCheck('reference', path.resolve(refSetting)));
    } else {
      console.log(`sdk-check: reference extension not found at ${refSetting} (set SDK_CHECK_REFERENCE, or skip)`);
      failed++;
    }
  }
  for (const r of runs) {
    passed += r.passed;
    failed += r.failed;
    if (r.code !== 0 && r.failed === 0) failed++;
  }

  if (runs.length === 2) {
    console.log('-- ours vs reference (normalised recordings)');
    const pairs = [
      ['powersync_control transcript', 'transcript.txt', (f) => readLines(f)],
      ['write-connection SQL', 'sql.jsonl', (f) => normalizeSqlLog(fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')],
      ['read-connection SQL', 'sql.jsonl.reader', (f) => normalizeSqlLog(fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')],
    ];
    for (const [name, suffix, load] of pairs) {
      const refFile = path.join(OUT, `reference.${suffix}`);
      const ourFile = path.join(OUT, `ours.${suffix}`);
      const refLines = load(refFile);
      const ourLines = load(ourFile);
      const refNorm = path.join(OUT, `reference.${suffix}.norm`);
      const ourNorm = path.join(OUT, `ours.${suffix}.norm`);
      fs.writeFileSync(refNorm, refLines.join('\n') + '\n');
      fs.writeFileSync(ourNorm, ourLines.join('\n') + '\n');
      const ok = refLines.length > 0 && compare(name, refLines, ourLines, refNorm, ourNorm);
      if (refLines.length === 0) console.log(`  FAIL ${name}: reference run recorded nothing`);
      if (ok) passed++;
      else failed++;
    }
  }

  console.log(`sdk-check: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

await main();
