-- The hand-written baseline for bench/scheme.yaml: the same job as `socialcredit evaluate
-- --engine duckdb` (identifier validation, idempotency, visibility at K, events, points, tiers,
-- a cap, grades, a code list, a grade list, measures), written directly for this one scheme.
-- No explanations, no rejection report. Parameters: $T (date), $K (UTC microseconds).
-- Do not weaken this query to flatter the ratio.
CREATE TEMP TABLE ids AS
SELECT subject_id,
  CASE
    WHEN regexp_full_match(subject_id, '[0-9]{17}[0-9X]')
     AND substr('10X98765432', CAST((
        CAST(subject_id[1] AS INT)*7 + CAST(subject_id[2] AS INT)*9 + CAST(subject_id[3] AS INT)*10
      + CAST(subject_id[4] AS INT)*5 + CAST(subject_id[5] AS INT)*8 + CAST(subject_id[6] AS INT)*4
      + CAST(subject_id[7] AS INT)*2 + CAST(subject_id[8] AS INT)*1 + CAST(subject_id[9] AS INT)*6
      + CAST(subject_id[10] AS INT)*3 + CAST(subject_id[11] AS INT)*7 + CAST(subject_id[12] AS INT)*9
      + CAST(subject_id[13] AS INT)*10 + CAST(subject_id[14] AS INT)*5 + CAST(subject_id[15] AS INT)*8
      + CAST(subject_id[16] AS INT)*4 + CAST(subject_id[17] AS INT)*2) % 11 AS INT) + 1, 1) = subject_id[18]
     AND subject_id[7:10] <> '0000'
     AND try_cast(subject_id[7:10] || '-' || subject_id[11:12] || '-' || subject_id[13:14] AS DATE) IS NOT NULL
    THEN 'person'
    WHEN regexp_full_match(subject_id, '[0-9A-HJ-NP-RTUWXY]{18}')
     AND substr('0123456789ABCDEFGHJKLMNPQRTUWXY', CAST((31 - (
        (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[1])-1)*1
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[2])-1)*3
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[3])-1)*9
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[4])-1)*27
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[5])-1)*19
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[6])-1)*26
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[7])-1)*16
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[8])-1)*17
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[9])-1)*20
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[10])-1)*29
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[11])-1)*25
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[12])-1)*13
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[13])-1)*8
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[14])-1)*24
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[15])-1)*10
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[16])-1)*30
      + (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', subject_id[17])-1)*28) % 31) % 31 AS INT) + 1, 1)
        = subject_id[18]
    THEN 'organisation'
  END AS kind,
  CAST(row_number() OVER () AS INTEGER) AS sid
FROM (SELECT DISTINCT subject_id FROM read_parquet($records));

CREATE TEMP TABLE instants AS
SELECT s, (CAST(s[1:10] AS DATE) - DATE '1970-01-01') * 86400000000
          + ((CAST(s[12:13] AS BIGINT) * 60 + CAST(s[15:16] AS BIGINT)) * 60 + CAST(s[18:19] AS BIGINT)) * 1000000
          - CASE WHEN s[-1:] = 'Z' THEN 0
                 ELSE (CASE WHEN s[-6:-6] = '-' THEN -1 ELSE 1 END)
                      * (CAST(s[-5:-4] AS BIGINT) * 60 + CAST(s[-2:] AS BIGINT)) * 60000000 END AS us
FROM (SELECT DISTINCT recorded_at AS s FROM read_parquet($records)
      UNION SELECT DISTINCT recorded_at FROM read_parquet($events))
WHERE regexp_full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})');

CREATE TEMP TABLE dates AS
SELECT s, try_cast(s AS DATE) AS d
FROM (SELECT DISTINCT occurred_on AS s FROM read_parquet($records)
      UNION SELECT DISTINCT date FROM read_parquet($events))
WHERE regexp_full_match(s, '[0-9]{4}-[0-9]{2}-[0-9]{2}');

CREATE TEMP TABLE valid AS
SELECT r.file_row_number AS rn, r.furnisher, r.record_id, i.sid, r.code,
       o.d AS occ,
       CASE WHEN r.amount IS NULL OR r.amount = '' THEN 0 ELSE try_cast(r.amount AS DECIMAL(38,18)) END AS amt,
       t.us AS rec_us
