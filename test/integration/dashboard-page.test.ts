import { describe, expect, it } from 'vitest';
import { useTestStack } from '../helpers/stack.js';

// API.md: `GET /dashboard` is the web dashboard: the page itself, not a redirect to it.
const stack = useTestStack({ workers: false });

const get = (path: string) => fetch(`${stack.server.url}${path}`, { redirect: 'manual' });

describe('the dashboard page', () => {
  it('answers at /dashboard and /dashboard/ alike, with its policy, and its files load from either', async () => {
    const [bare, slash] = await Promise.all([get('/dashboard'), get('/dashboard/')]);
    for (const res of [bare, slash]) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
    const page = await bare.text();
    expect(await slash.text()).toBe(page);
    const files = [...page.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1]!);
    expect(files).toEqual(['/dashboard/favicon.svg', '/dashboard/styles.css', '/dashboard/js/app.js']);
    for (const f of files) expect((await get(f)).status, f).toBe(200);
  });

  it('is where the bare address leads', async () => {
    const res = await get('/');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/dashboard/');
  });
});
