//! A file's status by its sha256 (issue 13): live, yanked, held, quarantined, removed or
//! malicious, readable without a token for files that were ever public (a lock file already
//! names them); what `strongroom audit` asks. (Owned by part H6; foundation stub.)
