// SPDX-License-Identifier: GPL-2.0
//! The `xenib-image` command line. See `usage()` and Documentation/images.rst.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use xenib_image::cache::Cache;
use xenib_image::domain::{self, StartOptions};
use xenib_image::error::{err, Result};
use xenib_image::fetch::{fetch, DEFAULT_WINDOW};
use xenib_image::image::{build, extract};
use xenib_image::store::Store;
use xenib_image::Digest;

const DEFAULT_CACHE: &str = "/var/cache/xenib/images";
const DEFAULT_SEGMENT: usize = 256 << 10;

fn usage() -> &'static str {
    "usage: xenib-image [--cache DIR] COMMAND ...
  build FILE... -o STORE   chunk FILEs into image store STORE; prints the digest
  fetch DIGEST --from STORAGE [--window BYTES] [--segment BYTES]
        [--bcast pipeline|binomial-whole|default]
                           put image DIGEST into the cache of every rank's node
                           (one rank per node, under srun --mpi=pmix or mpirun);
                           STORAGE is a store directory or http://HOST:PORT/PATH
                           (outside srun/mpirun: this node alone)
  extract DIGEST DIR       rebuild the image's files from the cache into DIR
  start DIGEST --name NAME --config XL_TEMPLATE [--append-initrd CPIO]
        [--console-log FILE] [--ready TEXT | --no-wait] [--timeout SECONDS]
                           boot Xen domain NAME from the cached image (files
                           vmlinuz and initramfs.cpio); time it until its
                           console (default /var/log/xen/console/guest-NAME.log)
                           prints a line starting with TEXT (default XENIB-READY)
  stop NAME [--timeout SECONDS]
                           shut domain NAME down (destroyed after the timeout,
                           default 120) and release its image
  status                   images, the domains running from them, and chunks
  gc --budget BYTES        evict least recently used chunks over BYTES, sparing
                           images pinned or running domains
  pin DIGEST | unpin DIGEST
The cache is --cache, else $XENIB_IMAGE_CACHE, else /var/cache/xenib/images.
BYTES may end in K, M or G (powers of 1024)."
}

/// The arguments after the command, with named options taken out.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(args: Vec<String>, valued: &[&str]) -> Result<Args> {
        Args::parse_with_flags(args, valued, &[])
    }

    /// `valued` options take a value; `flags` do not.
    fn parse_with_flags(args: Vec<String>, valued: &[&str], flags: &[&str]) -> Result<Args> {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut set = Vec::new();
        let mut iter = args.into_iter();
        while let Some(arg) = iter.next() {
            if flags.contains(&arg.as_str()) {
                set.push(arg);
            } else if valued.contains(&arg.as_str()) {
                let value = iter
                    .next()
                    .ok_or_else(|| err(format!("{arg} needs a value")))?;
                options.push((arg, value));
            } else if arg.starts_with("--") || (arg.starts_with('-') && arg.len() > 1) {
                return Err(err(format!("unknown option {arg}")));
            } else {
                positional.push(arg);
            }
        }
        Ok(Args {
            positional,
            options,
            flags: set,
        })
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn size(&self, name: &str, default: Option<u64>) -> Result<u64> {
        match self.option(name) {
            Some(text) => parse_size(text),
            None => default.ok_or_else(|| err(format!("{name} BYTES is required"))),
        }
    }

    /// Exactly `n` positional arguments.
    fn exactly(&self, n: usize, what: &str) -> Result<&[String]> {
        if self.positional.len() != n {
            return Err(err(format!("expected {what}")));
        }
        Ok(&self.positional)
    }
}

