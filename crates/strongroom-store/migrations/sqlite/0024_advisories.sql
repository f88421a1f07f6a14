-- 0024: placeholder of issue 12's part A (replaced by its tables before release).
SELECT 1;
