-- The usage log holds one leaf per Kafka message (kind usage.batch.v2) instead of one per event
-- (usage.v2, the view usage_evidence_v2_mv, dropped by the sink at start): the leaf is the message's
-- body, so the body is kept beside its leaf hash for exports (the verifier decodes the events from it
-- and checks each stored record). Alerts' and older usage leaves keep body = ''.
--
-- CODEC ZSTD: a body is columnar Avro with long runs of repeated values (one license, model, team...).
-- sink_retention_months empties bodies with the raw events they hold (a column TTL set at sink start,
-- retention.py); the leaf hashes stay, so later proofs still work.
ALTER TABLE evidence_leaves ADD COLUMN IF NOT EXISTS body String DEFAULT '' CODEC(ZSTD(1));