fn parse_size(text: &str) -> Result<u64> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(err(format!("bad size {text:?}"))),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| err(format!("bad size {text:?}")))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| err(format!("size too large: {text:?}")))
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut cache_dir = std::env::var_os("XENIB_IMAGE_CACHE").map(PathBuf::from);
    if args.first().map(String::as_str) == Some("--cache") && args.len() >= 2 {
        cache_dir = Some(PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let cache_dir = cache_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
    if args.is_empty() || args[0] == "--help" || args[0] == "-h" {
        println!("{}", usage());
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let command = args.remove(0);
    let outcome = match command.as_str() {
        "fetch" => return run_fetch(args, &cache_dir),
        "build" => cmd_build(args),
        "extract" => cmd_extract(args, &cache_dir),
        "start" => cmd_start(args, &cache_dir),
        "stop" => cmd_stop(args, &cache_dir),
        "status" => cmd_status(args, &cache_dir),
        "gc" => cmd_gc(args, &cache_dir),
        "pin" | "unpin" => cmd_pin(&command, args, &cache_dir),
        _ => Err(err(format!("unknown command {command:?}\n{}", usage()))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenib-image {command}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_build(args: Vec<String>) -> Result<()> {
    let args = Args::parse(args, &["-o"])?;
    let out = args
        .option("-o")
        .ok_or_else(|| err("build needs -o STORE"))?;
    let files: Vec<PathBuf> = args.positional.iter().map(PathBuf::from).collect();
    let report = build(&files, &Store::create(Path::new(out))?)?;
    println!(
        "xenib-image build: digest={} image_bytes={} chunks={} unique_chunks={} stored_bytes={} new_chunks={}",
        report.digest, report.image_bytes, report.chunks, report.unique_chunks, report.stored_bytes, report.new_chunks
    );
    Ok(())
}

fn cmd_extract(args: Vec<String>, cache_dir: &Path) -> Result<()> {
    let args = Args::parse(args, &[])?;
    let pos = args.exactly(2, "DIGEST DIR")?;
    let digest = Digest::parse(&pos[0])?;
    let manifest = extract(&Cache::open(cache_dir)?.store, &digest, Path::new(&pos[1]))?;
    for file in &manifest.files {
        println!(
            "{}  {}",
            file.blake3,
            Path::new(&pos[1]).join(&file.name).display()
        );
    }
    Ok(())
}

fn cmd_status(args: Vec<String>, cache_dir: &Path) -> Result<()> {
    Args::parse(args, &[])?.exactly(0, "no arguments")?;
    let status = Cache::open(cache_dir)?.status()?;
    for image in &status.images {
        println!(
            "image {} bytes={} chunks={}/{} {}{}",
            image.digest,
            image.image_bytes,
            image.chunks_present,
            image.chunks,
            if image.chunks_present == image.chunks {
                "complete"
            } else {
                "incomplete"
            },
            if image.pinned { " pinned" } else { "" }
        );
        for name in &image.used_by {
            println!("  domain {name}");
        }
    }
    println!(
        "cache {}: chunks={} stored_bytes={}",
        cache_dir.display(),
        status.chunks,
        status.stored_bytes
    );
    Ok(())
}

fn cmd_start(args: Vec<String>, cache_dir: &Path) -> Result<()> {
    let args = Args::parse_with_flags(
        args,
        &["--name", "--config", "--append-initrd", "--console-log", "--ready", "--timeout"],
        &["--no-wait"],
    )?;
    let digest = Digest::parse(&args.exactly(1, "DIGEST")?[0])?;
    let no_wait = args.flag("--no-wait");
    let name = args.option("--name").ok_or_else(|| err("start needs --name NAME"))?;
    let template = args
        .option("--config")
        .ok_or_else(|| err("start needs --config XL_TEMPLATE"))?;
    let log = args
        .option("--console-log")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/var/log/xen/console/guest-{name}.log")));
    let ready = args.option("--ready").unwrap_or("XENIB-READY");
    let opts = StartOptions {
        name: name.to_string(),
        template: PathBuf::from(template),
        append_initrd: args.option("--append-initrd").map(PathBuf::from),
        ready: (!no_wait).then(|| (log, ready.to_string())),
        timeout: seconds(&args, 300)?,
    };
    let report = domain::start(&Cache::open(cache_dir)?, &digest, &opts)?;
    println!(
        "xenib-image start: name={name} domid={} digest={digest} create_seconds={:.3} ready_seconds={:.3}",
        report.domid, report.create_seconds, report.ready_seconds
    );
    Ok(())
}

fn cmd_stop(args: Vec<String>, cache_dir: &Path) -> Result<()> {
    let args = Args::parse(args, &["--timeout"])?;
    let name = &args.exactly(1, "NAME")?[0];
    let report = domain::stop(&Cache::open(cache_dir)?, name, seconds(&args, 120)?)?;
    println!(
        "xenib-image stop: name={name} digest={} already_gone={} forced={} seconds={:.3}",
        report.digest.map_or("unknown".to_string(), |d| d.to_string()),
        u8::from(report.already_gone),
        u8::from(report.forced),
        report.seconds
    );
    Ok(())
}

/// `--timeout SECONDS`.
fn seconds(args: &Args, default: u64) -> Result<Duration> {
    match args.option("--timeout") {
        None => Ok(Duration::from_secs(default)),
        Some(text) => text
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| err(format!("bad --timeout {text:?}: whole seconds"))),
    }
}

fn cmd_gc(args: Vec<String>, cache_dir: &Path) -> Result<()> {
    let args = Args::parse(args, &["--budget"])?;
    args.exactly(0, "only --budget BYTES")?;
    let report = Cache::open(cache_dir)?.gc(args.size("--budget", None)?)?;
    println!(
        "xenib-image gc: removed_chunks={} removed_bytes={} removed_images={} kept_bytes={} pinned_bytes={}",
        report.removed_chunks, report.removed_bytes, report.removed_images, report.kept_bytes, report.pinned_bytes
    );
    Ok(())
}

fn cmd_pin(command: &str, args: Vec<String>, cache_dir: &Path) -> Result<()> {
    let args = Args::parse(args, &[])?;
    let digest = Digest::parse(&args.exactly(1, "DIGEST")?[0])?;
    let cache = Cache::open(cache_dir)?;
    if command == "pin" {
        cache.pin(&digest)
    } else {
        cache.unpin(&digest)
    }
}

/// `fetch` runs under MPI: every failure after MPI starts aborts the whole
/// job step, so no rank is left waiting in a collective.
fn run_fetch(args: Vec<String>, cache_dir: &Path) -> ExitCode {
    let parsed =
        Args::parse(args, &["--from", "--window", "--segment", "--bcast"]).and_then(|args| {
            let digest = Digest::parse(&args.exactly(1, "DIGEST")?[0])?;
            let window = usize::try_from(args.size("--window", Some(DEFAULT_WINDOW as u64))?)
                .map_err(|_| err("--window too large"))?;
            let segment = args.size("--segment", Some(DEFAULT_SEGMENT as u64))? as usize;
            let bcast = args.option("--bcast").unwrap_or("pipeline").to_string();
            Ok((
                args.option("--from").map(str::to_string),
                digest,
                window,
                segment,
                bcast,
            ))
        });
    let (from, digest, window, segment, bcast) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("xenib-image fetch: {e}");
            return ExitCode::FAILURE;
        }
    };
    match launch_fetch(from.as_deref(), &digest, window, segment, &bcast, cache_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenib-image fetch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Whether an MPI launcher (mpirun, or srun with PMIx/PMI) started this
/// process; otherwise `fetch` serves this node alone, without MPI.
#[cfg(feature = "mpi")]
fn under_mpi_launcher() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

#[cfg(feature = "mpi")]
fn launch_fetch(
    from: Option<&str>,
    digest: &Digest,
    window: usize,
    segment: usize,
    bcast: &str,
    cache_dir: &Path,
) -> Result<()> {
    use mpi::traits::Communicator;
    use xenib_image::collective::Collective;
    use xenib_image::mpi_world::{choose_broadcast, Broadcast, MpiWorld};
    let (broadcast, window) = match bcast {
        "pipeline" => (Broadcast::Pipeline { segment }, window),
        // The paper's tree sends the whole image at once.
        "binomial-whole" => (Broadcast::BinomialWhole, usize::MAX),
        "default" => (Broadcast::Default, window),
        other => return Err(err(format!("unknown --bcast {other:?}"))),
    };
    if !under_mpi_launcher() {
        return fetch_alone(from, digest, window, cache_dir);
    }
    choose_broadcast(broadcast);
    let world = MpiWorld::init().ok_or_else(|| err("MPI was already initialised"))?;
    let outcome =
        Cache::open(cache_dir).and_then(|cache| fetch(&world, &cache, from, digest, window));
    match outcome {
        Ok(report) => {
            println!("{}", report.line(digest));
            Ok(())
        }
        Err(e) if world.size() > 1 => {
            eprintln!("xenib-image fetch: {e}");
            mpi::topology::SimpleCommunicator::world().abort(1)
        }
        Err(e) => Err(e),
    }
}

#[cfg(not(feature = "mpi"))]
fn launch_fetch(
    from: Option<&str>,
    digest: &Digest,
    window: usize,
    _segment: usize,
    _bcast: &str,
    cache_dir: &Path,
) -> Result<()> {
    fetch_alone(from, digest, window, cache_dir)
}

/// `fetch` as a group of one: this node's cache from storage.
fn fetch_alone(from: Option<&str>, digest: &Digest, window: usize, cache_dir: &Path) -> Result<()> {
    let cache = Cache::open(cache_dir)?;
    let report = fetch(
        &xenib_image::collective::Single,
        &cache,
        from,
        digest,
        window,
    )?;
    println!("{}", report.line(digest));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("256K"), Ok(256 << 10));
        assert_eq!(parse_size("30m"), Ok(30 << 20));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("K").is_err());
    }
}
