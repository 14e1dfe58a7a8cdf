-- Governance evidence (issue 11): every version of the AI inventory, of the
-- policies, of the exceptions, the remediation of alerts, and budgets per
-- scope. The compacted topics keep only the latest value per key; these
-- tables keep the history an audit asks for.

-- Every published version of every inventory entry: the approval record
-- (who changed what, when, and why). ReplacingMergeTree ORDER BY
-- (kind, id, updated_at): re-reading the topic collapses to one row per
-- version; "the entry as of a date" is argMax(…, updated_at) below that date.
CREATE TABLE IF NOT EXISTS inventory_history
(
    kind            LowCardinality(String),
    id              String,
    name            String,
    status          LowCardinality(String),
    provider        LowCardinality(String),
    family          LowCardinality(String),
    version         String,
    review_date     Nullable(Date),
    model_card      String,
    lineage         String,
    certification   String,
    owner_team      LowCardinality(String),
    accountable     String,
    purpose         String,
    category        LowCardinality(String),
    environment     LowCardinality(String),
    data_categories Array(LowCardinality(String)),
    sensitivity     LowCardinality(String),
    controls        Array(LowCardinality(String)),
    allowed_models  Array(String),
    changed_by      String,
    change_note     String,
    updated_at      DateTime64(6, 'UTC'),
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, id, updated_at);

-- Every version of every policy file, as loaded. ReplacingMergeTree ORDER BY
-- (policy_id, version): a violation alert names its policy version, and this
-- table gives the rules that version held.
CREATE TABLE IF NOT EXISTS policy_versions
(
    policy_id   String,
    version     Int32,
    text        String,
    updated_by  String,
    updated_at  DateTime64(6, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (policy_id, version);

-- Every version of every exception (granted, then possibly revoked).
-- ReplacingMergeTree ORDER BY (exception_id, updated_at): one row per
-- version; the latest version is the exception's state.
CREATE TABLE IF NOT EXISTS policy_exceptions
(
    exception_id String,
    rule_id      LowCardinality(String),
    scope        Map(String, String),
    reason       String,
    approver     String,
    requested_by String,
    created_at   DateTime64(6, 'UTC'),
    expires_at   DateTime64(6, 'UTC'),
    revoked_at   Nullable(DateTime64(6, 'UTC')),
    note         String,
    updated_at   DateTime64(6, 'UTC'),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (exception_id, updated_at);

-- Remediation: alerts acknowledged, resolved or reopened, by whom, with a note.
-- ReplacingMergeTree ORDER BY (alert_id, at, action): looked up by alert; a
-- re-read record collapses. An alert's state is its latest action.
CREATE TABLE IF NOT EXISTS alert_actions
(
    alert_id    String,
    action      LowCardinality(String),
    actor       String,
    note        String,
    at          DateTime64(6, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (alert_id, at, action);

-- Budgets per team, use case or model (the processors judge them in money;
-- `meterstream budgets load` writes here and publishes them). A new table
-- rather than a changed key on `budgets` (0003), whose sorting key cannot gain
-- a column idempotently; team rows are still written there too for
-- budget_variance. ReplacingMergeTree(loaded_at) ORDER BY
-- (scope_kind, scope, month, currency): loading again replaces.
CREATE TABLE IF NOT EXISTS scope_budgets
(
    scope_kind LowCardinality(String),
    scope      String,
    month      Date,
    amount     Decimal(38, 6),
    currency   LowCardinality(String),
    thresholds Array(UInt16),
    loaded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(loaded_at)
ORDER BY (scope_kind, scope, month, currency);
