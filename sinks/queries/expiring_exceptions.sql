-- Compliance: exceptions to policy rules that expire within `days` days of `at` (latest version of each;
-- revoked ones are left out).
-- Params: at DateTime, days UInt32.
SELECT exception_id, rule_id, scope, reason, approver, requested_by, created_at, expires_at,
       dateDiff('hour', {at:DateTime}, expires_at) AS hours_left
FROM (SELECT exception_id, argMax(rule_id, updated_at) AS rule_id, argMax(scope, updated_at) AS scope,
             argMax(reason, updated_at) AS reason, argMax(approver, updated_at) AS approver,
             argMax(requested_by, updated_at) AS requested_by, argMax(created_at, updated_at) AS created_at,
             argMax(expires_at, updated_at) AS expires_at, argMax(revoked_at, updated_at) AS revoked_at
      FROM policy_exceptions FINAL GROUP BY exception_id)
WHERE isNull(revoked_at) AND expires_at >= {at:DateTime} AND expires_at < {at:DateTime} + toIntervalDay({days:UInt32})
ORDER BY expires_at, exception_id;
