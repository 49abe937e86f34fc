import type { ChildKeyIdentity } from '../shared/db/queries/admission-state.js';
import type { JobRow } from '../shared/db/queries/jobs.js';
import type { SessionClaims } from '../shared/jwt.js';

/** What middleware learns about a request, for the handlers after it. */
declare global {
  namespace Express {
    interface Locals {
      requestId: string;
      /** The account the request acts for (from a JWT or a key). */
      accountId: string;
      /** Set when a session token authenticated the request. */
      session?: SessionClaims;
      /** Set when a management key (`gm-`) authenticated the request. */
      managementKeyId?: string;
      /** Set on /v1 routes: the child key (`gc-`) that called. */
      childKey: ChildKeyIdentity;
      /** A job loaded (and access-checked) by a route's param middleware. */
      job?: JobRow;
    }
  }
}
