import type { Context } from '../context.js';

/**
 * This process's clock minus Redis's (`TIME`), in ms, the round trip halved. Every process stamps
 * what it decides by its own clock (a hold's deadline in the api, staleness in the scheduler, the
 * UTC day of a request): hosts whose clocks disagree by minutes void live requests' holds. Redis
 * is the one clock every process reaches.
 */
export async function clockOffsetMs(ctx: Pick<Context, 'redis'>): Promise<number> {
  const sent = Date.now();
  const [seconds, micros] = await ctx.redis.time();
  const received = Date.now();
  const redisMs = Number(seconds) * 1000 + Number(micros) / 1000;
  return (sent + received) / 2 - redisMs;
}

/** Past this, start-up warns: a fifth of the default HOLD_GRACE_SECONDS is still far from harm. */
export const CLOCK_OFFSET_WARN_MS = 5_000;

/** Warn at start-up when this host's clock is off Redis's by more than CLOCK_OFFSET_WARN_MS. */
export async function warnIfClockOff(ctx: Context): Promise<void> {
  try {
    const offsetMs = Math.round(await clockOffsetMs(ctx));
    if (Math.abs(offsetMs) > CLOCK_OFFSET_WARN_MS)
      ctx.logger.warn(
        { offsetMs },
        'this host’s clock is off Redis’s: keep every gateway host’s clock in sync (NTP); a scheduler ahead of an api by HOLD_GRACE_SECONDS voids requests still being answered',
      );
  } catch (err) {
    ctx.logger.debug({ err }, 'could not compare this host’s clock with Redis’s');
  }
}
