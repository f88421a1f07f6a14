//! What a scan means for an upload (issue 13): run the scanner on the checked archive, refuse
//! precise rules (encrypted code, a known-malicious hash), score the rest (the scanner's base
//! score, new dangerous capabilities against the previous release, a dormant project, a watched
//! uploader, the typosquat profile M12), and hold for review what reaches `scan.hold_score`.
//! (Owned by part H3; foundation stub.)
