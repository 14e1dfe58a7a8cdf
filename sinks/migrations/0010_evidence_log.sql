-- The evidence log (docs/evidence.md): an RFC 6962 Merkle tree per Kafka
-- partition of each logged topic, over the immutable fields of every stored
-- usage event and every alert, with signed checkpoints.
--
-- The log of a usage event is named after the topic and partition it was read
-- from, so the audit trail now keeps the topic too (one value: LowCardinality).
-- Staging and the Avro landing table carry it like partition and offset (the
-- sink appends it to every record it stages).
ALTER TABLE usage_batches_in ADD COLUMN IF NOT EXISTS kafka_topic String AFTER kafka_offset;
ALTER TABLE usage_staging ADD COLUMN IF NOT EXISTS kafka_topic LowCardinality(String) AFTER kafka_offset;
ALTER TABLE usage_events ADD COLUMN IF NOT EXISTS kafka_topic LowCardinality(String) AFTER price_version;

-- The view that unrolls a message into staged events, recreated to carry the
-- topic (see 0006 for why a drop and create is safe here).
DROP VIEW IF EXISTS usage_batches_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_batches_mv TO usage_staging AS
SELECT flush_id, event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
       metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
       input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity,
       trace_id, stage, decision_id, reservation_id, kafka_partition, kafka_offset, kafka_topic
FROM usage_batches_in
ARRAY JOIN event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
           metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
           input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity,
           trace_id, stage, decision_id, reservation_id;

-- One row per leaf. Usage leaves are written by the view usage_evidence_v2_mv
-- on usage_events (created by the sink from the leaf spec it shares with the
-- offline verifier: sinks/evidence/leaf_sql.py), so they are written by the
-- very insert that moves an event into the audit trail: exactly once per
-- event id, whatever crashes. Alert leaves are appended by the alerts target.
--
-- Engine: MergeTree, not Replacing: every path that writes here already
-- writes each entry once, and a duplicate must show up (the tree would stop
-- matching its checkpoints) rather than be merged away silently.
-- ORDER BY (log, kafka_offset, entry_id) IS the leaf order: a partition is
-- read in offset order and moved in that order, so new leaves always sort
-- after the old ones (append-only); the events of one message (one offset)
-- are ordered by id. The tree is a pure function of this table.
-- No partitioning: the table holds hashes only; pruning removes whole tiles.
-- entry_id has a bloom filter: `evidence prove EVENT_ID` looks a leaf up by id.
CREATE TABLE IF NOT EXISTS evidence_leaves
(
    log          LowCardinality(String),
    kafka_offset Int64,
    entry_id     String,
    kind         LowCardinality(String),
    license_id   LowCardinality(String),
    entry_time   DateTime64(6, 'UTC'),
    leaf_hash    FixedString(32),
    INDEX entry_id_idx entry_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
ORDER BY (log, kafka_offset, entry_id);

-- The hash of every complete tile (256 consecutive leaves, an aligned perfect
-- subtree), with the key of its last leaf (where the next tile starts) and
-- its newest entry time (what retention may prune). Proofs combine tile
-- hashes instead of rehashing the log; they remain when leaves are pruned.
-- ReplacingMergeTree ORDER BY (log, tile_index): a tile is a pure function
-- of its leaves, so a sink that recomputes it writes the same row again.
CREATE TABLE IF NOT EXISTS evidence_tiles
(
    log           LowCardinality(String),
    tile_index    UInt64,
    hash          FixedString(32),
    last_offset   Int64,
    last_entry_id String,
    max_time      DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (log, tile_index);

-- Signed checkpoints (C2SP tlog-checkpoint in a signed note), also published
-- to the {prefix}evidence.checkpoints topic for witnesses. Ed25519 is
-- deterministic, so re-signing the same tree gives the same note:
-- ReplacingMergeTree ORDER BY (log, tree_size) collapses repeats. Never pruned.
CREATE TABLE IF NOT EXISTS evidence_checkpoints
(
    log        LowCardinality(String),
    origin     String,
    tree_size  UInt64,
    root_hash  FixedString(32),
    note       String,
    created_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (log, tree_size);
