//! One visibility rule for every read: the state a project, a release or a file is in, and what
//! each state shows to anonymous readers, to the project's members and to administrators.
//!
//! Every public read path (the simple index and project pages, the JSON API, downloads and
//! `.metadata`, the XML-RPC lists and changelog, the web home page, project list, search and
//! project and release pages) asks this module, either directly or through the store's SQL form
//! of the same rule (`strongroom_store::visibility`, which this module's tests hold to it state
//! by state). Public pages show the public view whoever is signed in; members see more on the
//! project's manage page, administrators in the admin area.
//!
//! The changelog (XML-RPC `changelog_since_serial`) is filtered at read time by what each entry
//! names *now*: an entry whose project, release or file the public does not see keeps only its
//! serial, time and project name ([`REDACTED_ACTION`], no version, no filename). So a mirror still
//! learns that the project changed and re-reads it (and finds it gone), while a project hidden
//! later takes its old entries' filenames with it; released or restored, they read again.

use strongroom_store::ChangelogRow;
use strongroom_store::model::JournalEntry;
use strongroom_store::visibility::ProjectStatus;

/// What a project, a release or a file is, for readers. A release takes its project's state
/// when that hides more; a file takes its release's (see [`State::within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Shown and served to everyone.
    Live,
    /// PEP 792 `archived` project: shown and served, marked; no new uploads.
    Archived,
    /// PEP 792 `deprecated` project: shown and served, marked.
    Deprecated,
    /// PEP 592 yanked release: shown and served, marked (installers skip it unless pinned).
    Yanked,
    /// A release stored held for review (a recovered or newcomer account's new release of a
    /// dormant project, `core::upload_safety`), or a file a watched account added to an existing
    /// release (`core::file_review`): never published, no journal entry, until an administrator
    /// approves it.
    Held,
    /// A project quarantined by the administrators while they investigate.
    Quarantined,
    /// A project, release or file removed (softly: rows and blobs kept, names burned).
    Removed,
    /// A name the administrators prohibited, with no project behind it. (Prohibiting a name does
    /// not touch an existing project: it keeps its own state until quarantined or removed.)
    Prohibited,
}

/// Who is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Anyone: every public read path, signed in or not.
    Public,
    /// An Owner or Maintainer of the project, on its manage page.
    Member,
    /// An administrator, in the admin area.
    Admin,
}

/// What a viewer gets of something in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sight {
    /// Absent: 404, in no list, in the changelog only as its project's name.
    Hidden,
    /// Names, versions and filenames shown (marked with the state); nothing downloadable.
    Listed,
    /// Shown and downloadable.
    Served,
}

/// The action a redacted changelog entry carries in place of its own.
pub const REDACTED_ACTION: &str = "hidden";

impl State {
    /// Every state, for tests and documentation that walk them all.
    pub const ALL: [State; 8] = [
        State::Live,
        State::Archived,
        State::Deprecated,
        State::Yanked,
        State::Held,
        State::Quarantined,
        State::Removed,
        State::Prohibited,
    ];

    /// How much a state hides: the more hiding of two wins when they combine.
    fn rank(self) -> u8 {
        match self {
            State::Live => 0,
            State::Archived | State::Deprecated => 1,
            State::Yanked => 2,
            State::Held => 3,
            State::Quarantined => 4,
            State::Removed => 5,
            State::Prohibited => 6,
        }
    }

    /// The state of something inside `outer` (a release in its project, a file in its release):
    /// whichever of the two hides more.
    pub fn within(self, outer: State) -> State {
        if outer.rank() > self.rank() {
            outer
        } else {
            self
        }
    }

    /// A project's state from its stored status (text no version of strongroom writes never
    /// gets this far: the store refuses the row, and the store's SQL form hides it).
    pub fn of_project(status: ProjectStatus) -> State {
        match status {
            ProjectStatus::Active => State::Live,
            ProjectStatus::Archived => State::Archived,
            ProjectStatus::Deprecated => State::Deprecated,
            ProjectStatus::Quarantined => State::Quarantined,
            ProjectStatus::Removed => State::Removed,
        }
    }

    /// A release's own state (removed over held over yanked), before its project's.
    pub fn of_release(held: bool, removed: bool, yanked: bool) -> State {
        if removed {
            State::Removed
        } else if held {
            State::Held
        } else if yanked {
            State::Yanked
        } else {
            State::Live
        }
    }

    /// A file's own state (removed over held), before its release's and project's.
    pub fn of_file(removed: bool, held: bool) -> State {
        if removed {
            State::Removed
        } else if held {
            State::Held
        } else {
            State::Live
        }
    }

