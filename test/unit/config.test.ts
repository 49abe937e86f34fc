import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.js';

const quiet = () => {};

describe('configuration', () => {
  it('names every bad variable in one message', () => {
    const bad = {
      PORT: 'eighty',
      LOG_LEVEL: 'verbose',
      SCHEDULER_EXPIRE_CRON: 'garbage',
      SCHEDULER_RECONCILE_CRON: '61 * * * *',
    };
    expect(() => loadConfig(bad, quiet)).toThrow(ConfigError);
    try {
      loadConfig(bad, quiet);
    } catch (err) {
      const message = (err as Error).message;
      for (const name of Object.keys(bad)) expect(message).toMatch(new RegExp(`^  ${name}: `, 'm'));
      expect(message).toContain('must be a cron expression');
    }
  });

  it('names a database or Redis URL of the wrong scheme, which would otherwise fail far from it', () => {
    for (const DATABASE_URL of ['notaurl:pw@@', 'postgres:pw@@', 'mysql://root@127.0.0.1/db'])
      expect(() => loadConfig({ DATABASE_URL }, quiet)).toThrow(/DATABASE_URL: must be a postgres:\/\//);
    expect(() => loadConfig({ REDIS_URL: '127.0.0.1:6379' }, quiet)).toThrow(/REDIS_URL: /);
    expect(() => loadConfig({ REDIS_URL: 'http://127.0.0.1:6379' }, quiet)).toThrow(
      /REDIS_URL: must be a redis:\/\//,
    );
    const ok = { DATABASE_URL: 'postgresql://u:p@db:5432/gw', REDIS_URL: 'rediss://cache:6380' };
    expect(loadConfig(ok, quiet)).toMatchObject(ok);
  });

  it('refuses a GONKA_PRIVATE_KEY that is hex but no secp256k1 key, naming it', () => {
    const order = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141';
    for (const GONKA_PRIVATE_KEY of ['0'.repeat(64), order, `0x${order}`])
      expect(() => loadConfig({ GONKA_PRIVATE_KEY }, quiet)).toThrow(
        /GONKA_PRIVATE_KEY: is not a valid secp256k1 private key/,
      );
    expect(() => loadConfig({ GONKA_PRIVATE_KEY: 'xyz' }, quiet)).toThrow(
      /GONKA_PRIVATE_KEY: must be 32 bytes of hex$/m,
    );
    const key = `0x${'0'.repeat(63)}1`;
    expect(loadConfig({ GONKA_PRIVATE_KEY: key }, quiet).GONKA_PRIVATE_KEY).toBe(key);
  });

  it('refuses a Gonka node URL that is not http(s) or carries credentials, without echoing them', () => {
    for (const GONKA_NODES of [
      'http://user:nodesecretpw@127.0.0.1:19400',
      'ftp://node.example.com',
      // Not URLs at all: refused as the others are, not thrown from inside the check.
      'notaurl',
      'https://',
      'http://u:nodesecretpw@exa mple.com',
      // A transfer address that is no gonka1… address, or more than one.
      'http://10.0.0.2:8000;cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq',
      'http://10.0.0.2:8000;gonka1l3e9pgs3mmwuwrh95fecme0s0qtn2880el49wm;gonka1l3e9pgs3mmwuwrh95fecme0s0qtn2880el49wm',
    ]) {
      let message = '';
      try {
        loadConfig({ GONKA_NODES }, quiet);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/GONKA_NODES: /);
      expect(message).not.toContain('nodesecretpw');
    }
    const ok =
      'https://node-a.example.com:8000, http://10.0.0.2:8000/;gonka1l3e9pgs3mmwuwrh95fecme0s0qtn2880el49wm';
    expect(loadConfig({ GONKA_NODES: ok }, quiet).GONKA_NODES).toHaveLength(2);
  });

  it('refuses a model alias given twice', () => {
    expect(() => loadConfig({ MODEL_ALIASES: 'fast=a/b, fast=c/d' }, quiet)).toThrow(
      /MODEL_ALIASES: "fast" is given twice/,
    );
  });

  it('refuses a markup whose margin cannot pay the referral shares', () => {
    expect(() => loadConfig({ PRICE_MARKUP_BPS: '9000' }, quiet)).toThrow(
      /PRICE_MARKUP_BPS: must be at least 10000/,
    );
    expect(() => loadConfig({ PRICE_MARKUP_BPS: '11000' }, quiet)).toThrow(
      /PRICE_MARKUP_BPS: must leave a margin/,
    );
    expect(
      loadConfig({ PRICE_MARKUP_BPS: '11000', REFERRAL_L1_BPS: '700', REFERRAL_L2_BPS: '200' }, quiet)
        .PRICE_MARKUP_BPS,
    ).toBe(11000);
    expect(loadConfig({}, quiet).PRICE_MARKUP_BPS).toBe(12000);
  });

  it('refuses a rollover grace shorter than a sync request may take to settle into its day', () => {
    const defaults = loadConfig({}, quiet);
    expect(defaults.ROLLOVER_GRACE_SECONDS).toBeGreaterThanOrEqual(
      defaults.SYNC_STREAM_MAX_SECONDS + defaults.HOLD_GRACE_SECONDS,
    );
    expect(() => loadConfig({ ROLLOVER_GRACE_SECONDS: '300' }, quiet)).toThrow(
      /ROLLOVER_GRACE_SECONDS: must be at least SYNC_STREAM_MAX_SECONDS \+ HOLD_GRACE_SECONDS/,
    );
    expect(() => loadConfig({ SYNC_STREAM_MAX_SECONDS: '1800' }, quiet)).toThrow(/ROLLOVER_GRACE_SECONDS: /);
    const short = { SYNC_STREAM_MAX_SECONDS: '60', HOLD_GRACE_SECONDS: '60', ROLLOVER_GRACE_SECONDS: '120' };
    expect(loadConfig(short, quiet).ROLLOVER_GRACE_SECONDS).toBe(120);
  });

  it('refuses a placeholder JWT secret, whatever NODE_ENV, and takes a trusted proxy hop count as a number', () => {
    for (const NODE_ENV of ['development', 'production'])
      expect(() =>
        loadConfig({ NODE_ENV, JWT_SECRET: 'change-me-change-me-change-me-change-me' }, quiet),
      ).toThrow(/JWT_SECRET: is a placeholder/);
    expect(loadConfig({ JWT_SECRET: 'a'.repeat(64) }, quiet).JWT_SECRET).toBe('a'.repeat(64));
    expect(loadConfig({}, quiet).TRUST_PROXY).toBe('loopback');
    expect(loadConfig({ TRUST_PROXY: '2' }, quiet).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }, quiet).TRUST_PROXY).toBe(
      'loopback, 10.0.0.0/8',
    );
    expect(loadConfig({ TRUST_PROXY: 'false' }, quiet).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }, quiet).TRUST_PROXY).toBe(true);
    // Express would throw at start-up without naming the variable: the configuration names it.
    expect(() => loadConfig({ TRUST_PROXY: 'my-proxy.internal' }, quiet)).toThrow(/TRUST_PROXY: must be/);
  });

  const SECRET = '3f9c1e7a5b2d8e4f6a0c9b1d7e3f5a2c';
  const TOKEN = 'k7Qx2Lm9Vt4Rb8Nw';

  it('warns in production that /metrics is open without METRICS_TOKEN, and that webhooks may reach inside', () => {
    const said = (env: Record<string, string>) => {
      const notices: string[] = [];
      loadConfig({ JWT_SECRET: SECRET, ...env }, (m) => notices.push(m));
      return notices.join('\n');
    };
    expect(said({ NODE_ENV: 'production' })).toMatch(/METRICS_TOKEN is not set/);
    expect(said({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN })).toBe('');
    expect(
      said({ NODE_ENV: 'production', METRICS_TOKEN: TOKEN, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }),
    ).toMatch(/WEBHOOK_ALLOW_PRIVATE_NETWORKS is true/);
    expect(said({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' })).toBe('');
    expect(said({})).toBe('');
  });

  it('requires JWT_SECRET in production only of a process that signs sessions (the api)', () => {
    const production = { NODE_ENV: 'production', METRICS_TOKEN: TOKEN };
    expect(() => loadConfig(production, quiet)).toThrow(/JWT_SECRET: required in production/);
    expect(loadConfig(production, quiet, { sessions: false }).JWT_SECRET).toMatch(/^[0-9a-f]{64}$/);
    expect(() => loadConfig(production, quiet, { sessions: true })).toThrow(/JWT_SECRET: required/);
  });

  it('refuses in production a secret of a few repeated characters, naming it', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: SECRET, METRICS_TOKEN: TOKEN };
    expect(() => loadConfig({ ...production, JWT_SECRET: 'a'.repeat(64) }, quiet)).toThrow(
      /JWT_SECRET: too guessable for production/,
    );
    expect(() => loadConfig({ ...production, ADMIN_TOKEN: 'ab'.repeat(8) }, quiet)).toThrow(
      /ADMIN_TOKEN: too guessable/,
    );
    expect(loadConfig({ ...production, ADMIN_TOKEN: TOKEN }, quiet).ADMIN_TOKEN).toBe(TOKEN);
    // Outside production (tests, a laptop) any secret of the right length does.
    expect(loadConfig({ JWT_SECRET: 'a'.repeat(64) }, quiet).JWT_SECRET).toBe('a'.repeat(64));
  });

  it('takes cron expressions with or without seconds, and an empty or blank value as unset', () => {
    const cfg = loadConfig(
      { SCHEDULER_EXPIRE_CRON: '*/5 * * * * *', SCHEDULER_ROLLOVER_CRON: '0 * * * *', PORT: '' },
      quiet,
    );
    expect(cfg.SCHEDULER_EXPIRE_CRON).toBe('*/5 * * * * *');
    expect(cfg.PORT).toBe(8080);
    // A stray blank (`PORT= ` in a .env file) would read as port 0: a random port.
    const blank = loadConfig({ PORT: ' ', DATABASE_POOL_SIZE: '\t' }, quiet);
    expect([blank.PORT, blank.DATABASE_POOL_SIZE]).toEqual([8080, loadConfig({}, quiet).DATABASE_POOL_SIZE]);
  });

  it('stops start-up with the message, not a stack trace, even for the log level', async () => {
    const run = promisify(execFile);
    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: { ...process.env, LOG_LEVEL: 'verbose', SCHEDULER_REFRESH_CRON: 'every minute' },
    }).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(
      /^Invalid configuration:\n {2}LOG_LEVEL: .*\n {2}SCHEDULER_REFRESH_CRON: /,
    );
  }, 30_000);

  it('stops start-up with one log line when Postgres cannot be reached, naming it but not its password', async () => {
    const run = promisify(execFile);
    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      env: { ...process.env, DATABASE_URL: 'postgres://postgres:hunter2-secret@127.0.0.1:1/gonka' },
    }).then(
      () => null,
      (err: { code: number; stdout: string; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).not.toMatch(/\n\s+at /);
    const fatal = failed?.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string; err?: string })
      .find((l) => l.level === 60);
    expect(fatal?.msg).toMatch(/Postgres/);
    expect(fatal?.err).toMatch(/127\.0\.0\.1:1/);
    expect(`${failed?.stdout}${failed?.stderr}`).not.toContain('hunter2');
  }, 30_000);
});
