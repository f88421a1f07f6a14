//! The gateway to upstream indexes (issue 12): which names may resolve upstream, the stored
//! upstream pages and their revalidation, the filters (cooldown, rules, advisories) and the
//! verdict on an upstream file. See docs/gateway.md.
//!
//! FOUNDATION STUB: the types and signatures are the contract between the gateway's parts.

use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::UpstreamFile;

use crate::{CoreError, Services};

/// Where a name is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// A local project (in any state) or a prohibited name: local rows only, never upstream.
    Local,
    /// A reserved private name (`upstream.private_patterns`) with no local project: 404.
    Reserved,
    /// No local project: the upstreams are asked, in order.
    Upstream,
    /// No upstream is configured: local only.
    NoUpstream,
}

/// The verdict on a request for an upstream file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFileVerdict {
    /// Served: the file as the stored page lists it (its sha256 is always `Some`), its version,
    /// and the index of the upstream that answers for the project.
    Serve {
        /// The file.
        file: Box<UpstreamFile>,
        /// Its release's version (from the filename).
        version: String,
        /// Which upstream (index into `upstream.url`).
        upstream: usize,
    },
    /// Refused with a reason the client is told (a block, a malicious-package record): 403.
    Refused(String),
    /// Unknown, not yet old enough, or a name that never resolves upstream: 404.
    NotFound,
}

impl Services {
    /// Where `name` is served from (a database read, no upstream request).
    pub async fn resolve_name(&self, _name: &NormalizedName) -> Result<Resolution, CoreError> {
        Ok(Resolution::NoUpstream)
    }

    /// The verdict on `/upstream/files/<project>/<sha256>/<filename>`, from the stored page
    /// (never asks the upstream).
    pub async fn upstream_file(
        &self,
        _project: &NormalizedName,
        _sha256: &str,
        _filename: &str,
    ) -> Result<UpstreamFileVerdict, CoreError> {
        Ok(UpstreamFileVerdict::NotFound)
    }
}
