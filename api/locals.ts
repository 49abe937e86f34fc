/** What middleware learns about a request, for the handlers after it. */
declare global {
  namespace Express {
    interface Locals {
      requestId: string;
      /** The account the request acts for (from a JWT or a key). */
      accountId: string;
      /** Set when a management key (`gm-`) authenticated the request. */
      managementKeyId?: string;
    }
  }
}

export {};
