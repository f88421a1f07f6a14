-- 0023: placeholder of issue 12's part D (replaced by its tables before release).
SELECT 1;
