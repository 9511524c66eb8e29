-- mode: records
-- input
SELECT COUNT(*) AS n FROM sbk
-- rewritten
SELECT
  COUNT(*) AS n
FROM (
  SELECT
    1 AS __dc_one
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