    /// What `viewer` gets of something in this state.
    pub fn sight(self, viewer: Viewer) -> Sight {
        match (self, viewer) {
            (State::Live | State::Archived | State::Deprecated | State::Yanked, _) => Sight::Served,
            (State::Held | State::Quarantined, Viewer::Public) => Sight::Hidden,
            (State::Held | State::Quarantined, Viewer::Member) => Sight::Listed,
            (State::Removed | State::Prohibited, Viewer::Public | Viewer::Member) => Sight::Hidden,
            (State::Prohibited, Viewer::Admin) => Sight::Listed,
            (State::Held | State::Quarantined | State::Removed, Viewer::Admin) => Sight::Served,
        }
    }

    /// Whether anonymous readers see (and may download) it.
    pub fn is_public(self) -> bool {
        self.sight(Viewer::Public) == Sight::Served
    }
}

/// The state of what a changelog entry names, now: its project's, narrowed by its release's
/// and its file's when it names them. An entry naming a release or a file that cannot be
/// found is treated as removed (hidden).
pub fn entry_state(row: &ChangelogRow) -> State {
    let project = row.project_status.map_or(State::Removed, State::of_project);
    let e = &row.entry;
    let names_release = e.version.is_some() || e.filename.is_some();
    let release = match (&row.release, names_release) {
        (Some(r), _) => State::of_release(r.held, r.removed, r.yanked),
        (None, true) => State::Removed,
        (None, false) => State::Live,
    };
    let file = match (row.file_removed, e.filename.is_some()) {
        // A held file has no journal entry until it is approved (its hold cleared).
        (Some(removed), _) => State::of_file(removed, false),
        (None, true) => State::Removed,
        (None, false) => State::Live,
    };
    file.within(release).within(project)
}

/// The changelog entry as the public may read it: whole when what it names is public, else
/// only its serial, time and project name.
pub fn public_entry(row: ChangelogRow) -> JournalEntry {
    if entry_state(&row).is_public() {
        return row.entry;
    }
    JournalEntry {
        version: None,
        filename: None,
        action: REDACTED_ACTION.to_owned(),
        ..row.entry
    }
}

/// A release a project's members see on its manage page but cannot act on, and the public does
/// not see: held for review, or any release of a quarantined project; or the files held for
/// their own review in a release the public sees (then `filenames` are those files alone).
/// Newest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedRelease {
    pub version: String,
    pub created_at: i64,
    /// `held` or `quarantined` (the project's).
    pub state: State,
    /// Why it was held (the hold's reason), if it was.
    pub reason: Option<String>,
    /// Its files that are not removed.
    pub filenames: Vec<String>,
}

