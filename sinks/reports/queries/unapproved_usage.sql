-- Risk and compliance (the query pack's unapproved_model_usage, with the report's filters): usage of models (or versions) a license does not grant, per its latest snapshot.
-- Grants: empty list = any model; version_rule latest = any version, pin:<v> = exactly v,
-- major:<n> = versions n.*. Licenses without a snapshot are listed too (nothing is approved).
-- Params: start DateTime, end DateTime (exclusive, whole days); team, license, model String ('' = all).
WITH grants AS (
    SELECT license_id, argMax(`models.model`, updated_at) AS models, argMax(`models.version_rule`, updated_at) AS rules
    FROM license_snapshots FINAL GROUP BY license_id)
SELECT u.license_id AS license_id, u.model AS model, u.model_version AS model_version,
       sum(u.events) AS events, sum(u.cost) AS cost, g.license_id = '' AS no_license_snapshot
FROM usage_hourly AS u
LEFT JOIN grants AS g ON g.license_id = u.license_id
WHERE u.hour >= {start:DateTime} AND u.hour < {end:DateTime}
  AND ({team:String} = '' OR u.team = {team:String}) AND ({license:String} = '' OR u.license_id = {license:String})
  AND ({model:String} = '' OR u.model = {model:String})
  AND (g.license_id = '' OR (length(g.models) > 0 AND NOT arrayExists((m, r) -> m = u.model AND (
        r = 'latest'
        OR (startsWith(r, 'pin:') AND substring(r, 5) = u.model_version)
        OR (startsWith(r, 'major:') AND splitByChar('.', toString(u.model_version))[1] = substring(r, 7))),
      g.models, g.rules)))
GROUP BY license_id, model, model_version, no_license_snapshot
ORDER BY license_id, model, model_version;
