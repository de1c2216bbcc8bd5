// SPDX-License-Identifier: GPL-2.0
//! `start`/`stop` bookkeeping on the host, with a stand-in for `xl` (a
//! shell script that keeps "domains" as files): the record pins the image
//! against gc, the site archive is appended, the ready marker is waited for
//! and failures leave nothing pinned. Booting real domUs from the cache is
//! tested in the Xen harness (userspace-tests/xen/22-image-domains.sh).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use xenib_image::cache::Cache;
use xenib_image::domain::{self, StartOptions};
use xenib_image::image::build;
use xenib_image::store::Store;

const FAKE_XL: &str = r#"#!/bin/sh
# xl for the tests: domain NAME exists while $DIR/NAME.domid does.
# Modes ($DIR/mode): ready (default), silent (no marker), vanish (dies at once).
DIR=$(dirname "$0")
mode=$(cat "$DIR/mode" 2>/dev/null || echo ready)
case $1 in
create)
	name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$2")
	cp "$2" "$DIR/$name.cfg"
	[ "$mode" = vanish ] && exit 0
	echo 7 >"$DIR/$name.domid"
	[ "$mode" = ready ] && printf 'booting\r\nXENIB-READY %s\r\n' "$name" >>"$DIR/console-$name.log"
	exit 0 ;;
domid) [ -f "$DIR/$2.domid" ] && exec cat "$DIR/$2.domid"; echo "no domain $2" >&2; exit 1 ;;
shutdown|destroy) echo "$1" >>"$DIR/$2.calls"; rm -f "$DIR/$2.domid" ;;
*) exit 2 ;;
esac
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xenib-domains-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn options(xl_dir: &Path, name: &str, template: &Path) -> StartOptions {
    StartOptions {
        name: name.to_string(),
        template: template.to_path_buf(),
        append_initrd: None,
        ready: Some((xl_dir.join(format!("console-{name}.log")), "XENIB-READY".to_string())),
        timeout: Duration::from_secs(10),
    }
}

