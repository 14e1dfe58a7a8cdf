-- Usage event v2 (schemas/usage_event.v2.avsc): provider, source, end user,
-- use case, data categories, sensitivity, pipeline trace and stage, and the
-- decision and reservation a use was allowed by.
--
-- Added columns only: the engines, keys and partitions of 0001/0002 stay as
-- they are (the audit trail is still looked up by license and time). Rows
-- stored before v2 read the column defaults, which are the Avro defaults of a
-- v1 event ('' for tags, [] for data_categories, NULL for the optional ids).
-- LowCardinality on the tags (few distinct values: providers, sources, use
-- cases, tiers, stage names); user_id is plain String (one value per end
-- user: too many for a dictionary); trace, decision and reservation ids are
-- Nullable(String) like the payload hashes: absent is NULL, not ''.
ALTER TABLE usage_events
    ADD COLUMN IF NOT EXISTS provider        LowCardinality(String) AFTER output_hash,
    ADD COLUMN IF NOT EXISTS source          LowCardinality(String) AFTER provider,
    ADD COLUMN IF NOT EXISTS user_id         String AFTER source,
    ADD COLUMN IF NOT EXISTS use_case        LowCardinality(String) AFTER user_id,
    ADD COLUMN IF NOT EXISTS data_categories Array(LowCardinality(String)) AFTER use_case,
    ADD COLUMN IF NOT EXISTS sensitivity     LowCardinality(String) AFTER data_categories,
    ADD COLUMN IF NOT EXISTS trace_id        Nullable(String) AFTER sensitivity,
    ADD COLUMN IF NOT EXISTS stage           LowCardinality(String) AFTER trace_id,
    ADD COLUMN IF NOT EXISTS decision_id     Nullable(String) AFTER stage,
    ADD COLUMN IF NOT EXISTS reservation_id  Nullable(String) AFTER decision_id;

-- trace_stage_cost looks events up by trace id, which is not in the sorting
-- key: a bloom-filter skip index lets it skip granules without the id
-- (parts written before v2 hold no trace ids, so none need materialising).
ALTER TABLE usage_events ADD INDEX IF NOT EXISTS trace_id_idx trace_id TYPE bloom_filter GRANULARITY 4;

-- Staging gets the same columns (the move copies them, see sinks/usage_writer.py).
ALTER TABLE usage_staging
    ADD COLUMN IF NOT EXISTS provider        LowCardinality(String) AFTER output_hash,
    ADD COLUMN IF NOT EXISTS source          LowCardinality(String) AFTER provider,
    ADD COLUMN IF NOT EXISTS user_id         String AFTER source,
    ADD COLUMN IF NOT EXISTS use_case        LowCardinality(String) AFTER user_id,
    ADD COLUMN IF NOT EXISTS data_categories Array(LowCardinality(String)) AFTER use_case,
    ADD COLUMN IF NOT EXISTS sensitivity     LowCardinality(String) AFTER data_categories,
    ADD COLUMN IF NOT EXISTS trace_id        Nullable(String) AFTER sensitivity,
    ADD COLUMN IF NOT EXISTS stage           LowCardinality(String) AFTER trace_id,
    ADD COLUMN IF NOT EXISTS decision_id     Nullable(String) AFTER stage,
    ADD COLUMN IF NOT EXISTS reservation_id  Nullable(String) AFTER decision_id;

-- The Avro landing table (engine Null: stores nothing) gets one array per new
-- field; data_categories is an array of arrays. Avro fields are matched to
-- columns by name. Every container the sink stages is written with the newest
-- batch schema: a v1 message is resolved to v2 before staging by appending its
-- default columns to the body (sinks/usage_writer.py), because a v1 container
-- read with input_format_avro_allow_missing_fields would leave these arrays
-- empty, and ARRAY JOIN refuses arrays of unequal sizes (padding them with
-- enable_unaligned_array_join would also pad a corrupt message silently).
ALTER TABLE usage_batches_in
    ADD COLUMN IF NOT EXISTS provider        Array(String) AFTER output_hash,
    ADD COLUMN IF NOT EXISTS source          Array(String) AFTER provider,
    ADD COLUMN IF NOT EXISTS user_id         Array(String) AFTER source,
    ADD COLUMN IF NOT EXISTS use_case        Array(String) AFTER user_id,
    ADD COLUMN IF NOT EXISTS data_categories Array(Array(String)) AFTER use_case,
    ADD COLUMN IF NOT EXISTS sensitivity     Array(String) AFTER data_categories,
    ADD COLUMN IF NOT EXISTS trace_id        Array(Nullable(String)) AFTER sensitivity,
    ADD COLUMN IF NOT EXISTS stage           Array(String) AFTER trace_id,
    ADD COLUMN IF NOT EXISTS decision_id     Array(Nullable(String)) AFTER stage,
    ADD COLUMN IF NOT EXISTS reservation_id  Array(Nullable(String)) AFTER decision_id;

-- The view that unrolls a message into staged events, recreated with the new
-- columns in its SELECT and its ARRAY JOIN (a view's query cannot be altered
-- in place). Migrations run before the sink consumes, so no insert falls
-- between the drop and the create.
DROP VIEW IF EXISTS usage_batches_mv;

CREATE MATERIALIZED VIEW IF NOT EXISTS usage_batches_mv TO usage_staging AS
SELECT flush_id, event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
       metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
       input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity,
       trace_id, stage, decision_id, reservation_id, kafka_partition, kafka_offset
FROM usage_batches_in
ARRAY JOIN event_id, event_time, license_id, producer_id, sequence, feature, model, model_version,
           metric, quantity, status, latency_us, team, app, environment, purpose, hardware_id, region,
           input_hash, output_hash, provider, source, user_id, use_case, data_categories, sensitivity,
           trace_id, stage, decision_id, reservation_id;
