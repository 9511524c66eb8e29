-- mode: aggregates
-- input
SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM sbk GROUP BY district ORDER BY district
-- rewritten
SELECT
  sbk.district AS district,
  COUNT(*) AS n,
  AVG(TRY_CAST(sbk.income AS DOUBLE)) AS mean_income
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
  COUNT(DISTINCT sbk.__dc_entity) >= 10
ORDER BY
  district
