-- Compliance: audit evidence for one license over a range: every event, its hashes, cost and Kafka position.
-- Params: license String, start DateTime, end DateTime (exclusive).
SELECT event_id, event_time, producer_id, sequence, model, model_version, feature, metric, quantity, status,
       team, app, environment, purpose, hardware_id, region, input_hash, output_hash,
       unit_price, cost, currency, price_version, kafka_partition, kafka_offset, ingested_at
FROM usage_events FINAL
WHERE license_id = {license:String} AND event_time >= {start:DateTime} AND event_time < {end:DateTime}
ORDER BY event_time, event_id;
