-- mode: records
-- input
SELECT s.district, (SELECT COUNT(*) FROM visits AS v WHERE v.pid = s.pid) AS visits FROM sbk AS s LIMIT 5
-- rewritten
SELECT
  s.district AS district,
  (
    SELECT
      COUNT(*) AS _col_0
    FROM (
      SELECT
        __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-records') AS pid
      FROM __dc_src_visits AS __dc_t
    ) AS v
    WHERE
      v.pid = s.pid
  ) AS visits
FROM (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-records') AS pid,
    __dc_t.district AS district
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS s
LIMIT 5
