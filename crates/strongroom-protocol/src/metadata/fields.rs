//! The table of core-metadata fields: header name, upload-form key, single or
//! multiple use, and the metadata version that introduced it.

/// Whether a field may appear once or many times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    Single,
    Multi,
}

/// Every core-metadata field this crate stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    MetadataVersion,
    Name,
    Version,
    Summary,
    Description,
    DescriptionContentType,
    Keywords,
    HomePage,
    DownloadUrl,
    Author,
    AuthorEmail,
    Maintainer,
    MaintainerEmail,
    License,
    LicenseExpression,
    LicenseFile,
    Classifier,
    RequiresDist,
    RequiresPython,
    RequiresExternal,
    ProvidesExtra,
    ProvidesDist,
    ObsoletesDist,
    ProjectUrl,
    Platform,
    SupportedPlatform,
    Dynamic,
    ImportName,
    ImportNamespace,
}

impl Field {
    /// Whether this field must be written on one line in `METADATA`: the fields installers parse
    /// (requirements, names, versions, extras, expressions). Python's `email.parser` keeps a
    /// folded value's line break, which packaging and current pip then refuse as invalid, so
    /// joining it here would show a dependency nobody installs. Free text (description, summary,
    /// license, people, keywords, URLs) may fold, as historical writers did.
    pub(crate) fn one_line(self) -> bool {
        matches!(
            self,
            Field::MetadataVersion
                | Field::Name
                | Field::Version
                | Field::RequiresDist
                | Field::RequiresPython
                | Field::RequiresExternal
                | Field::ProvidesExtra
                | Field::ProvidesDist
                | Field::ObsoletesDist
                | Field::Dynamic
                | Field::LicenseExpression
                | Field::LicenseFile
                | Field::ImportName
                | Field::ImportNamespace
        )
    }
}

/// (field, lower-case header name, upload form key, arity, introduced in)
const TABLE: &[(Field, &str, &str, Arity, &str)] = &[
    (
        Field::MetadataVersion,
        "metadata-version",
        "metadata_version",
        Arity::Single,
        "1.0",
    ),
    (Field::Name, "name", "name", Arity::Single, "1.0"),
    (Field::Version, "version", "version", Arity::Single, "1.0"),
    (Field::Summary, "summary", "summary", Arity::Single, "1.0"),
    (
        Field::Description,
        "description",
        "description",
        Arity::Single,
        "1.0",
    ),
    (
        Field::DescriptionContentType,
        "description-content-type",
        "description_content_type",
        Arity::Single,
        "2.1",
    ),
    (
        Field::Keywords,
        "keywords",
        "keywords",
        Arity::Single,
        "1.0",
    ),
    (
        Field::HomePage,
        "home-page",
        "home_page",
        Arity::Single,
        "1.0",
    ),
    (
        Field::DownloadUrl,
        "download-url",
        "download_url",
        Arity::Single,
        "1.1",
    ),
    (Field::Author, "author", "author", Arity::Single, "1.0"),
    (
        Field::AuthorEmail,
        "author-email",
        "author_email",
        Arity::Single,
        "1.0",
    ),
    (
        Field::Maintainer,
        "maintainer",
        "maintainer",
        Arity::Single,
        "1.2",
    ),
    (
        Field::MaintainerEmail,
        "maintainer-email",
        "maintainer_email",
        Arity::Single,
        "1.2",
    ),
    (Field::License, "license", "license", Arity::Single, "1.0"),
    (
        Field::LicenseExpression,
        "license-expression",
        "license_expression",
        Arity::Single,
        "2.4",
    ),
    (
        Field::LicenseFile,
        "license-file",
        "license_file",
        Arity::Multi,
        "2.4",
    ),
    (
        Field::Classifier,
        "classifier",
        "classifiers",
        Arity::Multi,
        "1.1",
    ),
    (
        Field::RequiresDist,
        "requires-dist",
        "requires_dist",
        Arity::Multi,
        "1.2",
    ),
    (
        Field::RequiresPython,
        "requires-python",
        "requires_python",
        Arity::Single,
        "1.2",
    ),
    (
        Field::RequiresExternal,
        "requires-external",
        "requires_external",
        Arity::Multi,
        "1.2",
    ),
    (
        Field::ProvidesExtra,
        "provides-extra",
        "provides_extra",
        Arity::Multi,
        "2.1",
    ),
    (
        Field::ProvidesDist,
        "provides-dist",
        "provides_dist",
        Arity::Multi,
        "1.2",
    ),
    (
        Field::ObsoletesDist,
        "obsoletes-dist",
        "obsoletes_dist",
        Arity::Multi,
        "1.2",
    ),
    (
        Field::ProjectUrl,
        "project-url",
        "project_urls",
        Arity::Multi,
        "1.2",
    ),
    (Field::Platform, "platform", "platform", Arity::Multi, "1.0"),
    (
        Field::SupportedPlatform,
        "supported-platform",
        "supported_platform",
        Arity::Multi,
        "1.1",
    ),
    (Field::Dynamic, "dynamic", "dynamic", Arity::Multi, "2.2"),
    (
        Field::ImportName,
        "import-name",
        "import_name",
        Arity::Multi,
        "2.5",
    ),
    (
        Field::ImportNamespace,
        "import-namespace",
        "import_namespace",
        Arity::Multi,
        "2.5",
    ),
];

/// Header names that are core metadata but not stored here (deprecated 1.1 fields).
/// They are still valid in `Dynamic`.
pub(crate) const LEGACY_HEADERS: &[&str] = &["requires", "provides", "obsoletes"];

impl Field {
    /// Every stored field, in core-metadata order.
    pub(crate) fn all() -> impl Iterator<Item = Field> {
        TABLE.iter().map(|row| row.0)
    }

    fn row(self) -> &'static (Field, &'static str, &'static str, Arity, &'static str) {
        // TABLE lists every variant; the fallback row is never used.
        TABLE.iter().find(|row| row.0 == self).unwrap_or(&TABLE[0])
    }

    /// Lower-case header name, as packaging reports fields (`author-email`).
    pub(crate) fn email_name(self) -> &'static str {
        self.row().1
    }

    pub(crate) fn arity(self) -> Arity {
        self.row().3
    }

    /// Metadata version that introduced the field.
    pub(crate) fn added(self) -> &'static str {
        self.row().4
    }

    /// Look a header name up case-insensitively.
    pub(crate) fn from_header(name: &str) -> Option<Field> {
        TABLE
            .iter()
            .find(|row| row.1.eq_ignore_ascii_case(name))
            .map(|row| row.0)
    }

    /// Look an upload form key up (exact, as Warehouse does).
    pub(crate) fn from_form_key(key: &str) -> Option<Field> {
        TABLE.iter().find(|row| row.2 == key).map(|row| row.0)
    }
}
