//! Synthetic index data for scale benchmarks (`strongroom admin generate-synthetic`): projects,
//! releases, files, roles, search rows, journal entries and events written straight into the
//! database in large multi-row INSERTs, a few thousand projects per transaction, without the
//! upload path's checks (the names are made unique by construction).
//!
//! Every row is what an upload of the same file would have written (normalised PEP 503 names,
//! their confusable skeletons, PEP 440 versions, wheel and sdist filenames, digests, sizes,
//! `Requires-Python`, upload times, one journal entry per project, release and file so serials
//! are real, and the hash-chained `project:create` and `file:upload` events), except that the
//! files' bytes do not exist: their digests are made up (the file's id, then random hex) and
//! their blob keys name nothing, so `admin fsck` reports each one as a missing blob. Only the
//! sample ([`SyntheticSample`]) gets real bytes: the caller's sampler makes them and gives their
//! digests, which go into the file's row and upload event like any other file's (core writes
//! the bytes).

use sqlx::{Any, Row, Transaction};

use crate::events::{GENESIS_HASH, NewEvent, canonical_bytes, chain_hash, lock_tail};
use crate::{Db, Dialect, StoreError};

/// The account every synthetic project is created by (made when missing).
pub const SYNTHETIC_USER: &str = "synthetic-owner";
/// The user agent recorded with every synthetic file (how to tell synthetic rows apart).
pub const SYNTHETIC_USER_AGENT: &str = "strongroom-synthetic/1";
/// Projects written per transaction.
const PROJECTS_PER_TX: u64 = 2_000;
/// The page cache of the connection the generator writes with (KiB; SQLite's default is
/// 2 MiB).
const GENERATOR_CACHE_KIB: u64 = 512 * 1024;
/// Bound parameters per INSERT statement (SQLite allows 32,766, PostgreSQL 65,535). SQLite
/// looks each named parameter (`$n`) up in a list of all of them, quadratic in their number: on
/// SQLite the statements use positional `?` and stay this small as well.
const MAX_PARAMS: usize = 4_000;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SyntheticPlan {
    pub projects: u64,
    pub files_per_project: u32,
    /// Files that get real bytes (the newest wheel of evenly spread projects).
    pub sample: u64,
    pub seed: u64,
    /// The description renderer version stored with each release's (pre-rendered) description,
    /// so the render job finds nothing to do.
    pub description_renderer: i64,
    /// Now (µs): upload times spread over the three years before it.
    pub now: i64,
}

/// A file chosen to get real bytes: core builds a wheel for it (the sampler of
/// [`Db::generate_synthetic`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticSample {
    pub file_id: i64,
    pub project_name: String,
    pub normalized_name: String,
    pub version: String,
    pub filename: String,
    pub requires_python: String,
    pub summary: String,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct SyntheticReport {
    pub projects: u64,
    pub releases: u64,
    pub files: u64,
    pub journal_entries: u64,
    pub events: u64,
    pub samples: Vec<SyntheticSample>,
}

/// A file's digests, size and blob key (a sampled file's real ones, the others' made up).
#[derive(Debug, Clone)]
pub struct SyntheticBlob {
    pub size: i64,
    pub md5: String,
    pub sha256: String,
    pub blake2_256: String,
    pub blob_key: String,
}

/// splitmix64: fast, seedable, good enough for names and digests that only need to differ.
struct Rng(u64);