impl crate::Services {
    /// The releases of `p` a member sees listed ([`Sight::Listed`]) but the public does not.
    pub async fn member_listed_releases(
        &self,
        p: &strongroom_store::model::Project,
    ) -> Result<Vec<ListedRelease>, crate::CoreError> {
        let project = State::of_project(p.status);
        let files = self.db.files_any_state(p.id).await?;
        let mut out: Vec<ListedRelease> = self
            .db
            .releases_any_state(p.id)
            .await?
            .into_iter()
            .filter_map(|r| {
                let own = State::of_release(
                    r.quarantined_at.is_some(),
                    r.removed_at.is_some(),
                    r.yanked_at.is_some(),
                );
                let state = own.within(project);
                (state.sight(Viewer::Member) == Sight::Listed).then(|| ListedRelease {
                    filenames: files
                        .iter()
                        .filter(|f| {
                            f.release_id == r.id
                                && State::of_file(f.removed_at.is_some(), f.held_at.is_some())
                                    .within(state)
                                    .sight(Viewer::Member)
                                    == Sight::Listed
                        })
                        .map(|f| f.filename.clone())
                        .collect(),
                    version: r.version,
                    created_at: r.created_at,
                    state,
                    reason: r.quarantine_reason,
                })
            })
            .collect();
        // Files held for their own review in a release the public sees (a watched account's
        // file added to it, `core::file_review`): listed with their release, held.
        for r in self.db.releases_any_state(p.id).await? {
            let own = State::of_release(
                r.quarantined_at.is_some(),
                r.removed_at.is_some(),
                r.yanked_at.is_some(),
            );
            if own.within(project).sight(Viewer::Member) != Sight::Served {
                continue;
            }
            let held: Vec<_> = files
                .iter()
                .filter(|f| {
                    f.release_id == r.id
                        && State::of_file(f.removed_at.is_some(), f.held_at.is_some())
                            .within(own.within(project))
                            == State::Held
                })
                .collect();
            if let Some(first) = held.first() {
                out.push(ListedRelease {
                    version: r.version.clone(),
                    created_at: first.uploaded_at,
                    state: State::Held,
                    reason: first.held_reason.clone(),
                    filenames: held.iter().map(|f| f.filename.clone()).collect(),
                });
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use strongroom_store::ReleaseFlags;

    use super::*;

    #[test]
    fn the_public_sees_live_and_marked_states_only() {
        let public: Vec<State> = State::ALL.into_iter().filter(|s| s.is_public()).collect();
        assert_eq!(
            public,
            vec![
                State::Live,
                State::Archived,
                State::Deprecated,
                State::Yanked
            ]
        );
    }

    #[test]
    fn members_list_held_and_quarantined_admins_reach_everything() {
        use Sight::*;
        let table: Vec<(State, [Sight; 3])> = State::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    [
                        s.sight(Viewer::Public),
                        s.sight(Viewer::Member),
                        s.sight(Viewer::Admin),
                    ],
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                (State::Live, [Served, Served, Served]),
                (State::Archived, [Served, Served, Served]),
                (State::Deprecated, [Served, Served, Served]),
                (State::Yanked, [Served, Served, Served]),
                (State::Held, [Hidden, Listed, Served]),
                (State::Quarantined, [Hidden, Listed, Served]),
                (State::Removed, [Hidden, Hidden, Served]),
                (State::Prohibited, [Hidden, Hidden, Listed]),
            ]
        );
        // Nobody sees less than the public does.
        for s in State::ALL {
            assert!(s.sight(Viewer::Member) >= s.sight(Viewer::Public), "{s:?}");
            assert!(s.sight(Viewer::Admin) >= s.sight(Viewer::Member), "{s:?}");
        }
    }

    #[test]
    fn the_more_hiding_state_wins() {
        assert_eq!(State::Live.within(State::Quarantined), State::Quarantined);
        assert_eq!(State::Yanked.within(State::Archived), State::Yanked);
        assert_eq!(State::Removed.within(State::Live), State::Removed);
        assert_eq!(State::Held.within(State::Quarantined), State::Quarantined);
        assert_eq!(State::Held.within(State::Removed), State::Removed);
        for s in ProjectStatus::ALL {
            let st = State::of_project(s);
            assert_eq!(
                st.is_public(),
                matches!(
                    s,
                    ProjectStatus::Active | ProjectStatus::Archived | ProjectStatus::Deprecated
                ),
                "{s:?}"
            );
        }
        assert_eq!(State::of_release(true, true, true), State::Removed);
        assert_eq!(State::of_release(true, false, true), State::Held);
        assert_eq!(State::of_release(false, false, true), State::Yanked);
    }

    fn row(
        status: &str,
        version: Option<&str>,
        filename: Option<&str>,
        release: Option<ReleaseFlags>,
        file_removed: Option<bool>,
    ) -> ChangelogRow {
        ChangelogRow {
            entry: JournalEntry {
                serial: 7,
                project_name: "Demo".into(),
                version: version.map(str::to_owned),
                filename: filename.map(str::to_owned),
                action: match filename {
                    Some(f) => format!("add py3 file {f}"),
                    None => "new release".into(),
                },
                at: 1,
            },
            project_status: ProjectStatus::parse(status),
            release,
            file_removed,
        }
    }

    const LIVE: ReleaseFlags = ReleaseFlags {
        held: false,
        removed: false,
        yanked: false,
    };

    #[test]
    fn changelog_entries_keep_only_the_project_name_when_what_they_name_is_hidden() {
        let whl = Some("demo-1.0-py3-none-any.whl");
        let shown = public_entry(row("active", Some("1.0"), whl, Some(LIVE), Some(false)));
        assert_eq!(
            (shown.version.as_deref(), shown.filename.as_deref()),
            (Some("1.0"), whl)
        );
        assert!(shown.action.contains("demo-1.0"));
        let yanked = ReleaseFlags {
            yanked: true,
            ..LIVE
        };
        assert!(
            public_entry(row("archived", Some("1.0"), None, Some(yanked), None)).version
                == Some("1.0".into())
        );

        let hidden = [
            row("quarantined", Some("1.0"), whl, Some(LIVE), Some(false)),
            row("removed", None, None, None, None),
            row("active", Some("1.0"), whl, Some(LIVE), Some(true)),
            row(
                "active",
                Some("1.0"),
                whl,
                Some(ReleaseFlags {
                    removed: true,
                    ..LIVE
                }),
                Some(false),
            ),
            row(
                "active",
                Some("2.0"),
                None,
                Some(ReleaseFlags { held: true, ..LIVE }),
                None,
            ),
            // names a release or a file that cannot be found: fail closed
            row("active", Some("3.0"), None, None, None),
            row("active", Some("1.0"), whl, Some(LIVE), None),
        ];
        for r in hidden {
            let before = r.entry.clone();
            let e = public_entry(r);
            assert_eq!(
                (
                    e.serial,
                    e.project_name.as_str(),
                    e.at,
                    e.version,
                    e.filename,
                    e.action.as_str()
                ),
                (
                    before.serial,
                    "Demo",
                    before.at,
                    None,
                    None,
                    REDACTED_ACTION
                ),
                "{before:?}"
            );
        }
        // A project-level entry of a public project reads whole.
        let e = public_entry(row("active", None, None, None, None));
        assert_eq!(e.action, "new release");
    }
}
