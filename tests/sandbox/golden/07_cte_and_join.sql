-- mode: masked_records
-- input
WITH adults AS (SELECT pid, district FROM sbk WHERE age > 30) SELECT a.pid, b.sector FROM adults AS a JOIN biz AS b ON a.district = b.district
-- rewritten
WITH adults AS (
  SELECT
    sbk.pid AS pid,
    sbk.district AS district
  FROM (
    SELECT
      __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-masked_records') AS pid,
      __dc_t.district AS district,
      __dc_t.age AS age
    FROM __dc_src_sbk AS __dc_t
    WHERE
      TRY(age >= 18)
  ) AS sbk
  WHERE
    TRY(sbk.age > 30)
)
SELECT
  a.pid AS pid,
  b.sector AS sector
FROM adults AS a
JOIN (
  SELECT
    __dc_t.district AS district,
    __dc_t.sector AS sector
  FROM __dc_src_biz AS __dc_t
) AS b
  ON TRY_CAST(a.district AS TEXT) = TRY_CAST(b.district AS TEXT)
