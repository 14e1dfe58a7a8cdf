-- Compliance: validation results for one license over a period: every validate, check, reserve and
-- release answer, with the terms version it was judged against and who asked.
-- Params: license String, start DateTime, end DateTime (exclusive).
SELECT decided_at, decision_id, kind, valid, code, message, terms_version, tier, client, feature, metric,
       quantity, model, model_version, hardware_id, region, reservation_id
FROM license_decisions FINAL
WHERE license_id = {license:String} AND decided_at >= {start:DateTime} AND decided_at < {end:DateTime}
ORDER BY decided_at, decision_id;
