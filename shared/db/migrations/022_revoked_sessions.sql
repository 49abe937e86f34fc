-- Sessions their owner logged out of (POST /api/auth/logout), by the token's `jti`, until the token
-- would have expired anyway: a session token copied before logging out stops working with it. Rows
-- past `expires_at` are no longer needed (the token is refused for its `exp`) and are deleted by
-- later logouts.
-- Never edit this file once landed; add a new one.
create table revoked_sessions (
  jti text primary key,
  account_id text not null references accounts (id),
  expires_at timestamptz not null
);
create index revoked_sessions_expires_at on revoked_sessions (expires_at);
