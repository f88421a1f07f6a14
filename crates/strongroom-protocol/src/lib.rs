//! Python packaging wire formats as PyPI (Warehouse) speaks them. Pure: no I/O, no async.
//!
//! | module | owns | specifications |
//! | --- | --- | --- |
//! | [`name`] | project names, normalisation, confusable and stdlib checks | [name normalization](https://packaging.python.org/en/latest/specifications/name-normalization/), [PEP 503](https://peps.python.org/pep-0503/) |
//! | [`version`] | PEP 440 versions, canonical release identity, Requires-Python | [PEP 440](https://peps.python.org/pep-0440/), [version specifiers](https://packaging.python.org/en/latest/specifications/version-specifiers/) |
//! | [`filename`] | wheel and sdist filenames, platform-tag allow-list, upload filename checks | [PEP 427](https://peps.python.org/pep-0427/)/[PEP 491](https://peps.python.org/pep-0491/), [PEP 625](https://peps.python.org/pep-0625/), [PEP 527](https://peps.python.org/pep-0527/), [PEP 715](https://peps.python.org/pep-0715/), [platform tags](https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/) |
//! | [`header_block`] | the header block of email-format files (METADATA, PKG-INFO, WHEEL), split as Python's `email.parser` splits it | [core metadata](https://packaging.python.org/en/latest/specifications/core-metadata/), [RFC 822](https://www.rfc-editor.org/rfc/rfc822) |
//! | [`metadata`] | core metadata 1.0–2.5: parsing and PyPI's validation | [core metadata](https://packaging.python.org/en/latest/specifications/core-metadata/), [PEP 508](https://peps.python.org/pep-0508/), [PEP 566](https://peps.python.org/pep-0566/), [PEP 643](https://peps.python.org/pep-0643/), [PEP 639](https://peps.python.org/pep-0639/), [PEP 794](https://peps.python.org/pep-0794/) |
//! | [`simple`] | simple repository API documents (HTML and JSON) and negotiation | [simple repository API](https://packaging.python.org/en/latest/specifications/simple-repository-api/), [PEP 503](https://peps.python.org/pep-0503/), [PEP 592](https://peps.python.org/pep-0592/), [PEP 629](https://peps.python.org/pep-0629/), [PEP 658](https://peps.python.org/pep-0658/)/[PEP 714](https://peps.python.org/pep-0714/), [PEP 691](https://peps.python.org/pep-0691/), [PEP 700](https://peps.python.org/pep-0700/), [PEP 792](https://peps.python.org/pep-0792/) |
//! | [`json_api`] | PyPI's legacy JSON API documents | [PyPI JSON API](https://docs.pypi.org/api/json/) |
//!
//! Error `Display` strings are PyPI's messages wherever PyPI has one, so the server can
//! pass them to clients unchanged (twine prints the HTTP reason phrase).

pub mod filename;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod header_block;
pub mod json_api;
pub mod metadata;
pub mod name;
pub mod osv;
mod pyrepr;
pub mod simple;
pub mod version;

pub use filename::{
    DistFilename, FilenameError, SdistFilename, SdistKind, WheelFilename, dist_dir_matches,
    expected_sdist_filename, expected_wheel_name_part, is_allowed_platform_tag,
    name_matches_project,
};
pub use json_api::{FileJson, Info, ProjectJson, latest_version};
pub use metadata::{CoreMetadata, MetadataError};
pub use name::{
    NameError, NamePattern, NormalizedName, ProjectName, is_stdlib_module_name, skeleton,
};
pub use simple::{IndexEntry, ProjectPage, ProjectStatus, SimpleFile, SimpleFormat};
pub use version::{Version, VersionError, validate_requires_python};
