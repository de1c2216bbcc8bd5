// SPDX-License-Identifier: GPL-2.0
//! `start` and `stop`: a Xen domU booted from an image in the node's cache,
//! timed to a ready marker on its console, and shut down again.
//!
//! ```text
//! CACHE/domains/NAME/image            the digest the domain runs from (it pins the image)
//! CACHE/domains/NAME/vmlinuz          the image's files, rebuilt and checked by `extract`
//! CACHE/domains/NAME/initramfs.cpio   (plus the site's --append-initrd archive, if any)
//! CACHE/domains/NAME/xl.cfg           the caller's xl template + name, kernel, ramdisk
//! ```
//!
//! The record exists from just before `xl create` until `stop` has seen
//! the domain gone, so an image cannot be evicted while a domain could
//! still read its files. Creating the directory is the lock: two `start`s
//! of one name cannot both proceed.

use crate::cache::Cache;
use crate::error::{err, io_at, Result};
use crate::hash::Digest;
use crate::image::extract;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The image files `start` boots: a kernel, and an initramfs if there is one.
pub const KERNEL_FILE: &str = "vmlinuz";
pub const INITRAMFS_FILE: &str = "initramfs.cpio";
/// xl settings that `start` writes itself.
const OWN_KEYS: [&str; 3] = ["name", "kernel", "ramdisk"];
const POLL: Duration = Duration::from_millis(50);
/// How often `start` checks that the domain still exists while it waits.
const ALIVE_CHECK: Duration = Duration::from_secs(1);

/// What `start` is asked to do.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub name: String,
    /// An xl configuration without `name`, `kernel` and `ramdisk`.
    pub template: PathBuf,
    /// A cpio archive (newc, uncompressed or compressed) appended to the
    /// image's initramfs: per-job files without a new image. Not a gzip
    /// archive after a gzip initramfs: libxenguest inflates a gzip ramdisk
    /// itself and sizes its buffer from the last stream.
    pub append_initrd: Option<PathBuf>,
    /// The domain's console log (xenconsoled --log=guest), and the line
    /// start that says the guest is ready; `None`: do not wait.
    pub ready: Option<(PathBuf, String)>,
    pub timeout: Duration,
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq)]
pub struct StartReport {
    pub domid: u32,
    /// `xl create` (domain built and unpaused).
    pub create_seconds: f64,
    /// From before `xl create` until the ready marker (0 if not waited for).
    pub ready_seconds: f64,
}

/// What `stop` did.
#[derive(Debug, Clone, PartialEq)]
pub struct StopReport {
    pub digest: Option<Digest>,
    /// The domain was gone before `stop` (it crashed, or was destroyed).
    pub already_gone: bool,
    /// The guest did not shut down within the timeout and was destroyed.
    pub forced: bool,
    /// From the shutdown request until the domain no longer exists.
    pub seconds: f64,
}

/// Domain names as xl accepts them, restricted to what is also a safe
/// file name.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "bad domain name {name:?}: 1 to 64 of A-Z a-z 0-9 - _ ., not starting with . or -"
        )))
    }
}

/// The caller's xl template followed by the lines `start` owns. A
/// template that sets one of them itself is refused rather than
/// overridden, since which assignment xl honours would be a guess.
pub fn xl_config(template: &str, name: &str, kernel: &Path, ramdisk: Option<&Path>) -> Result<String> {
    for (n, line) in template.lines().enumerate() {
        let key = line.split('=').next().unwrap_or("").trim();
        if line.contains('=') && OWN_KEYS.contains(&key) {
            return Err(err(format!(
                "xl template line {}: {key} is set by xenib-image start; remove it",
                n + 1
            )));
        }
    }
    let mut config = template.to_string();
    if !config.is_empty() && !config.ends_with('\n') {
        config.push('\n');
    }
    config.push_str("# set by xenib-image start\n");
    config.push_str(&format!("name = \"{name}\"\n"));
    config.push_str(&format!("kernel = \"{}\"\n", kernel.display()));
    if let Some(ramdisk) = ramdisk {
        config.push_str(&format!("ramdisk = \"{}\"\n", ramdisk.display()));
    }
    Ok(config)
}

/// Appends the cpio archive `extra` to `initramfs`. The kernel unpacks
/// concatenated archives; each must start 4-byte aligned, and zeros between
/// them are skipped.
pub fn append_initrd(initramfs: &Path, extra: &Path) -> Result<()> {
    let mut out = fs::OpenOptions::new()
        .append(true)
        .open(initramfs)
        .map_err(io_at("cannot open", initramfs))?;
    let len = out.metadata().map_err(io_at("cannot stat", initramfs))?.len();
    let pad = [0u8; 4];
    out.write_all(&pad[..((4 - len % 4) % 4) as usize])
        .map_err(io_at("cannot write", initramfs))?;
    let mut input = fs::File::open(extra).map_err(io_at("cannot open", extra))?;
    std::io::copy(&mut input, &mut out).map_err(io_at("cannot append to", initramfs))?;
    out.sync_all().map_err(io_at("cannot write", initramfs))
}

