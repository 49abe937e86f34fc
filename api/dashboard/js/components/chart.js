import { h, s, uid } from '../dom.js';
import { formatGnk, formatMoney, gnkNumber, groupDigits, NGNK_PER_GNK, ratio } from '../money.js';
import { emptyState } from './page.js';

const DAY_MS = 86_400_000;
/** The labels' size, set on the SVG: one unit of it is one CSS pixel (see spendChart). */
const FONT_PX = 12;
/** A label character's width, in em, generous: the side labels' gutter is sized from it. */
const CHAR_EM = 0.62;
/** Room one day's label needs along the bottom, so labels never run into each other. */
const DAY_LABEL_PX = 56;

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
 * The bars and axes `width` CSS pixels wide, one SVG unit to the pixel: the labels are drawn at
 * FONT_PX whatever the screen (a chart drawn once and scaled down to a phone had 5 px labels), and
 * the gutter and the number of day labels follow from the room there is.
 */
function plot({ days, top, width, descId }) {
  const W = Math.max(240, Math.round(width));
  const H = Math.round(Math.min(320, Math.max(200, W / 3)));
  const ticks = [0n, 1n, 2n, 3n, 4n].map((i) => (top * i) / 4n);
  const longest = Math.max(...ticks.map((v) => axisLabel(v, top).length));
  const M = { top: 12, right: 8, bottom: 28, left: Math.ceil(longest * FONT_PX * CHAR_EM) + 10 };
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const step = plotW / Math.max(days.length, 1);

  const grid = ticks.map((v) => {
    const y = M.top + plotH - ratio(v, top) * plotH;
    return s(
      'g',
      { class: 'tick' },
      s('line', { x1: M.left, x2: W - M.right, y1: y, y2: y }),
      s('text', { x: M.left - 8, y: y + 4, 'text-anchor': 'end' }, axisLabel(v, top)),
    );
  });
  const every = Math.ceil(days.length / Math.max(1, Math.floor(plotW / DAY_LABEL_PX)));
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
  return s(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      'font-size': FONT_PX,
      role: 'img',
      'aria-label': 'Spend per day',
      'aria-describedby': descId,
    },
    grid,
    bars,
  );
}

/**
 * Spend per UTC day as an inline SVG bar chart, with the same numbers as a table for screen
 * readers and for anyone who wants the exact amounts. Drawn again for the width it is given
 * whenever that changes (a phone turned, a window resized).
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
  const descId = uid('chart-desc');
  const summary =
    total === 0n
      ? `No spend from ${label(from)} to ${label(to)}.`
      : `${formatGnk(total)} spent from ${label(from)} to ${label(to)}; the highest day was ${formatGnk(max)}.`;

  let drawnWidth = 720;
  let svg = plot({ days, top, width: drawnWidth, descId });
  const figure = h(
    'figure',
    { class: 'chart' },
    svg,
    h('figcaption', { id: descId }, summary),
    h('details', {}, h('summary', {}, 'Show as a table'), dayTable(days, { from, to })),
  );
  // Called after layout and before paint, so the first frame already has the chart at its width.
  const resized = new ResizeObserver(([entry]) => {
    if (!figure.isConnected) return resized.disconnect(); // the page was left
    const width = Math.round(entry.contentRect.width);
    if (width === 0 || width === drawnWidth) return;
    drawnWidth = width;
    const next = plot({ days, top, width, descId });
    svg.replaceWith(next);
    svg = next;
  });
  resized.observe(figure);
  return figure;
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
