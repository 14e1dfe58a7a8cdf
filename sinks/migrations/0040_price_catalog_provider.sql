-- Prices across providers (issue 12): the same model can be sold by several
-- providers (openai, azure.ai.openai, aws.bedrock...), at different prices.
--
-- provider: gen_ai.provider.name of the events a row prices; '' = any provider
-- (every catalog loaded before this migration), so existing catalogs keep
-- pricing exactly as before. An event takes a row of its own provider first,
-- then a row with provider '' (sinks/pricing/lookup.py).
--
-- price_basis / list_price: a row may state the provider's *list* price of a
-- contained metric (cached input, cache creation, reasoning tokens, which are
-- counted inside input/output tokens); the loader then derives the per-event
-- adjustment stored in unit_price (list price minus the container's list
-- price). 'adjustment' rows (the default, and every older catalog) state
-- unit_price directly. list_price keeps the price as the file listed it
-- (NULL for adjustment rows of contained metrics).
--
-- Columns are added in place; the ORDER BY stays (readers select one version,
-- then look up by model and metric; provider has a handful of values).
ALTER TABLE price_catalog
    ADD COLUMN IF NOT EXISTS provider    LowCardinality(String) DEFAULT '' AFTER catalog_version,
    ADD COLUMN IF NOT EXISTS price_basis LowCardinality(String) DEFAULT 'adjustment' AFTER unit_price,
    ADD COLUMN IF NOT EXISTS list_price  Nullable(Decimal(38, 12)) AFTER price_basis;

-- The per-event dictionary gains provider in its key; a dictionary's key
-- cannot be altered, so it is recreated. Nothing depends on it but the
-- sink's move and repricing, which look it up by name at query time.
DROP DICTIONARY IF EXISTS price_dict;

CREATE DICTIONARY IF NOT EXISTS price_dict
(
    provider        String,
    model           String,
    version_pattern String,
    metric          String,
    unit_price      Decimal(38, 12),
    currency        String,
    catalog_version UInt32,
    effective_from  DateTime64(6, 'UTC'),
    effective_to    DateTime64(6, 'UTC')
)
PRIMARY KEY provider, model, version_pattern, metric
SOURCE(CLICKHOUSE(QUERY 'SELECT provider, model, version_pattern, metric, unit_price, currency, catalog_version, effective_from, effective_to FROM price_catalog WHERE tier_from = 0 AND catalog_version = (SELECT max(catalog_version) FROM price_catalog)'))
LIFETIME(0)
LAYOUT(COMPLEX_KEY_RANGE_HASHED())
RANGE(MIN effective_from MAX effective_to);