impl Rng {
    /// Independent streams: the seed and the stream number are mixed, not added (added
    /// splitmix states of neighbouring streams are the same sequence shifted by one).
    fn new(seed: u64, stream: u64) -> Self {
        Rng(mix(seed ^ mix(stream.wrapping_add(0x632B_E59B_D9B4_E019))))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn hex(&mut self, chars: usize) -> String {
        let mut s = String::with_capacity(chars + 16);
        while s.len() < chars {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(chars);
        s
    }
}

/// The splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const WORDS: &[&str] = &[
    "async", "flask", "django", "py", "data", "cloud", "http", "json", "yaml", "fast", "tiny",
    "open", "auth", "graph", "stream", "queue", "cache", "test", "mock", "lint", "format", "path",
    "time", "geo", "image", "audio", "text", "token", "crypto", "proto", "grpc", "sql", "orm",
    "schema", "config", "log", "metric", "trace", "retry", "pool", "task", "event", "web", "api",
];
const TAILS: &[&str] = &[
    "utils", "tools", "client", "core", "kit", "lib", "helpers", "plugin", "sdk", "cli",
];
const PYTHONS: &[&str] = &[">=3.8", ">=3.9", ">=3.10", ">=3.7", ">=3.11"];

/// The display name of project number `index`: two words, a tail and the index in digits 2-9
/// (no `0`/`1`, which the confusable skeleton folds into letters), so its skeleton is unique.
pub fn synthetic_name(seed: u64, index: u64) -> String {
    let mut r = Rng::new(seed, index);
    let mut digits = String::new();
    let mut n = index;
    loop {
        digits.insert(0, char::from(b'2' + (n % 8) as u8));
        n /= 8;
        if n == 0 {
            break;
        }
    }
    let a = WORDS[r.below(WORDS.len() as u64) as usize];
    let b = TAILS[r.below(TAILS.len() as u64) as usize];
    // Some projects spell their name as people do, not normalised.
    match r.below(4) {
        0 => format!("{}_{b}-{digits}", capitalise(a)),
        1 => format!("{a}.{b}.{digits}"),
        _ => format!("{a}-{b}-{digits}"),
    }
}

fn capitalise(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One bound value of a multi-row INSERT.
enum Val {
    I(i64),
    OptI(Option<i64>),
    S(String),
    OptS(Option<String>),
}

/// The rows of one transaction, column-major by table.
#[derive(Default)]
struct Batch {
    projects: Vec<Val>,
    roles: Vec<Val>,
    releases: Vec<Val>,
    search: Vec<Val>,
    files: Vec<Val>,
    registry: Vec<Val>,
    journal: Vec<Val>,
    events: Vec<Val>,
}

const PROJECT_COLS: &str = "id, name, normalized_name, ultranormalized_name, created_at, created_by, last_serial, total_size";
const ROLE_COLS: &str = "project_id, user_id, role, granted_at";
const RELEASE_COLS: &str = "id, project_id, version, canonical_version, created_at, requires_python, core_metadata, description_html, description_renderer";
const SEARCH_COLS: &str = "release_id, project_id, name, summary, description";
const FILE_COLS: &str = "id, release_id, project_id, filename, packagetype, python_version, size, md5, sha256, blake2_256, blob_key, uploaded_at, uploaded_by, user_agent";
const REGISTRY_COLS: &str = "filename, created_at";
const JOURNAL_COLS: &str =
    "serial, project_id, project_name, version, filename, action, submitted_by, at";
const EVENT_COLS: &str = "seq, at, actor_id, actor_name, action, subject_kind, subject_id, subject_name, ip, user_agent, details, prev_hash, hash, request_id";

/// Where the next rows' ids start (read inside the write transaction).
struct Next {
    project: i64,
    release: i64,
    file: i64,
    serial: i64,
    seq: i64,
    prev_hash: String,
}

impl Db {
    /// How many projects the database holds (any state).
    pub async fn project_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM projects")
            .fetch_one(&self.read)
            .await?)
    }

    /// Write `plan.projects` synthetic projects after those present (see the module
    /// documentation). `sampler` gives each sampled file its real bytes' digests and blob key
    /// (recorded in its row and upload event; the caller writes the bytes); `progress` is told
    /// the number of projects written after each transaction.
    pub async fn generate_synthetic(
        &self,
        plan: &SyntheticPlan,
        sampler: &mut dyn FnMut(&SyntheticSample) -> SyntheticBlob,
        mut progress: impl FnMut(u64),
    ) -> Result<SyntheticReport, StoreError> {
        let user_id = self.synthetic_user(plan.now).await?;
        let mut report = SyntheticReport::default();
        // Evenly spread sampled projects: every `stride`-th one.
        let stride = match plan.sample {
            0 => u64::MAX,
            s => (plan.projects / s.min(plan.projects.max(1))).max(1),
        };
        let mut done = 0;
        while done < plan.projects {
            let n = PROJECTS_PER_TX.min(plan.projects - done);
            let mut tx = self.begin_write().await?;
            if self.dialect == Dialect::Sqlite {
                // Every batch inserts into indexes keyed by names (and, before the made-up
                // digests began with the file's id, by random digests): with SQLite's 2 MiB page
                // cache nearly each of those inserts read its B-tree pages back from the
                // operating system. The setting is the writing connection's, in this one-shot
                // process.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA cache_size = -{GENERATOR_CACHE_KIB}"
                )))
                .execute(&mut *tx)
                .await?;
            }
            lock_tail(&mut tx, self.dialect).await?;
            let mut next = next_ids(&mut tx).await?;
            let mut batch = Batch::default();
            for i in done..done + n {
                let sampled = i % stride == 0 && (report.samples.len() as u64) < plan.sample;
                let who = Who {
                    index: i,
                    user_id,
                    sampled,
                };
                if let Some(s) =
                    project_rows(plan, &who, &mut next, &mut batch, &mut report, sampler)
                {
                    report.samples.push(s);
                }
            }
            write_batch(&mut tx, self.dialect, &batch).await?;
            if self.dialect == Dialect::Postgres {
                for (table, col) in [("projects", "id"), ("releases", "id"), ("files", "id")] {
                    // Fixed table names: no input reaches this text.
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), (SELECT MAX({col}) FROM {table}))"
                    )))
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            done += n;
            report.projects += n;
            progress(done);
        }
        Ok(report)
    }

    /// The id of [`SYNTHETIC_USER`], created when missing.
    async fn synthetic_user(&self, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO users (username, username_lower, created_at) VALUES ($1, $1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(SYNTHETIC_USER)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username_lower = $1")
            .bind(SYNTHETIC_USER)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }
}

