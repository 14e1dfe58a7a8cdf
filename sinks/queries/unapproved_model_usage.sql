-- Compliance: usage of models (or versions) a license did not grant under the terms in force at the
-- time of each event (the license snapshot with the latest updated_at at or before the event), not
-- its latest snapshot. Grants: empty list = any model. Rules: any; pin:<v> = exactly v; major:<n> =
-- versions n.*; latest[:<k>] = the k (1) newest releases of model_releases published by the event's
-- time (any version while the catalog has no release of the model); maintenance:<m> = releases
-- published before purchased_at (else not_before) + m months. A withdrawn release is never granted.
-- Licenses without a snapshot at the time are listed too (nothing is approved).
-- Params: start DateTime, end DateTime (exclusive).
WITH releases AS (
    SELECT model, arraySort(x -> x.2, groupArray((version, released_at))) AS published,
           groupArrayIf(version, withdrawn = 1) AS withdrawn
    FROM model_releases FINAL GROUP BY model),
used AS (
    SELECT license_id, model, model_version, event_time, cost FROM usage_events
    WHERE event_time >= {start:DateTime} AND event_time < {end:DateTime}),
judged AS (
    SELECT u.license_id AS license_id, u.model AS model, u.model_version AS model_version, u.cost AS cost,
           g.license_id = '' AS no_snapshot, g.`models.model` AS models, g.`models.version_rule` AS rules,
           coalesce(g.purchased_at, g.not_before, g.updated_at) AS start_at,
           arrayFilter(r -> r.2 <= u.event_time AND NOT has(r2.withdrawn, r.1), r2.published) AS by_then,
           has(r2.withdrawn, u.model_version) AS is_withdrawn, length(r2.published) AS known_releases
    FROM used AS u
    ASOF LEFT JOIN (SELECT * FROM license_snapshots FINAL) AS g
        ON g.license_id = u.license_id AND g.updated_at <= u.event_time
    LEFT JOIN releases AS r2 ON r2.model = u.model)
SELECT license_id, model, model_version, count() AS events, sum(cost) AS cost, no_snapshot AS no_license_snapshot
FROM judged
WHERE no_snapshot OR (length(models) > 0 AND (is_withdrawn OR NOT arrayExists((m, r) -> m = model AND (
        r = 'any'
        OR (startsWith(r, 'pin:') AND substring(r, 5) = model_version)
        OR (startsWith(r, 'major:') AND trimLeft(splitByChar('.', toString(model_version))[1], 'v') = substring(r, 7))
        OR (startsWith(r, 'latest') AND (known_releases = 0 OR has(arrayMap(x -> x.1,
              arraySlice(arrayReverse(by_then), 1, if(r = 'latest', 1, toUInt32OrZero(substring(r, 8))))), model_version)))
        OR (startsWith(r, 'maintenance:') AND arrayExists(x -> x.1 = model_version
              AND x.2 < addMonths(start_at, toUInt32OrZero(substring(r, 13))), by_then))),
      models, rules)))
GROUP BY license_id, model, model_version, no_license_snapshot
ORDER BY license_id, model, model_version;
