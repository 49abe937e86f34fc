-- During a rolling upgrade to 030, an api of the release before it still rotates management keys
-- without knowing `previous_key_expires_at`: its rotation replaced the previous secret and left the
-- grace of the one before it, so the secret it meant to stop at once worked on, on the new apis,
-- until that grace ended. A rotation that does not set a grace of its own now has none.
-- Never edit this file once landed; add a new one.
create function management_key_rotation_grace() returns trigger language plpgsql as $$
begin
  if new.previous_key_hash is distinct from old.previous_key_hash
     and new.previous_key_expires_at is not distinct from old.previous_key_expires_at then
    new.previous_key_expires_at := null;
  end if;
  return new;
end $$;
create trigger management_key_rotation_grace before update on management_keys
  for each row execute function management_key_rotation_grace();
