-- 0025: placeholder of issue 12's part R (replaced by its tables before release).
SELECT 1;
