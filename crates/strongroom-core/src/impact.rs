//! The impact report (issue 13): downloads per file per day with the window in which each file
//! was installable, simple-page reads vs downloads by client kind, distinct client addresses,
//! the local projects that depend on it, and the incident's events for the chart. (Owned by
//! part H7; foundation stub.)