#[test]
fn start_pins_and_stop_releases() {
    let dir = scratch("lifecycle");
    let xl_dir = dir.join("xl");
    fs::create_dir_all(&xl_dir).unwrap();
    let xl = xl_dir.join("xl");
    fs::write(&xl, FAKE_XL).unwrap();
    std::process::Command::new("chmod").arg("+x").arg(&xl).status().unwrap();
    std::env::set_var("XENIB_XL", &xl);

    // An image with a kernel and an initramfs, in a node's cache.
    let files = dir.join("files");
    fs::create_dir_all(&files).unwrap();
    fs::write(files.join("vmlinuz"), vec![0x4b; 100_000]).unwrap();
    fs::write(files.join("initramfs.cpio"), b"070701 base archive").unwrap(); // 19 bytes
    let cache = Cache::open(&dir.join("cache")).unwrap();
    let image = build(
        &[files.join("vmlinuz"), files.join("initramfs.cpio")],
        &Store::create(cache.store.root()).unwrap(),
    )
    .unwrap();
    let template = dir.join("domu.cfg");
    fs::write(&template, "type = \"pv\"\nmemory = 256\n").unwrap();
    let job = dir.join("job.cpio");
    fs::write(&job, b"070701 job").unwrap();

    let mut opts = options(&xl_dir, "d1", &template);
    opts.append_initrd = Some(job.clone());
    let report = domain::start(&cache, &image.digest, &opts).unwrap();
    assert_eq!(report.domid, 7);
    assert!(report.ready_seconds >= report.create_seconds);
    let record = domain::record_dir(&cache, "d1");
    assert_eq!(
        fs::read(record.join("initramfs.cpio")).unwrap(),
        b"070701 base archive\0070701 job"
    );
    assert_eq!(fs::read(record.join("vmlinuz")).unwrap(), vec![0x4b; 100_000]);
    let config = fs::read_to_string(xl_dir.join("d1.cfg")).unwrap();
    assert!(config.starts_with("type = \"pv\"\nmemory = 256\n"));
    assert!(config.contains(&format!("kernel = \"{}\"", record.join("vmlinuz").display())));
    assert_eq!(
        domain::running(&cache).unwrap(),
        vec![("d1".to_string(), image.digest)]
    );

    // The running domain's image survives gc with no budget at all.
    let gc = cache.gc(0).unwrap();
    assert_eq!((gc.removed_chunks, gc.kept_bytes), (0, image.stored_bytes));
    let status = cache.status().unwrap();
    assert_eq!(status.images[0].used_by, vec!["d1".to_string()]);
    assert!(!status.images[0].pinned);

    // One domain per name.
    let again = domain::start(&cache, &image.digest, &options(&xl_dir, "d1", &template));
    assert!(again.unwrap_err().0.contains("domain d1 is running"));

    // stop: an orderly shutdown, the record goes, the image is free.
    let stopped = domain::stop(&cache, "d1", Duration::from_secs(10)).unwrap();
    assert_eq!(stopped.digest, Some(image.digest));
    assert!(!stopped.already_gone && !stopped.forced);
    assert_eq!(fs::read_to_string(xl_dir.join("d1.calls")).unwrap(), "shutdown\n");
    assert!(!record.exists());
    assert!(domain::running(&cache).unwrap().is_empty());
    assert!(domain::stop(&cache, "d1", Duration::from_secs(1))
        .unwrap_err()
        .0
        .contains("no domain d1 was started"));

    // A domain that never prints the marker: start fails and says the
    // domain is left running; its record stays until stop.
    fs::write(xl_dir.join("mode"), "silent").unwrap();
    let mut opts = options(&xl_dir, "d2", &template);
    opts.timeout = Duration::from_secs(1);
    let e = domain::start(&cache, &image.digest, &opts).unwrap_err();
    assert!(e.0.contains("printed no \"XENIB-READY\" within 1 s"), "{e}");
    assert_eq!(domain::running(&cache).unwrap().len(), 1);
    domain::stop(&cache, "d2", Duration::from_secs(10)).unwrap();

    // A domain that is gone at once: nothing stays pinned.
    fs::write(xl_dir.join("mode"), "vanish").unwrap();
    let e = domain::start(&cache, &image.digest, &options(&xl_dir, "d3", &template)).unwrap_err();
    assert!(e.0.contains("gone right after xl create"), "{e}");
    assert!(domain::running(&cache).unwrap().is_empty());

    // A domain that died without stop leaves a stale record, which the
    // next start of that name replaces; stop of a vanished one says so.
    fs::write(xl_dir.join("mode"), "ready").unwrap();
    domain::start(&cache, &image.digest, &options(&xl_dir, "d4", &template)).unwrap();
    fs::remove_file(xl_dir.join("d4.domid")).unwrap();
    domain::start(&cache, &image.digest, &options(&xl_dir, "d4", &template)).unwrap();
    fs::remove_file(xl_dir.join("d4.domid")).unwrap();
    let stopped = domain::stop(&cache, "d4", Duration::from_secs(1)).unwrap();
    assert!(stopped.already_gone);

    // Refused before anything runs: a template that sets the kernel, an
    // image that is not in the cache, a bad name.
    fs::write(&template, "kernel = \"/boot/other\"\n").unwrap();
    let e = domain::start(&cache, &image.digest, &options(&xl_dir, "d5", &template)).unwrap_err();
    assert!(e.0.contains("kernel is set by xenib-image start"), "{e}");
    assert!(!domain::record_dir(&cache, "d5").exists());
    fs::write(&template, "type = \"pv\"\n").unwrap();
    let absent = xenib_image::Digest::of(b"no such image");
    assert!(domain::start(&cache, &absent, &options(&xl_dir, "d5", &template)).is_err());
    assert!(domain::running(&cache).unwrap().is_empty());
    assert!(domain::start(&cache, &image.digest, &options(&xl_dir, "../x", &template)).is_err());
    assert!(!xl_dir.join("d5.cfg").exists());
    fs::remove_dir_all(&dir).unwrap();
}