FROM read_parquet($records, file_row_number = true) r
JOIN ids i USING (subject_id)
JOIN instants t ON t.s = r.recorded_at
JOIN dates o ON o.s = r.occurred_on
WHERE i.kind IS NOT NULL AND r.furnisher <> '' AND r.record_id <> ''
  AND NOT (r.code = 'traffic.offence_minor' AND i.kind = 'organisation');

-- Keys sent more than once: only the first valid row of each is kept.
CREATE TEMP TABLE later AS
SELECT v.rn
FROM (SELECT furnisher, record_id, min(rn) AS first_rn FROM valid
      GROUP BY furnisher, record_id HAVING count(*) > 1) d
JOIN valid v ON v.furnisher = d.furnisher AND v.record_id = d.record_id AND v.rn <> d.first_rn;

CREATE TEMP VIEW rec AS SELECT * FROM valid WHERE rn NOT IN (SELECT rn FROM later);

CREATE TEMP TABLE ev AS
SELECT k.rn,
       bool_or(e.event = 'retracted') AS ret,
       min(CASE WHEN e.event = 'repaired' THEN o.d END) AS rep,
       min(CASE WHEN e.event = 'fulfilled' THEN o.d END) AS ful
FROM read_parquet($events) e
JOIN instants t ON t.s = e.recorded_at
LEFT JOIN dates o ON o.s = e.date
JOIN rec k ON k.furnisher = e.furnisher AND k.record_id = e.record_id
WHERE t.us <= $K
GROUP BY k.rn;

COPY (
  WITH eff AS (
    SELECT r.sid, r.code, r.occ, r.amt,
           coalesce(e.ret, FALSE) AS ret, e.rep, e.ful
    FROM rec r LEFT JOIN ev e ON e.rn = r.rn
    WHERE r.rec_us <= $K
  ), per AS (
    SELECT sid,
      sum(CASE WHEN NOT ret AND code = 'court.arrears' AND occ <= $T
               AND $T < least(occ + 1826, coalesce(rep, DATE '9999-12-31'), coalesce(ful, DATE '9999-12-31'))
               THEN -50 END) AS s_arrears,
      sum(CASE WHEN NOT ret AND code = 'utility.late_fees' AND occ <= $T
               AND $T < least(occ + 1095, coalesce(rep, DATE '9999-12-31'), coalesce(ful, DATE '9999-12-31'))
               THEN CASE WHEN amt >= 1000 THEN -20 ELSE -5 END END) AS s_fees,
      sum(CASE WHEN NOT ret AND code = 'civic.honour' AND occ <= $T
               AND $T < least(occ + 1095, coalesce(rep, DATE '9999-12-31'))
               THEN 30 END) AS s_honour,
      bool_or(NOT ret AND code = 'court.judgment_default' AND occ <= $T
               AND $T < least(occ + 730, coalesce(rep, DATE '9999-12-31'), coalesce(ful, DATE '9999-12-31')))
        AS defaulter
    FROM eff GROUP BY sid
  ), scored AS (
    SELECT i.subject_id, i.kind, per.*, CAST(least(greatest(1000 + coalesce(s_arrears, 0)
               + greatest(coalesce(s_fees, 0), -60) + coalesce(s_honour, 0), 0), 2000) AS BIGINT) AS score
    FROM per JOIN ids i ON i.sid = per.sid
  ), graded AS (
    SELECT *, CASE WHEN score >= 960 THEN 'A' WHEN score >= 850 THEN 'B'
                   WHEN score >= 600 THEN 'C' ELSE 'D' END AS grade
    FROM scored
  )
  SELECT subject_id, kind, score, grade,
    list_concat(CASE WHEN defaulter THEN ['defaulters'] ELSE [] END,
                CASE WHEN grade = 'D' AND NOT defaulter THEN ['grade-d'] ELSE [] END) AS lists,
    list_concat(CASE WHEN defaulter THEN ['no-flights'] ELSE [] END,
                CASE WHEN (grade = 'D' AND NOT defaulter) OR grade = 'C' THEN ['supervision'] ELSE [] END) AS measures
  FROM graded ORDER BY subject_id
) TO $out (FORMAT json);
