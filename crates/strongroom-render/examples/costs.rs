//! Measures what each pathological description family costs to render at a few sizes, to find
//! every construct whose cost grows faster than its input (see the crate docs for the results).
//!
//! `cargo run --profile quick -p strongroom-render --example costs -- [family] [n ...]`
//! prints one line per (family, n): input bytes, CPU milliseconds of `render` (this thread's
//! utime+stime), output bytes and whether the output is the escaped fallback.

#[path = "../tests/common/families.rs"]
mod families;

use std::time::Instant;

/// This thread's CPU time (user + system) in milliseconds, from /proc (Linux; 10 ms ticks).
fn thread_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // the fields after the command name, which is in parentheses and may hold spaces
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) * 10)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wanted = args.first().cloned();
    let sizes: Vec<usize> = if args.len() > 1 {
        args[1..].iter().filter_map(|a| a.parse().ok()).collect()
    } else {
        vec![10_000, 50_000, 100_000]
    };
    for f in families::FAMILIES {
        if wanted.as_deref().is_some_and(|w| w != "all" && w != f.name) {
            continue;
        }
        for &n in &sizes {
            let input = (f.make)(n);
            let stage = std::env::var("COSTS_STAGE").unwrap_or_default();
            let pre = if stage == "ammonia" {
                let mut s = String::new();
                let opts = pulldown_cmark::Options::all();
                pulldown_cmark::html::push_html(
                    &mut s,
                    pulldown_cmark::Parser::new_ext(&input, opts),
                );
                s
            } else {
                String::new()
            };
            let cpu0 = thread_cpu_ms().unwrap_or(0);
            let t0 = Instant::now();
            let (out, fallback) = if stage == "ammonia" {
                (ammonia::clean(&pre).to_string(), None)
            } else if stage == "pulldown" {
                // pulldown-cmark alone (no sanitiser), to tell the two apart
                let mut s = String::new();
                let opts = pulldown_cmark::Options::all();
                pulldown_cmark::html::push_html(
                    &mut s,
                    pulldown_cmark::Parser::new_ext(&input, opts),
                );
                (s, None)
            } else {
                let r = strongroom_render::render(&input, Some(f.kind.content_type()));
                (r.html, r.fallback)
            };
            let wall = t0.elapsed().as_millis();
            let cpu = thread_cpu_ms().unwrap_or(0).saturating_sub(cpu0);
            println!(
                "{:<28} n={:<7} in={:<8} cpu_ms={:<7} wall_ms={:<7} out={:<9} fallback={}",
                f.name,
                n,
                input.len(),
                cpu,
                wall,
                out.len(),
                fallback.map_or_else(|| "no".to_owned(), |f| format!("{f:?}"))
            );
        }
    }
}
