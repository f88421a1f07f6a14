-- 0022: placeholder of issue 12's part F (replaced by its tables before release).
SELECT 1;
