-- One write per flush (issue 16): the sink no longer stages every event in
-- usage_staging and then moves it (two full writes of each event); one Avro
-- insert goes through a view that unrolls, drops known ids, prices and writes
-- usage_events directly (sinks/ingest_sql.py).
--
-- This is the template of the Null table that insert lands in: one row per
-- Kafka message, one array per event field (the columns of usage_batches_in
-- after 0006 and 0010), the message's partition, offset and topic, and
-- container_messages: how many messages the sink put into the container. The
-- view refuses a block holding fewer (throwIf), so a container ClickHouse
-- splits into several blocks writes nothing instead of checking duplicates
-- block by block.
--
-- Engine Null: nothing is stored. The sink creates its own copy of this table
-- (usage_ingest_<version>, with the view on it) when it starts, the version
-- being a hash of the view's SQL: sinks of different releases never share a
-- view, and a new release never leaves a moment with two views (or none) on
-- one table. usage_batches_in, its view and usage_staging stay for a sink of
-- the previous release still running during an upgrade (it keeps staging and
-- moving, deduplicating against the same usage_events).
CREATE TABLE IF NOT EXISTS usage_ingest
(
    event_id           Array(UUID),
    event_time         Array(DateTime64(6, 'UTC')),
    license_id         Array(String),
    producer_id        Array(String),
    sequence           Array(Int64),
    feature            Array(String),
    model              Array(String),
    model_version      Array(String),
    metric             Array(String),
    quantity           Array(Decimal(18, 6)),
    status             Array(String),
    latency_us         Array(Nullable(Int64)),
    team               Array(String),
    app                Array(String),
    environment        Array(String),
    purpose            Array(String),
    hardware_id        Array(String),
    region             Array(String),
    input_hash         Array(Nullable(String)),
    output_hash        Array(Nullable(String)),
    provider           Array(String),
    source             Array(String),
    user_id            Array(String),
    use_case           Array(String),
    data_categories    Array(Array(String)),
    sensitivity        Array(String),
    trace_id           Array(Nullable(String)),
    stage              Array(String),
    decision_id        Array(Nullable(String)),
    reservation_id     Array(Nullable(String)),
    kafka_partition    Int32,
    kafka_offset       Int64,
    kafka_topic        String,
    container_messages UInt32
)
ENGINE = Null;
