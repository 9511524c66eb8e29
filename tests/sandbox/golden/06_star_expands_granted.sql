-- mode: records
-- input
SELECT * FROM sbk LIMIT 3
-- rewritten
SELECT
  sbk.pid AS pid,
  sbk.district AS district,
  sbk.age AS age,
  sbk.income AS income,
  sbk.phone AS phone,
  sbk.birth AS birth
FROM (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-records') AS pid,
    __dc_t.district AS district,
    __dc_t.age AS age,
    __dc_t.income AS income,
    __DC_MASK_PARTIAL(TRY_CAST(__dc_t.phone AS TEXT), 6, 4) AS phone,
    __DC_MASK_MONTH(TRY_CAST(__dc_t.birth AS DATE)) AS birth
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
LIMIT 3
