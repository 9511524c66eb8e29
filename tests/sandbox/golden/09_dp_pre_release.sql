-- mode: dp_aggregates
-- input
SELECT district, COUNT(*) AS n, AVG(income) AS mean_income FROM sbk GROUP BY district
-- rewritten
SELECT
  sbk.district AS district,
  sbk.income AS __dc_a1,
  sbk.__dc_entity AS __dc_entity
FROM (
  SELECT
    __dc_t.district AS district,
    __dc_t.income AS income,
    __dc_t.pid AS __dc_entity
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
QUALIFY
  ROW_NUMBER() OVER (PARTITION BY sbk.__dc_entity) <= 1
