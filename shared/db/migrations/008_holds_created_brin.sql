-- The RPM rebuild's index (007) as a BRIN on created_at instead of a b-tree on (child_key_id,
-- created_at). Holds are written in created_at order, so a BRIN summary per block range finds the
-- last minute's holds as well, and it costs next to nothing to keep: the b-tree took one more
-- entry per hold at admission and again at settlement (a hold's update cannot be HOT, its status
-- is in the open-hold indexes), about a tenth of settlement's throughput, for a read that happens
-- only when Redis lost a key's window. Never edit this file once landed; add a new one.
drop index if exists holds_key_created_idx;
create index holds_created_brin on holds using brin (created_at) with (autosummarize = on);
