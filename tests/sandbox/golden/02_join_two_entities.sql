-- mode: aggregates
-- input
SELECT s.district, COUNT(*) AS n FROM sbk AS s JOIN visits AS v ON s.pid = v.pid GROUP BY s.district
-- rewritten
SELECT
  s.district AS district,
  COUNT(*) AS n
FROM (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-aggregates') AS pid,
    __dc_t.district AS district,
    __dc_t.pid AS __dc_entity
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS s
JOIN (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-aggregates') AS pid,
    __dc_t.pid AS __dc_entity
  FROM __dc_src_visits AS __dc_t
) AS v
  ON TRY_CAST(s.pid AS TEXT) = TRY_CAST(v.pid AS TEXT)
GROUP BY
  s.district
HAVING
  COUNT(DISTINCT s.__dc_entity) >= 10 AND COUNT(DISTINCT v.__dc_entity) >= 10