/// The directory of domain `name`'s record.
pub fn record_dir(cache: &Cache, name: &str) -> PathBuf {
    cache.store.root().join("domains").join(name)
}

/// The digests that running domains were started from, with their names.
pub fn running(cache: &Cache) -> Result<Vec<(String, Digest)>> {
    let dir = cache.store.root().join("domains");
    let mut out = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_at("cannot list", &dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_at("cannot list", &dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A record whose image file is not written yet belongs to a start
        // in progress, which holds no image yet.
        if let Ok(text) = fs::read_to_string(entry.path().join("image")) {
            out.push((name, Digest::parse(text.trim())?));
        }
    }
    out.sort();
    Ok(out)
}

/// The `xl` program (`XENIB_XL` overrides it, for the tests).
fn xl() -> Command {
    Command::new(std::env::var_os("XENIB_XL").unwrap_or_else(|| "xl".into()))
}

/// Runs xl with `args`; its output on failure.
fn run_xl(args: &[&str]) -> Result<String> {
    let out = xl()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run xl: {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(err(format!(
            "xl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The domain's id, or `None` if no domain has that name.
fn domid(name: &str) -> Result<Option<u32>> {
    let out = xl()
        .args(["domid", name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run xl: {e}")))?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| err(format!("xl domid {name}: unexpected output {text:?}")))
}

/// Boots domain `opts.name` from image `digest`, which must be complete in
/// `cache` (`fetch` puts it there).
pub fn start(cache: &Cache, digest: &Digest, opts: &StartOptions) -> Result<StartReport> {
    check_name(&opts.name)?;
    let template = fs::read_to_string(&opts.template).map_err(io_at("cannot read", &opts.template))?;
    let dir = record_dir(cache, &opts.name);
    fs::create_dir_all(dir.parent().unwrap()).map_err(io_at("cannot create", &dir))?;
    if let Err(e) = fs::create_dir(&dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(io_at("cannot create", &dir)(e));
        }
        if domid(&opts.name)?.is_some() {
            return Err(err(format!(
                "domain {} is running (record {}); stop it first",
                opts.name,
                dir.display()
            )));
        }
        // The domain died without a `stop`: its record is stale.
        eprintln!(
            "xenib-image start: replacing the stale record of {}, which no longer runs",
            opts.name
        );
        fs::remove_dir_all(&dir).map_err(io_at("cannot remove", &dir))?;
        fs::create_dir(&dir).map_err(io_at("cannot create", &dir))?;
    }
    let started = start_in(cache, digest, opts, &template, &dir);
    if started.is_err() && domid(&opts.name).ok().flatten().is_none() {
        // Nothing runs from the record: it must not pin the image.
        let _ = fs::remove_dir_all(&dir);
    }
    started
}

fn start_in(cache: &Cache, digest: &Digest, opts: &StartOptions, template: &str, dir: &Path) -> Result<StartReport> {
    // The record pins the image before its files are rebuilt, so that a
    // concurrent gc cannot take chunks from under extract.
    cache.store.write_atomic(&dir.join("image"), digest.hex().as_bytes())?;
    let manifest = extract(&cache.store, digest, dir)?;
    let has = |name: &str| manifest.files.iter().any(|f| f.name == name);
    if !has(KERNEL_FILE) {
        let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        return Err(err(format!(
            "image {digest} has no {KERNEL_FILE} (its files: {})",
            names.join(", ")
        )));
    }
    let ramdisk = dir.join(INITRAMFS_FILE);
    let ramdisk = has(INITRAMFS_FILE).then_some(ramdisk.as_path());
    if let Some(extra) = &opts.append_initrd {
        let initramfs = ramdisk.ok_or_else(|| {
            err(format!("--append-initrd: image {digest} has no {INITRAMFS_FILE}"))
        })?;
        append_initrd(initramfs, extra)?;
    }
    let config = xl_config(template, &opts.name, &dir.join(KERNEL_FILE), ramdisk)?;
    let config_path = dir.join("xl.cfg");
    cache.store.write_atomic(&config_path, config.as_bytes())?;

    // Only what the console says after this point counts.
    let log_offset = opts
        .ready
        .as_ref()
        .and_then(|(log, _)| fs::metadata(log).ok())
        .map_or(0, |m| m.len());
    let t0 = Instant::now();
    run_xl(&["create", &config_path.to_string_lossy()])?;
    let create_seconds = t0.elapsed().as_secs_f64();
    let domid = domid(&opts.name)?
        .ok_or_else(|| err(format!("domain {} is gone right after xl create", opts.name)))?;
    let ready_seconds = match &opts.ready {
        None => 0.0,
        Some((log, marker)) => {
            wait_ready(&opts.name, log, log_offset, marker, t0, opts.timeout)?;
            t0.elapsed().as_secs_f64()
        }
    };
    Ok(StartReport {
        domid,
        create_seconds,
        ready_seconds,
    })
}

/// Waits for a console line starting with `marker` after `offset` in `log`.
fn wait_ready(name: &str, log: &Path, mut offset: u64, marker: &str, t0: Instant, timeout: Duration) -> Result<()> {
    let mut partial = String::new();
    let mut checked = Instant::now();
    loop {
        if let Ok(mut file) = fs::File::open(log) {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            if len < offset {
                offset = 0; // the log was rotated or truncated
            }
            let mut fresh = Vec::new();
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_to_end(&mut fresh))
                .map_err(io_at("cannot read", log))?;
            offset += fresh.len() as u64;
            partial.push_str(&String::from_utf8_lossy(&fresh));
            // Whole lines only; the console ends them with \r\n.
            while let Some(end) = partial.find('\n') {
                if partial[..end].trim_start().starts_with(marker) {
                    return Ok(());
                }
                partial.drain(..=end);
            }
        }
        if t0.elapsed() >= timeout {
            return Err(err(format!(
                "domain {name} printed no {marker:?} within {} s (console: {}); it is left running: \
                 xenib-image stop {name} removes it",
                timeout.as_secs(),
                log.display()
            )));
        }
        if checked.elapsed() >= ALIVE_CHECK {
            checked = Instant::now();
            if domid(name)?.is_none() {
                return Err(err(format!(
                    "domain {name} died before it was ready (console: {})",
                    log.display()
                )));
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Shuts domain `name` down (destroys it if it does not go within
/// `timeout`) and removes its record, which unpins its image.
pub fn stop(cache: &Cache, name: &str, timeout: Duration) -> Result<StopReport> {
    check_name(name)?;
    let dir = record_dir(cache, name);
    if !dir.is_dir() {
        return Err(err(format!(
            "no domain {name} was started from this cache ({})",
            cache.store.root().display()
        )));
    }
    let digest = fs::read_to_string(dir.join("image"))
        .ok()
        .and_then(|t| Digest::parse(t.trim()).ok());
    let mut report = StopReport {
        digest,
        already_gone: false,
        forced: false,
        seconds: 0.0,
    };
    let t0 = Instant::now();
    if domid(name)?.is_none() {
        report.already_gone = true;
    } else {
        // Ask the guest (xenbus control/shutdown); it powers itself off.
        // Without -w: the wait below covers both outcomes.
        run_xl(&["shutdown", name])?;
        while domid(name)?.is_some() {
            if t0.elapsed() >= timeout {
                report.forced = true;
                run_xl(&["destroy", name])?;
                while domid(name)?.is_some() {
                    if t0.elapsed() >= timeout * 2 {
                        return Err(err(format!(
                            "domain {name} still exists after xl destroy; its record stays"
                        )));
                    }
                    std::thread::sleep(POLL);
                }
                break;
            }
            std::thread::sleep(POLL);
        }
        report.seconds = t0.elapsed().as_secs_f64();
    }
    fs::remove_dir_all(&dir).map_err(io_at("cannot remove", &dir))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::scratch;

    #[test]
    fn names() {
        assert!(check_name("domu1").is_ok());
        assert!(check_name("job-42_a.b").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a b", "../x", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_from_template() {
        let kernel = Path::new("/c/domains/d/vmlinuz");
        let ramdisk = Path::new("/c/domains/d/initramfs.cpio");
        let config = xl_config("type = \"pv\"\nmemory = 512", "d", kernel, Some(ramdisk)).unwrap();
        assert_eq!(
            config,
            "type = \"pv\"\nmemory = 512\n# set by xenib-image start\nname = \"d\"\n\
             kernel = \"/c/domains/d/vmlinuz\"\nramdisk = \"/c/domains/d/initramfs.cpio\"\n"
        );
        assert!(!xl_config("", "d", kernel, None).unwrap().contains("ramdisk"));
        let refused = xl_config("memory = 1\n  kernel = \"/boot/x\"\n", "d", kernel, None);
        assert_eq!(
            refused.unwrap_err().0,
            "xl template line 2: kernel is set by xenib-image start; remove it"
        );
        // A key that merely contains "name" is the caller's.
        assert!(xl_config("hostname_x = 1\n", "d", kernel, None).is_ok());
    }

    #[test]
    fn appended_archive_is_aligned() {
        let dir = scratch("append");
        fs::create_dir_all(&dir).unwrap();
        let initramfs = dir.join("initramfs.cpio");
        let extra = dir.join("job.cpio");
        fs::write(&initramfs, b"0707010").unwrap(); // 7 bytes
        fs::write(&extra, b"070701XYZ").unwrap();
        append_initrd(&initramfs, &extra).unwrap();
        assert_eq!(fs::read(&initramfs).unwrap(), b"0707010\0070701XYZ");
        // Already aligned: nothing between.
        fs::write(&initramfs, b"abcd").unwrap();
        append_initrd(&initramfs, &extra).unwrap();
        assert_eq!(fs::read(&initramfs).unwrap(), b"abcd070701XYZ");
        fs::remove_dir_all(&dir).unwrap();
    }
}
