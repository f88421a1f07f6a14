-- 0028: placeholder for simple-page reads per project per day by client kind (impact report), part H7; filled by that part before it lands.
SELECT 1;
