-- 0021: placeholder of issue 12's part G (replaced by its tables before release).
SELECT 1;
