//! The index's own malicious-package verdicts (issue 13): a release rejected as malicious
//! becomes an OSV record in the ossf/malicious-packages format under `osv.id_prefix`, served at
//! `/osv/` and exported by `strongroom admin osv export DIR`; a withdrawn verdict moves the
//! record to withdrawn. (Owned by part H5; foundation stub: the signatures other parts call.)

use crate::admin::AdminCap;
use crate::{CoreError, RequestMeta, Services};

impl Services {
    /// Record that `project` `version` (its files, removed or not) is malicious; returns the new
    /// record's id. Called by the review queue's reject (part H4) after the release is removed.
    pub async fn record_malicious_verdict(
        &self,
        cap: &AdminCap,
        project: &str,
        version: &str,
        details: &str,
        meta: &RequestMeta,
    ) -> Result<String, CoreError> {
        let _ = (cap, project, version, details, meta);
        // Foundation stub: part H5 stores the verdict and returns its id.
        Ok(String::new())
    }

    /// Withdraw a verdict (its record stays, marked withdrawn).
    pub async fn withdraw_malicious_verdict(
        &self,
        cap: &AdminCap,
        id: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let _ = (cap, id, reason, meta);
        Ok(())
    }
}
