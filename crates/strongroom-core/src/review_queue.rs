//! The review queue (issue 13): every release and file held for an administrator's look (by the
//! scanner, a watched account, a dormant project), with its findings, snippets and capability
//! diff; approve publishes, reject removes the release (filenames burned) and records a
//! malicious verdict. (Owned by part H4; foundation stub.)
