-- mode: records
-- input
SELECT COUNT(DISTINCT pid) AS people FROM sbk WHERE district IN (SELECT district FROM biz WHERE sector = 'it')
-- rewritten
SELECT
  COUNT(DISTINCT sbk.pid) AS people
FROM (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-records') AS pid,
    __dc_t.district AS district
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
WHERE
  sbk.district IN (
    SELECT
      biz.district AS district
    FROM (
      SELECT
        __dc_t.district AS district,
        __dc_t.sector AS sector
      FROM __dc_src_biz AS __dc_t
    ) AS biz
    WHERE
      biz.sector = 'it'
  )
