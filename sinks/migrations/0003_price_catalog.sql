-- The price catalog, versioned: every `meterstream prices load` writes the
-- whole catalog file as a new catalog_version; the newest version is the one
-- in force. A row prices one (model, version pattern, metric) over an
-- effective window [effective_from, effective_to); tier_from > 0 rows are the
-- higher volume tiers of a graduated price (per license and calendar month),
-- applied by the tiered-cost query, not per event.
--
-- Engine: MergeTree; versions are appended, never updated.
-- ORDER BY (catalog_version, model, metric, version_pattern, tier_from):
-- readers always select one version, then look up by model and metric.
CREATE TABLE IF NOT EXISTS price_catalog
(
    catalog_version UInt32,
    model           LowCardinality(String),
    version_pattern LowCardinality(String),
    metric          LowCardinality(String),
    tier_from       Decimal(38, 6),
    unit_price      Decimal(38, 12),
    currency        LowCardinality(String),
    effective_from  DateTime64(6, 'UTC'),
    effective_to    DateTime64(6, 'UTC'),
    source          String,
    loaded_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (catalog_version, model, metric, version_pattern, tier_from);

-- Per-event (first-tier) prices of the newest catalog version, as a range
-- dictionary: the sink looks a price up by (model, version pattern, metric)
-- and the event's time in memory, without a join. LIFETIME(0): reloaded
-- explicitly (SYSTEM RELOAD DICTIONARY) when a catalog is loaded.
CREATE DICTIONARY IF NOT EXISTS price_dict
(
    model           String,
    version_pattern String,
    metric          String,
    unit_price      Decimal(38, 12),
    currency        String,
    catalog_version UInt32,
    effective_from  DateTime64(6, 'UTC'),
    effective_to    DateTime64(6, 'UTC')
)
PRIMARY KEY model, version_pattern, metric
SOURCE(CLICKHOUSE(QUERY 'SELECT model, version_pattern, metric, unit_price, currency, catalog_version, effective_from, effective_to FROM price_catalog WHERE tier_from = 0 AND catalog_version = (SELECT max(catalog_version) FROM price_catalog)'))
LIFETIME(0)
LAYOUT(COMPLEX_KEY_RANGE_HASHED())
RANGE(MIN effective_from MAX effective_to);

-- Team budgets for budget-variance queries, loaded from CSV by
-- `meterstream budgets load`. ReplacingMergeTree(loaded_at) on (team, month,
-- currency): loading a corrected budget replaces the old one.
CREATE TABLE IF NOT EXISTS budgets
(
    team      LowCardinality(String),
    month     Date,
    amount    Decimal(38, 6),
    currency  LowCardinality(String),
    loaded_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (team, month, currency);
