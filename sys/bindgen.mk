# SPDX-License-Identifier: GPL-2.0
#
# Bindings for the kernel APIs that 6.12's `kernel::bindings` lacks (RDMA
# core, Xen). Included by each module's Kbuild; generates
# $(obj)/bindings_generated.rs from sys/bindings.h.
#
# bindgen only emits items declared in include/rdma, include/uapi/rdma,
# include/xen and our helper header (--no-recursive-allowlist); every other
# type they mention resolves to `kernel::bindings` through a glob import in
# the module's sys.rs, so `struct device` or `struct page` is the same Rust
# type on both sides and no casts are needed. The flags mirror the kernel's
# own rule in rust/Makefile so layouts agree.

xenib_sys := $(src)/../sys

bindgen_skip_c_flags := -mno-fp-ret-in-387 -mpreferred-stack-boundary=% \
	-mskip-rax-setup -mgeneral-regs-only -mindirect-branch=thunk-extern \
	-mindirect-branch-register -mfunction-return=thunk-extern \
	-mrecord-mcount -mindirect-branch-cs-prefix -mstack-protector-guard% \
	-fconserve-stack -falign-jumps=% -falign-loops=% \
	-femit-struct-debug-baseonly -fno-ipa-cp-clone -fno-ipa-sra \
	-fno-partial-inlining -fno-reorder-blocks -fno-allow-store-data-races \
	-fasan-shadow-offset=% -fzero-call-used-regs=% \
	-fno-stack-clash-protection -fno-inline-functions-called-once \
	-fsanitize=bounds-strict -fstrict-flex-arrays=% \
	-fmin-function-alignment=% --param=% --param asan-%

# Types the rdma/xen headers use that kernel::bindings lacks. We never look
# inside them, so they are opaque (right size and alignment, no fields):
# that keeps them from dragging in their own dependencies.
xenib_opaque_types := dim irq_poll rdma_cgroup rdmacg_device netdevice_tracker \
	possible_net_t iphdr ifla_vf_guid ifla_vf_info ifla_vf_stats msi_desc \
	ipi_vector pvclock_vcpu_time_info pvclock_wall_clock pci_msi_desc \
	msi_desc_data

quiet_cmd_xenib_bindgen = BINDGEN $@
      cmd_xenib_bindgen = \
	$(BINDGEN) $< $(shell grep -Ev '^\#|^$$' $(srctree)/rust/bindgen_parameters) \
		--rust-target 1.68 --use-core --with-derive-default \
		--ctypes-prefix kernel::ffi --no-layout-tests --no-debug '.*' \
		--enable-function-attribute-detection --no-recursive-allowlist \
		--allowlist-file '.*/include/rdma/.*' \
		--allowlist-file '.*/include/uapi/rdma/.*' \
		--allowlist-file '.*/include/xen/.*' \
		--allowlist-file '.*/sys/xenib_.*\.h' \
		--allowlist-file '.*/asm/xen/.*' \
		$(addprefix --allowlist-type ,$(xenib_opaque_types)) \
		$(addprefix --opaque-type ,$(xenib_opaque_types)) \
		-o $@ -- $(filter-out $(bindgen_skip_c_flags),$(c_flags)) \
		-I$(xenib_sys) -fno-builtin -D__BINDGEN__ -DMODULE

$(obj)/bindings_generated.rs: $(xenib_sys)/bindings.h $(xenib_sys)/xenib_helpers.h \
		$(xenib_sys)/xenib_loopback.h \
		$(xenib_sys)/bindgen.mk FORCE
	$(call if_changed_dep,xenib_bindgen)
targets += bindings_generated.rs
ccflags-y += -I$(xenib_sys)
