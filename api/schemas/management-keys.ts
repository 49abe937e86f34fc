import { z } from 'zod';
import type { ManagementKeyListRow } from '../../shared/db/queries/management-keys.js';
import { isoString, keyName, keyRotationGrace, previousSecretWorks } from './common.js';

export const managementKeyParams = z.object({ id: z.string() });

export const createManagementKeyBody = z.strictObject({ name: keyName });

export const rotateManagementKeyBody = z.strictObject({
  grace_period_seconds: keyRotationGrace('your services'),
});

/** `revoked` is reached only through DELETE, and is final. */
export const updateManagementKeyBody = z.strictObject({
  name: keyName.optional(),
  status: z.enum(['active', 'disabled']).optional(),
});

export const managementKeyObject = z.object({
  id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  status: z.enum(['active', 'disabled', 'revoked']),
  children_count: z.number().int().describe('child keys that are not deleted'),
  created_at: isoString,
  last_used_at: isoString.nullable(),
  revoked_at: isoString.nullable(),
  previous_key_expires_at: isoString
    .nullable()
    .describe('Until when the secret its last rotation replaced still works (null: it does not)'),
});
export type ManagementKeyJson = z.infer<typeof managementKeyObject>;

export const createdManagementKeyObject = managementKeyObject.extend({
  key: z.string().describe('The `gm-…` secret. Returned here only; store it now.'),
});

export const managementKeyList = z.object({ data: z.array(managementKeyObject) });

export function managementKeyJson(k: ManagementKeyListRow, now: Date): ManagementKeyJson {
  return {
    id: k.id,
    name: k.name,
    key_prefix: k.key_prefix,
    status: k.status,
    children_count: k.children_count,
    created_at: k.created_at.toISOString(),
    last_used_at: k.last_used_at?.toISOString() ?? null,
    revoked_at: k.revoked_at?.toISOString() ?? null,
    previous_key_expires_at: previousSecretWorks(k, now) ? k.previous_key_expires_at.toISOString() : null,
  };
}
