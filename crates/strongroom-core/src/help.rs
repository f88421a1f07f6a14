//! The help page's topics (`GET /help/`): the anchors messages link to, and the sentence that links them.
//!
//! A message that a client prints (twine shows the reason phrase, uv the body) ends with
//! `See /help/#<anchor> for more information.`, the structure clients and people know from other
//! indexes; the server makes the path absolute ([`absolute_links`]) where the message leaves the site.

/// The help page's path.
pub const HELP_PATH: &str = "/help/";

/// What precedes a help link in a message (and what [`absolute_links`] looks for).
const SEE: &str = "See /help/#";

/// One section of the help page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelpTopic {
    TwoFactor,
    ApiTokens,
    ProjectNames,
    FileNameReuse,
    VerifiedEmail,
    Invitations,
    Yanking,
}

impl HelpTopic {
    /// Every topic, in the page's order.
    pub const ALL: [HelpTopic; 7] = [
        HelpTopic::TwoFactor,
        HelpTopic::ApiTokens,
        HelpTopic::ProjectNames,
        HelpTopic::FileNameReuse,
        HelpTopic::VerifiedEmail,
        HelpTopic::Invitations,
        HelpTopic::Yanking,
    ];

    /// The section's anchor on the help page (fixed: other pages and mail link to them).
    pub const fn anchor(self) -> &'static str {
        match self {
            HelpTopic::TwoFactor => "two-factor",
            HelpTopic::ApiTokens => "api-tokens",
            HelpTopic::ProjectNames => "project-names",
            HelpTopic::FileNameReuse => "file-name-reuse",
            HelpTopic::VerifiedEmail => "verified-email",
            HelpTopic::Invitations => "invitations",
            HelpTopic::Yanking => "yanking",
        }
    }

    /// `/help/#<anchor>`.
    pub fn path(self) -> String {
        format!("{HELP_PATH}#{}", self.anchor())
    }

    /// The sentence a message ends with: `See /help/#<anchor> for more information.`
    pub fn see(self) -> String {
        format!("{SEE}{} for more information.", self.anchor())
    }
}

/// `message` with every help link written by [`HelpTopic::see`] made absolute under `base`
/// (`https://index.example`, no trailing slash), for text read outside the site: a terminal
/// cannot follow `/help/#…`.
pub fn absolute_links(message: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    message.replace(SEE, &format!("See {base}/help/#"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_become_absolute_and_nothing_else_changes() {
        let m = format!(
            "File already exists ('a.whl'). {}",
            HelpTopic::FileNameReuse.see()
        );
        assert_eq!(
            absolute_links(&m, "https://idx.example/"),
            "File already exists ('a.whl'). See https://idx.example/help/#file-name-reuse for more information."
        );
        assert_eq!(absolute_links("No link here.", "http://x"), "No link here.");
    }

    /// The messages kept as constants spell the same link [`HelpTopic::see`] writes.
    #[test]
    fn constant_messages_link_the_help_page() {
        use crate::tokens::{
            NO_AUTH, PASSWORD_AUTH_GONE, TOKEN_NEEDS_2FA, TOKEN_NEEDS_VERIFIED_EMAIL,
        };
        for (m, topic) in [
            (NO_AUTH, HelpTopic::ApiTokens),
            (PASSWORD_AUTH_GONE, HelpTopic::ApiTokens),
            (TOKEN_NEEDS_2FA, HelpTopic::TwoFactor),
            (TOKEN_NEEDS_VERIFIED_EMAIL, HelpTopic::VerifiedEmail),
        ] {
            assert!(m.ends_with(&topic.see()), "{m}");
        }
    }

    #[test]
    fn anchors_are_distinct() {
        let mut seen: Vec<_> = HelpTopic::ALL.iter().map(|t| t.anchor()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), HelpTopic::ALL.len());
    }
}
