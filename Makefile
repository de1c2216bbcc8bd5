# SPDX-License-Identifier: GPL-2.0
# xenib: VMM-bypass RDMA for Xen guests. See README.md.
#
#   make            build ib_front.ko and ib_back.ko (and the kernel, cached)
#   make check      the whole test suite; ends with "N passed, N failed"
#   make demo       boot the guest and run unmodified RDMA programs
#   make bench      xib0 against native rxe0: bench/results/report.md
#   make bench-images  image distribution methods: bench/results/images/
#   make check-pvh  the Xen-mode tests with PVH domUs, then a PV and a PVH
#                   domU together (not in make check: TCG makes PVH flaky)
#   make check-xen  only the Xen-mode tests (Xen 4.17 + dom0 + 2 domUs in QEMU);
#                   XEN_ARGS: test names and NAME=VALUE settings for the job,
#                   e.g. make check-xen FLAVOUR=debug-xen XEN_ARGS=XENIB_CYCLES=100
#   make kernel     build (or find cached) the Rust-enabled 6.12 kernel
#   make initramfs  build the test guest image
#   make rust-project.json   rust-analyzer project for the modules
#   FLAVOUR=debug   selects the KASAN/lockdep/kmemleak kernel; debug-xen the
#                   same without KASAN (Xen mode: PV kernels cannot run it)

.PHONY: all modules kernel check check-xen check-pvh demo bench initramfs host-test clean
all: modules

modules:
	scripts/build-modules >/dev/null
kernel:
	scripts/build-kernel
initramfs: modules
	scripts/mkinitramfs "$$(scripts/build-kernel)" build/initramfs.cpio.gz
check:
	scripts/check
check-xen:
	scripts/setup-host && scripts/build-userspace-tests >/dev/null && \
		scripts/guest-run --xen --domain dom0 --timeout 7200 /xenib/xen-tests/job $(XEN_ARGS)
check-pvh:
	scripts/setup-host && scripts/build-qemu >/dev/null && \
		scripts/build-userspace-tests >/dev/null && \
		scripts/guest-run --xen --guest-type pvh --domain dom0 --timeout 4800 \
			/xenib/xen-tests/job XENIB_CYCLES=100 $(XEN_ARGS) && \
		scripts/guest-run --xen --guest-type pv,pvh --domain dom0 --timeout 1800 \
			/xenib/xen-tests/job 10-attach.sh 11-pingpong.sh 13-verbs.sh 15-mpi.sh
demo:
	scripts/demo
bench:
	bench/run
.PHONY: bench-images
bench-images:
	scripts/setup-host && bench/images/run && bench/images/compare-guests
host-test:
	cd xen_ring && cargo test
rust-project.json: FORCE
	scripts/gen-rust-project
clean:
	rm -rf build
	find ib_front ib_back \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' \
		-o -name '.*.cmd' -o -name 'bindings_generated.rs' \
		-o -name 'modules.order' \) -delete
	rm -f Module.symvers modules.order
FORCE:
