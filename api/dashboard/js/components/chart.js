import { h, s, uid } from '../dom.js';
import { formatGnk, formatMoney, gnkNumber, groupDigits, NGNK_PER_GNK, ratio } from '../money.js';
import { emptyState } from './page.js';

const DAY_MS = 86_400_000;
const W = 720;
const H = 240;
const M = { top: 12, right: 8, bottom: 28, left: 92 };

/** Every UTC day from `from` to `to` (YYYY-MM-DD), inclusive. */
function daysBetween(from, to) {
  const out = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

/** The smallest 1, 2 or 5 × 10^k at or above `max`, so the axis reads in round numbers. */
function niceTop(max) {
  if (max <= 0n) return NGNK_PER_GNK;
  let p = 1n;
  while (p * 10n <= max) p *= 10n;
  for (const m of [1n, 2n, 5n, 10n]) if (m * p >= max) return m * p;
  return 10n * p;
}

/** Axis labels stay short: GNK for real money, nGNK for the tiny amounts of a first test run. */
function axisLabel(v, top) {
  return top >= NGNK_PER_GNK / 100n ? `${gnkNumber(v)} GNK` : `${groupDigits(v)} nGNK`;
}

const dayLabel = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });
const label = (day) => dayLabel.format(new Date(`${day}T00:00:00Z`));

/**
 * Spend per UTC day as an inline SVG bar chart, with the same numbers as a table for screen
 * readers and for anyone who wants the exact amounts.
 */
export function spendChart({ rows, from, to }) {
  const byDay = new Map(rows.map((r) => [r.day, r]));
  const days = daysBetween(from, to).map((day) => ({
    day,
    cost: BigInt(byDay.get(day)?.cost_ngonka ?? '0'),
    requests: byDay.get(day)?.requests ?? 0,
  }));
  const total = days.reduce((a, d) => a + d.cost, 0n);
  // biome-ignore lint/complexity/useMathMinMax: Math.max does not take BigInt.
  const max = days.reduce((a, d) => (d.cost > a ? d.cost : a), 0n);
  const top = niceTop(max);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const step = plotW / Math.max(days.length, 1);
  const descId = uid('chart-desc');

  const grid = [0n, 1n, 2n, 3n, 4n].map((i) => {
    const v = (top * i) / 4n;
    const y = M.top + plotH - ratio(v, top) * plotH;
    return s(
      'g',
      { class: 'tick' },
      s('line', { x1: M.left, x2: W - M.right, y1: y, y2: y }),
      s('text', { x: M.left - 8, y: y + 4, 'text-anchor': 'end' }, axisLabel(v, top)),
    );
  });
  const every = Math.ceil(days.length / 8);
  const bars = days.map((d, i) => {
    const hgt = d.cost > 0n ? Math.max(2, ratio(d.cost, top) * plotH) : 0;
    const x = M.left + i * step + step * 0.15;
    return s(
      'g',
      { class: 'bar' },
      s(
        'rect',
        { x, y: M.top + plotH - hgt, width: step * 0.7, height: hgt, rx: 2 },
        s('title', {}, `${label(d.day)}: ${formatMoney(d.cost)}, ${d.requests} requests`),
      ),
      i % every === 0
        ? s('text', { x: x + step * 0.35, y: H - 8, 'text-anchor': 'middle', class: 'x-label' }, label(d.day))
        : null,
    );
  });
  const summary =
    total === 0n
      ? `No spend from ${label(from)} to ${label(to)}.`
      : `${formatGnk(total)} spent from ${label(from)} to ${label(to)}; the highest day was ${formatGnk(max)}.`;

  return h(
    'figure',
    { class: 'chart' },
    s(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Spend per day', 'aria-describedby': descId },
      grid,
      bars,
    ),
    h('figcaption', { id: descId }, summary),
    h('details', {}, h('summary', {}, 'Show as a table'), dayTable(days, { from, to })),
  );
}

/** The days that had requests or spend, with their exact amounts; what a range without any says. */
function dayTable(days, { from, to }) {
  const active = days.filter((d) => d.requests > 0 || d.cost > 0n);
  if (!active.length)
    return emptyState(
      `No spend from ${label(from)} to ${label(to)}. Days with requests from your child keys will be listed here.`,
    );
  return h(
    'table',
    { class: 'compact' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'Day (UTC)'),
        h('th', { scope: 'col' }, 'Requests'),
        h('th', { scope: 'col' }, 'Spend'),
      ),
    ),
    h(
      'tbody',
      {},
      active.map((d) =>
        h(
          'tr',
          {},
          h('td', {}, d.day),
          h('td', {}, d.requests.toLocaleString()),
          h('td', {}, formatMoney(d.cost)),
        ),
      ),
    ),
  );
}
