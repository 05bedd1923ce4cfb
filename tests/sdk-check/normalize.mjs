// Normalisation shared by check.mjs and run.mjs. It replaces only what legitimately differs
// between two runs — uuids (client ids, uuid() values) and wall-clock timestamps — by
// placeholders and keeps everything else byte for byte (JSON texts are not re-serialised, so
// differences in key order, spacing, escapes or number formatting stay visible). A timestamp
// placeholder keeps the value's shape (a microsecond value with millisecond granularity stays
// distinguishable from anything else).
const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const TIME_KEYS = new Set(['last_synced_at', 'expires_at', 'lastSyncedAt', 'expiresAt']);
const TIME_IN_TEXT_RE = /("(?:last_synced_at|expires_at)"\s*:\s*)(-?[0-9.eE+-]+)/g;

function timeShape(value) {
  if (typeof value === 'number' && Number.isInteger(value)) {
    const digits = String(Math.abs(value)).length;
    if (digits === 16) return value % 1000 === 0 ? '<time:us,ms-granular>' : '<time:us>';
    return `<time:${digits}-digit integer>`;
  }
  if (typeof value === 'string') return `<time:string ${value.length}>`;
  return `<time:${typeof value}>`;
}

export function normalizeText(text) {
  return String(text)
    .replace(UUID_RE, '<uuid>')
    .replace(TIME_IN_TEXT_RE, (_m, prefix, num) => `${prefix}"${timeShape(Number(num))}"`);
}

export function normalize(value, key) {
  if (value instanceof Date) return '<date>';
  if (key !== undefined && TIME_KEYS.has(key) && value != null) return timeShape(value);
  if (typeof value === 'string') return normalizeText(value);
  if (Array.isArray(value)) return value.map((v) => normalize(v));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalize(v, k)]));
  }
  return value;
}

// For raw JSON texts as returned by powersync_control: same as normalizeText.
export function normalizeJsonText(text) {
  return text == null ? String(text) : normalizeText(text);
}

// One normalised line per statement of a SDK_CHECK_SQL_LOG file; the extension's build commit in
// powersync_rs_version() is masked as well.
export function normalizeSqlLog(text) {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.stringify(normalize(JSON.parse(l))).replace(/(\d+\.\d+\.\d+)\/[0-9a-f]{8}\b/g, '$1/<commit>'));
}
