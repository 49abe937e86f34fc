import { h } from './dom.js';

/**
 * Dates from the management API are ISO strings; `/v1` objects (jobs, batches) carry Unix seconds.
 * Both are shown in the viewer's locale, with the exact UTC instant in a tooltip.
 */
export function toDate(v) {
  if (v === null || v === undefined || v === '') return null;
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

// With the zone named: beside them the limits and the usage chart count UTC days, and a local time
// unmarked read as a day's spend on the wrong day.
/** @type {Intl.DateTimeFormatOptions} */
const FIELDS = { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' };
const dateTime = new Intl.DateTimeFormat(undefined, { ...FIELDS, timeZoneName: 'short' });
const dateTimeSeconds = new Intl.DateTimeFormat(undefined, {
  ...FIELDS,
  second: '2-digit',
  timeZoneName: 'short',
});

/** A `<time>` element, or a dash; `seconds` where they tell something (a job's queueing and run). */
export function time(v, empty = '—', { seconds = false } = {}) {
  const d = toDate(v);
  if (!d) return h('span', { class: 'muted' }, empty);
  const text = (seconds ? dateTimeSeconds : dateTime).format(d);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, text);
}

/** ISO → the value a `<input type="datetime-local">` takes, in local time. */
export function toLocalInput(iso) {
  const d = toDate(iso);
  if (!d) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A `datetime-local` value (local time) → ISO UTC, or null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new Error('Enter a date and time');
  return d.toISOString();
}

const TONE = {
  active: 'ok',
  succeeded: 'ok',
  completed: 'ok',
  running: 'info',
  in_progress: 'info',
  validating: 'info',
  finalizing: 'info',
  queued: 'info',
  pending: 'info',
  disabled: 'warn',
  cancelling: 'warn',
  expired: 'muted',
  cancelled: 'muted',
  deleted: 'muted',
  revoked: 'danger',
  failed: 'danger',
};

/** A status word as a badge; the word itself carries the meaning, colour only repeats it. */
export function badge(status) {
  const label = String(status).replaceAll('_', ' ');
  return h('span', { class: ['badge', `badge-${TONE[status] ?? 'muted'}`] }, label);
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB'];

/** A size in bytes, in the largest binary unit that keeps it at 1 or more (1.5 MiB). */
export function formatBytes(n) {
  let v = Number(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0
    ? plural(v, 'byte')
    : `${v.toLocaleString(undefined, { maximumFractionDigits: 1 })} ${UNITS[u]}`;
}
