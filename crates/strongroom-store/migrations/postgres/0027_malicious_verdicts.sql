-- 0027: placeholder for the index's own malicious-package verdicts (OSV out), part H5; filled by that part before it lands.
SELECT 1;