async fn next_ids(tx: &mut Transaction<'static, Any>) -> Result<Next, StoreError> {
    let r = sqlx::query(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM projects), (SELECT COALESCE(MAX(id), 0) FROM releases), \
                (SELECT COALESCE(MAX(id), 0) FROM files), (SELECT COALESCE(MAX(serial), 0) FROM journal)",
    )
    .fetch_one(&mut **tx)
    .await?;
    let project = r.try_get::<i64, _>(0)? + 1;
    let release = r.try_get::<i64, _>(1)? + 1;
    let file = r.try_get::<i64, _>(2)? + 1;
    let serial = r.try_get::<i64, _>(3)? + 1;
    let last = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (seq, prev_hash) = match last {
        Some(r) => (r.try_get::<i64, _>(0)? + 1, r.try_get::<String, _>(1)?),
        None => (1, GENESIS_HASH.to_owned()),
    };
    Ok(Next {
        project,
        release,
        file,
        serial,
        seq,
        prev_hash,
    })
}

/// The project being written: its position in this run, its owner, whether it is sampled.
struct Who {
    index: u64,
    user_id: i64,
    sampled: bool,
}

const DAY: i64 = 86_400_000_000;
/// Upload times spread over this long before `plan.now`.
const SPAN: i64 = 3 * 365 * DAY;

