import { table } from '../components/page.js';
import { usageBar } from '../components/usage-bar.js';
import { h } from '../dom.js';
import { badge, plural, time } from '../format.js';

function usageCell(u, period, limit) {
  const spent = period === 'daily' ? u.daily_spent_ngonka : u.monthly_spent_ngonka;
  const reserved = period === 'daily' ? u.daily_reserved_ngonka : u.monthly_reserved_ngonka;
  const requests = period === 'daily' ? u.requests_today : u.requests_this_month;
  return h(
    'td',
    {},
    usageBar({ spent, reserved, limit }),
    h('span', { class: 'usage-sub' }, plural(requests, 'request')),
  );
}

/** Metadata may be up to 16 KiB: a row shows its start, the Edit dialog all of it. */
const METADATA_SHOWN = 160;

/**
 * A key's metadata as `key: value` pairs, the owner's own references (which customer it serves):
 * strings as they are, anything else as JSON. Nothing for a key without any.
 */
function metadataLine(metadata) {
  const entries = Object.entries(metadata ?? {});
  if (!entries.length) return null;
  // Each key and value isolated (<bdi>): a right-to-left override in one (`\u202E24_c`) must not
  // reorder what follows it into something else (`c_42`).
  const parts = [];
  let left = METADATA_SHOWN;
  for (const [k, v] of entries) {
    if (parts.length) parts.push(' · ');
    const value = typeof v === 'string' ? v : JSON.stringify(v);
    const key = k.slice(0, left);
    left -= key.length + 2;
    const shown = left > 0 ? value.slice(0, left) : '';
    left -= shown.length;
    parts.push(h('bdi', {}, key), ': ', h('bdi', {}, shown));
    if (left <= 0 && (shown.length < value.length || entries.at(-1)?.[0] !== k)) {
      parts.push('…');
      break;
    }
  }
  return h('span', { class: 'metadata mono small muted' }, parts);
}

/** The child keys of `mk` with their limits, usage against them, and `actions(child)` per row. */
export function childKeysTable(mk, visible, actions) {
  return table({
    caption: `Child keys of ${mk.name}`,
    className: 'child-keys',
    columns: [
      { label: 'Name' },
      { label: 'Status' },
      // Limits reset on the UTC day and month, not the viewer's (the times on the page are local).
      { label: 'Today (UTC)' },
      { label: 'This month (UTC)' },
      { label: 'RPM', className: 'num' },
      { label: 'Expires' },
      { label: 'Last used' },
      { label: 'Actions' },
    ],
    rows: visible.map((c) =>
      h(
        'tr',
        { 'data-id': c.id },
        h(
          'th',
          { scope: 'row' },
          h('span', { class: 'key-name' }, c.name),
          h('span', { class: 'mono small muted' }, c.key_prefix),
          // After a rotation with a grace, two secrets answer: say so where the key is listed.
          c.previous_key_expires_at
            ? h(
                'span',
                { class: 'key-note small muted' },
                'Old key also works until ',
                time(c.previous_key_expires_at),
              )
            : null,
          metadataLine(c.metadata),
        ),
        h('td', {}, badge(c.status)),
        usageCell(c.usage, 'daily', c.limit_daily_ngonka),
        usageCell(c.usage, 'monthly', c.limit_monthly_ngonka),
        h(
          'td',
          { class: 'num' },
          c.rate_limit_rpm === null
            ? h('span', { class: 'muted' }, 'No limit')
            : c.rate_limit_rpm.toLocaleString(),
        ),
        h('td', {}, time(c.expires_at, 'Never')),
        h('td', {}, time(c.last_used_at, 'Never')),
        h('td', {}, actions(c)),
      ),
    ),
  });
}
