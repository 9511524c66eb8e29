-- mode: aggregates
-- input
SELECT district, SUM(income) AS total FROM sbk GROUP BY district HAVING SUM(income) > 1000
-- rewritten
SELECT
  sbk.district AS district,
  SUM(TRY_CAST(sbk.income AS DOUBLE)) AS total
FROM (
  SELECT
    __dc_t.district AS district,
    __dc_t.income AS income,
    __dc_t.pid AS __dc_entity
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
GROUP BY
  sbk.district
HAVING
  (
    SUM(TRY_CAST(sbk.income AS DOUBLE)) > 1000
  )
  AND COUNT(DISTINCT sbk.__dc_entity) >= 10
