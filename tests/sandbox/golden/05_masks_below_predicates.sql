-- mode: records
-- input
SELECT pid, phone, birth FROM sbk WHERE phone LIKE '138%' ORDER BY pid LIMIT 5
-- rewritten
SELECT
  sbk.pid AS pid,
  sbk.phone AS phone,
  sbk.birth AS birth
FROM (
  SELECT
    __DC_MASK_PSEUDONYM(TRY_CAST(__dc_t.pid AS TEXT), 'grant:g-records') AS pid,
    __DC_MASK_PARTIAL(TRY_CAST(__dc_t.phone AS TEXT), 6, 4) AS phone,
    __DC_MASK_MONTH(TRY_CAST(__dc_t.birth AS DATE)) AS birth
  FROM __dc_src_sbk AS __dc_t
  WHERE
    TRY(age >= 18)
) AS sbk
WHERE
  sbk.phone LIKE '138%'
ORDER BY
  pid
LIMIT 5
