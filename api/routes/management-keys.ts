import { Router } from 'express';
import type { Context } from '../../shared/context.js';

export function managementKeysRouter(_ctx: Context): Router {
  return Router({ mergeParams: true });
}