/// The rows of one project (and its releases and files) into `b`; its sampled file, if any.
fn project_rows(
    plan: &SyntheticPlan,
    who: &Who,
    next: &mut Next,
    b: &mut Batch,
    report: &mut SyntheticReport,
    sampler: &mut dyn FnMut(&SyntheticSample) -> SyntheticBlob,
) -> Option<SyntheticSample> {
    let pid = next.project;
    next.project += 1;
    let index = u64::try_from(pid).unwrap_or(0);
    let mut r = Rng::new(plan.seed, index ^ 0x5EED);
    let name = synthetic_name(plan.seed, index);
    let normalized = strongroom_protocol::name::normalize(&name);
    let skeleton = strongroom_protocol::name::skeleton(&name);
    let underscored = normalized.replace('-', "_");
    let frac = i64::try_from(who.index * 1_000 / plan.projects.max(1)).unwrap_or(0);
    let created = plan.now - SPAN + (SPAN - 60 * DAY) / 1_000 * frac;
    let k = u64::from(plan.files_per_project.max(1));
    let releases = k.div_ceil(2);
    let rp = PYTHONS[r.below(PYTHONS.len() as u64) as usize].to_owned();
    let summary = format!(
        "{} {} for the scale benchmark",
        WORDS[r.below(WORDS.len() as u64) as usize],
        TAILS[r.below(TAILS.len() as u64) as usize]
    );
    let mut events = Vec::new();
    let base = NewEvent {
        actor_id: Some(who.user_id),
        actor_name: Some(SYNTHETIC_USER.to_owned()),
        user_agent: Some(SYNTHETIC_USER_AGENT.to_owned()),
        subject_kind: "project".into(),
        subject_id: Some(pid),
        subject_name: Some(name.clone()),
        ..NewEvent::default()
    };
    journal(b, next, pid, &name, None, None, "create", created);
    events.push(NewEvent {
        at: created,
        action: "project:create".into(),
        details: serde_json::json!({"role": "Owner", "user": SYNTHETIC_USER}),
        ..base.clone()
    });
    let mut total = 0i64;
    let mut sample = None;
    let mut files_left = k;
    for rel in 0..releases {
        let rid = next.release;
        next.release += 1;
        let at = (created + i64::try_from(rel).unwrap_or(0) * 7 * DAY).min(plan.now);
        let version = format!("{}.{}.{}", rel / 9, rel % 9, 1 + r.below(19));
        let metadata = format!(
            "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\nRequires-Python: {rp}\n"
        );
        b.releases.extend([
            Val::I(rid),
            Val::I(pid),
            Val::S(version.clone()),
            Val::S(version.clone()),
            Val::I(at),
            Val::S(rp.clone()),
            Val::S(metadata),
            Val::S(format!("<p>{summary}</p>")),
            Val::I(plan.description_renderer),
        ]);
        b.search.extend([
            Val::I(rid),
            Val::I(pid),
            Val::S(name.clone()),
            Val::S(summary.clone()),
            Val::S(String::new()),
        ]);
        journal(b, next, pid, &name, Some(&version), None, "new release", at);
        // Two files a release (sdist, then wheel); an odd count leaves the oldest a wheel only.
        let here = if files_left % 2 == 1 { 1 } else { 2 };
        files_left -= here;
        for f in 0..here {
            let wheel = f + 1 == here;
            let (filename, pyver, ptype) = if wheel {
                (
                    format!("{underscored}-{version}-py3-none-any.whl"),
                    "py3",
                    "bdist_wheel",
                )
            } else {
                (format!("{underscored}-{version}.tar.gz"), "source", "sdist")
            };
            let fid = next.file;
            next.file += 1;
            let chosen = (wheel && rel + 1 == releases && who.sampled).then(|| SyntheticSample {
                file_id: fid,
                project_name: name.clone(),
                normalized_name: normalized.clone(),
                version: version.clone(),
                filename: filename.clone(),
                requires_python: rp.clone(),
                summary: summary.clone(),
            });
            let blob = match &chosen {
                Some(c) => sampler(c),
                None => {
                    // Made-up digests only need to differ: each begins with the file's id, so
                    // the unique indexes on them (and on the blob key made from one) grow at
                    // their end. Random ones put every insert on a page of its own, and each
                    // transaction rewrote most of three indexes' pages (at 1M projects, what
                    // the generator spent its time on).
                    let blake2_256 = format!("{fid:016x}{}", r.hex(48));
                    SyntheticBlob {
                        size: i64::try_from(2_000 + r.below(400_000)).unwrap_or(2_000),
                        md5: format!("{fid:016x}{}", r.hex(16)),
                        sha256: format!("{fid:016x}{}", r.hex(48)),
                        blob_key: format!(
                            "{}/{}/{}/{filename}",
                            &blake2_256[0..2],
                            &blake2_256[2..4],
                            &blake2_256[4..]
                        ),
                        blake2_256,
                    }
                }
            };
            let SyntheticBlob {
                size,
                md5,
                sha256,
                blake2_256: blake2,
                blob_key: key,
            } = blob;
            total += size;
            let fat = at + i64::try_from(f).unwrap_or(0) * 1_000_000;
            b.files.extend([
                Val::I(fid),
                Val::I(rid),
                Val::I(pid),
                Val::S(filename.clone()),
                Val::S(ptype.into()),
                Val::S(pyver.into()),
                Val::I(size),
                Val::S(md5),
                Val::S(sha256.clone()),
                Val::S(blake2.clone()),
                Val::S(key),
                Val::I(fat),
                Val::I(who.user_id),
                Val::S(SYNTHETIC_USER_AGENT.into()),
            ]);
            b.registry.extend([Val::S(filename.clone()), Val::I(fat)]);
            let action = crate::publish::file_added_action(pyver, &filename);
            journal(
                b,
                next,
                pid,
                &name,
                Some(&version),
                Some(&filename),
                &action,
                fat,
            );
            events.push(NewEvent {
                at: fat,
                action: "file:upload".into(),
                details: serde_json::json!({
                    "file_id": fid, "filename": filename, "version": version,
                    "sha256": sha256, "blake2_256": blake2, "size": size,
                    "token_scope": null, "token_id": null,
                }),
                ..base.clone()
            });
            report.files += 1;
            if chosen.is_some() {
                sample = chosen;
            }
        }
        report.releases += 1;
    }
    report.journal_entries += 1 + releases + k;
    b.projects.extend([
        Val::I(pid),
        Val::S(name.clone()),
        Val::S(normalized),
        Val::S(skeleton),
        Val::I(created),
        Val::I(who.user_id),
        Val::I(next.serial - 1),
        Val::I(total),
    ]);
    b.roles.extend([
        Val::I(pid),
        Val::I(who.user_id),
        Val::S("Owner".into()),
        Val::I(created),
    ]);
    for e in events {
        let details = e.details.to_string();
        let hash = chain_hash(&next.prev_hash, &canonical_bytes(next.seq, &e, &details));
        b.events.extend([
            Val::I(next.seq),
            Val::I(e.at),
            Val::OptI(e.actor_id),
            Val::OptS(e.actor_name),
            Val::S(e.action),
            Val::S(e.subject_kind),
            Val::OptI(e.subject_id),
            Val::OptS(e.subject_name),
            Val::OptS(None),
            Val::OptS(e.user_agent),
            Val::S(details),
            Val::S(std::mem::replace(&mut next.prev_hash, hash.clone())),
            Val::S(hash),
            Val::OptS(None),
        ]);
        next.seq += 1;
        report.events += 1;
    }
    sample
}

