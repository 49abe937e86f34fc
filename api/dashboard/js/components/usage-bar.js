import { h } from '../dom.js';
import { formatGnk, formatNgnk, percent, ratio } from '../money.js';

/**
 * Spend (settled + in flight) of one period against its limit. The text says it all; the bar only
 * repeats it visually, so it is hidden from screen readers.
 */
export function usageBar({ spent, reserved, limit }) {
  const used = BigInt(spent) + BigInt(reserved ?? '0');
  const detail = `${formatNgnk(used)}${reserved && reserved !== '0' ? ` (${formatNgnk(reserved)} in flight)` : ''}`;
  if (limit === null || limit === undefined) {
    return h(
      'div',
      { class: 'usage' },
      h('span', { class: 'usage-text' }, `${formatGnk(used)} · no limit`),
      h('span', { class: 'usage-sub' }, detail),
    );
  }
  // A limit of 0 admits nothing: shown full, not as an empty green bar.
  const blocked = BigInt(limit) === 0n;
  const r = blocked ? 1 : ratio(used, limit);
  const fill = h('span', { class: 'fill' });
  fill.style.setProperty('width', `${(r * 100).toFixed(1)}%`);
  const tone = r >= 1 ? 'danger' : r >= 0.8 ? 'warn' : 'ok';
  // Spend can pass a limit that was lowered after it (or by requests in flight when it was set):
  // the bar stops full, the text gives the real share and says so.
  const over = used > BigInt(limit);
  const share = `${percent(used, limit)}%${over ? ', over the limit' : ''}`;
  return h(
    'div',
    { class: 'usage' },
    h(
      'span',
      { class: ['usage-text', over && !blocked ? 'over' : null] },
      blocked
        ? 'Limit 0 GNK: every request is refused'
        : `${formatGnk(used)} of ${formatGnk(limit)} (${share})`,
    ),
    h('span', { class: ['bar', `bar-${tone}`], 'aria-hidden': 'true' }, fill),
    h('span', { class: 'usage-sub' }, `${detail} of ${formatNgnk(limit)}`),
  );
}
