-- The key that signs owners' session tokens when JWT_SECRET is not set (development; production
-- requires JWT_SECRET): kept here, sessions outlive a restart and every api process of this
-- database accepts the others' (a random key per process did neither). Never edit this file once
-- landed; add a new one.
insert into instance_secrets (name, value)
values ('session_signing', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
