import { describe, expect, it } from 'vitest';
import { SIM_MODEL_QWEN3_235B } from '../../shared/gonka/simulator/index.js';
import { screenshot, signedIn, useDashboardTabs } from '../helpers/browser.js';
import { createCustomer } from '../helpers/customer.js';
import { call } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

/** Below this many CSS pixels a chart's labels are a strain to read on a phone. */
const LEGIBLE_PX = 11;

/**
 * Every label of the chart on screen, as drawn: its text, its font size in CSS pixels (the SVG
 * scales with its box) and where it is.
 */
const chartLabels = (page: import('playwright-core').Page) =>
  page.locator('figure.chart svg').evaluateAll((svgs) =>
    svgs
      .filter((svg) => svg.getBoundingClientRect().width > 0)
      .flatMap((svg) => {
        const box = svg.getBoundingClientRect();
        const scale = (svg as SVGSVGElement).getScreenCTM()!.a;
        return [...svg.querySelectorAll('text')].map((t) => {
          const r = t.getBoundingClientRect();
          return {
            text: t.textContent,
            px: Number.parseFloat(getComputedStyle(t).fontSize) * scale,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5,
            left: r.left,
            right: r.right,
            top: r.top,
          };
        });
      }),
  );

/** The overview's spend-per-day chart and the table beside it. */
const tabs = useDashboardTabs();

describe('dashboard: spend per day', () => {
  it('says there was no spend under "Show as a table" rather than showing an empty table', async () => {
    const c = await createCustomer(tabs.stack.env.ctx, tabs.stack.server.url);
    await tabs.open();
    const page = await signedIn(tabs.dash, c.jwt);
    const chart = page.locator('figure.chart');
    await chart.getByText('Show as a table').click();
    const details = chart.locator('details');
    await expect.poll(() => details.getAttribute('open')).not.toBeNull();
    expect(await details.locator('table').count()).toBe(0);
    expect(await details.textContent()).toMatch(/No spend from \w+ \d+ to \w+ \d+/);

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });

  it('draws the axis labels legibly on a phone, each whole and apart from the others', async () => {
    const { url } = tabs.stack.server;
    const c = await createCustomer(tabs.stack.env.ctx, url);
    await c.openai.chat.completions.create({
      model: SIM_MODEL_QWEN3_235B,
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 20,
    });
    await waitFor('the spend settled', async () => {
      const usage = await call(url, 'GET', '/api/account/usage?group_by=day', { token: c.jwt });
      return usage.body.data.length > 0;
    });
    const page = await tabs.open();
    await page.setViewportSize({ width: 375, height: 800 });
    await signedIn(tabs.dash, c.jwt);
    await page.locator('figure.chart').scrollIntoViewIfNeeded();
    await screenshot(page, 'mobile-spend-chart');
    const labels = await chartLabels(page);
    // Five amounts up the side, and days along the bottom.
    expect(labels.filter((l) => /GNK/.test(l.text ?? '')).length).toBe(5);
    expect(labels.filter((l) => !/GNK/.test(l.text ?? '')).length).toBeGreaterThanOrEqual(3);
    for (const l of labels) {
      expect(l.px, l.text!).toBeGreaterThanOrEqual(LEGIBLE_PX);
      expect(l.inside, `${l.text} within the chart`).toBe(true);
    }
    const days = labels.filter((l) => !/GNK/.test(l.text ?? '')).sort((a, b) => a.left - b.left);
    for (let i = 1; i < days.length; i++)
      expect(days[i]!.left, `${days[i]!.text} clear of ${days[i - 1]!.text}`).toBeGreaterThan(
        days[i - 1]!.right,
      );

    // On a wide screen the same chart keeps its labels legible and whole too.
    await page.setViewportSize({ width: 1280, height: 800 });
    for (const l of await chartLabels(page)) {
      expect(l.px, l.text!).toBeGreaterThanOrEqual(LEGIBLE_PX);
      expect(l.inside, `${l.text} within the chart`).toBe(true);
    }

    expect(tabs.dash.problems).toEqual([]);
    expect(tabs.dash.httpFailures).toEqual([]);
  });
});