/// One journal entry into `b`, at the next serial.
#[allow(clippy::too_many_arguments)]
fn journal(
    b: &mut Batch,
    next: &mut Next,
    pid: i64,
    name: &str,
    version: Option<&str>,
    filename: Option<&str>,
    action: &str,
    at: i64,
) {
    b.journal.extend([
        Val::I(next.serial),
        Val::I(pid),
        Val::S(name.to_owned()),
        Val::OptS(version.map(str::to_owned)),
        Val::OptS(filename.map(str::to_owned)),
        Val::S(action.to_owned()),
        Val::S(SYNTHETIC_USER.to_owned()),
        Val::I(at),
    ]);
    next.serial += 1;
}

/// Every table of `b`, in foreign-key order.
async fn write_batch(
    tx: &mut Transaction<'static, Any>,
    d: Dialect,
    b: &Batch,
) -> Result<(), StoreError> {
    insert_rows(tx, d, "projects", PROJECT_COLS, &b.projects).await?;
    insert_rows(tx, d, "roles", ROLE_COLS, &b.roles).await?;
    insert_rows(tx, d, "releases", RELEASE_COLS, &b.releases).await?;
    insert_rows(tx, d, "release_search", SEARCH_COLS, &b.search).await?;
    insert_rows(tx, d, "files", FILE_COLS, &b.files).await?;
    insert_rows(tx, d, "filename_registry", REGISTRY_COLS, &b.registry).await?;
    insert_rows(tx, d, "journal", JOURNAL_COLS, &b.journal).await?;
    insert_rows(tx, d, "events", EVENT_COLS, &b.events).await?;
    Ok(())
}

/// `vals` (row-major, as many columns as `cols` names) in multi-row INSERTs of at most
/// [`MAX_PARAMS`] parameters; full chunks share one statement text (prepared once per
/// connection).
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    dialect: Dialect,
    table: &str,
    cols: &str,
    vals: &[Val],
) -> Result<(), StoreError> {
    let ncols = cols.split(',').count();
    let per = (MAX_PARAMS / ncols).max(1);
    for chunk in vals.chunks(per * ncols) {
        let rows = chunk.len() / ncols;
        let mut sql = format!("INSERT INTO {table} ({cols}) VALUES ");
        let mut n = 1;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ",(" });
            for c in 0..ncols {
                if c > 0 {
                    sql.push(',');
                }
                match dialect {
                    Dialect::Sqlite => sql.push('?'),
                    Dialect::Postgres => sql.push_str(&format!("${n}")),
                }
                n += 1;
            }
            sql.push(')');
        }
        // Fixed table and column names and placeholders: no input reaches this text.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in chunk {
            q = match v {
                Val::I(i) => q.bind(*i),
                Val::OptI(i) => q.bind(*i),
                Val::S(s) => q.bind(s.clone()),
                Val::OptS(s) => q.bind(s.clone()),
            };
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
