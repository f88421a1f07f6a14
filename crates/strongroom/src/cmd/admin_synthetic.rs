//! `strongroom admin generate-synthetic` (hidden): synthetic projects for scale benchmarks
//! (`core::synthetic`), with the time it took on standard output.

use strongroom_core::Services;
use strongroom_core::synthetic::SyntheticRequest;

/// The options of `admin generate-synthetic`.
#[derive(clap::Args, Debug)]
pub(crate) struct SyntheticArgs {
    /// How many projects to add.
    #[arg(long)]
    projects: u64,
    /// Files per project (a wheel and an sdist per release).
    #[arg(long, default_value_t = 10)]
    files_per_project: u32,
    /// How many files get real bytes (the newest wheel of evenly spread projects).
    #[arg(long, default_value_t = 100)]
    blobs_sample: u64,
    /// The seed of names, versions and digests.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Add to a database that already has projects.
    #[arg(long)]
    append: bool,
}

pub(crate) async fn run(s: &Services, a: &SyntheticArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let req = SyntheticRequest {
        projects: a.projects,
        files_per_project: a.files_per_project,
        sample: a.blobs_sample,
        seed: a.seed,
        append: a.append,
    };
    let mut last_said = std::time::Instant::now();
    let report = s
        .generate_synthetic(&req, |done| {
            if last_said.elapsed().as_secs() >= 10 {
                last_said = std::time::Instant::now();
                eprintln!(
                    "{done} of {} projects ({:.0} s)",
                    a.projects,
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .await?;
    println!(
        "generated {} projects, {} releases, {} files, {} journal entries, {} events in {:.1} s",
        report.projects,
        report.releases,
        report.files,
        report.journal_entries,
        report.events,
        started.elapsed().as_secs_f64()
    );
    for x in &report.samples {
        println!("sample {} {} {}", x.normalized_name, x.version, x.filename);
    }
    Ok(())
}
