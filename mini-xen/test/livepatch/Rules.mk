# SPDX-License-Identifier: GPL-2.0
#
# Test payloads, built by "make tests" (included from the top Makefile;
# see README.md here).  Objects go to $(BUILD)/test/livepatch, payloads
# to $(LIVEPATCH_OUT).  Every payload is linked with "ld -r --build-id";
# its .livepatch.xen_depends (and, for payloads stacking on the
# hypervisor, .livepatch.depends) is the .note.gnu.build-id of the
# hypervisor in $(TARGET), so the payloads only load into that build.

LIVEPATCH_OUT ?= $(abspath $(SRCDIR)/../payloads/build/test)

# Every payload is signed (livepatch-sign, built by "cargo build --release"
# at the top) with the development key unless told otherwise.
LIVEPATCH_SIGN ?= $(abspath $(SRCDIR)/../target/release/livepatch-sign)
LIVEPATCH_SIGNING_KEY ?= $(SRCDIR)/keys/livepatch-dev.key

LPT := test/livepatch
LPT_BUILD := $(BUILD)/test/livepatch
LPT_SHDR := $(BUILD)/tools/lpt-shdr

# -fpic with hidden visibility (payload.h): RIP-relative code, see there.
# Hook arrays keep the order of their definitions.
LPT_CFLAGS := $(filter-out -fno-pic -fno-pie,$(CFLAGS)) -fpic \
              -fno-toplevel-reorder -I$(LPT_BUILD) -include $(LPT)/payload.h
# Absolute addressing (R_X86_64_32): for xen_bad_reloc_type only.
LPT_NOPIC_CFLAGS := $(filter-out -fpic,$(CFLAGS)) -fno-pic -fno-pie -I$(LPT_BUILD)
LPT_AFLAGS := $(AFLAGS) -I$(LPT_BUILD)

LPT_GOOD := xen_hello_world xen_bye_world xen_replace_world xen_nop \
            xen_expectations xen_expectations_fail xen_hooks xen_hooks_veto \
            xen_callpath_same xen_callpath_stack xen_callpath_replace \
            xen_callpath_nop \
            xen_paging_wait xen_paging_link xen_paging_tail xen_paging_again \
            xen_nmi_mce
LPT_BAD := xen_bad_no_xen_depends xen_bad_wrong_depends xen_bad_reloc_type \
           xen_bad_reloc_sym0 xen_bad_short_func xen_bad_unpatchable \
           xen_bad_window_now \
           xen_bad_wx_section \
           xen_bad_oversize xen_bad_dup_func xen_bad_func_offset \
           xen_bad_new_addr xen_bad_self_jump xen_bad_rela_info \
           xen_bad_rela_type
LPT_PAYLOADS := $(patsubst %,$(LIVEPATCH_OUT)/%.livepatch,$(LPT_GOOD) $(LPT_BAD))

# .livepatch.xen_depends and .livepatch.depends on the hypervisor.
LPT_XEN_NOTES := $(LPT_BUILD)/xen_note.o $(LPT_BUILD)/xen_dep_note.o

.PHONY: tests
tests: $(LPT_PAYLOADS)

# Facts about the hypervisor build that payloads are written against.
$(LPT_BUILD)/config.h: $(TARGET) $(TARGET).bin $(LPT)/Rules.mk
	@mkdir -p $(dir $@)
	$(call quiet,GEN     test/livepatch/config.h)
	$(Q)set -e -o pipefail; \
	syms=$$($(NM) -S --defined-only $(TARGET)); \
	get() { awk -v n="$$1" -v f="$$2" '$$4 == n { print "0x" $$f; exit }' <<< "$$syms"; }; \
	base=$$(awk '$$NF == "_start" { print "0x" $$1; exit }' <<< "$$syms"); \
	extra_sz=$$(get xen_extra_version 2); \
	tick_sz=$$(get nmi_watchdog_tick 2); bank_sz=$$(get mcheck_log_bank 2); \
	minor=$$(get xen_minor_version 1); minor_sz=$$(get xen_minor_version 2); \
	leaf_sz=$$(get callpath_leaf 2); \
	paging_sz=$$(get mem_paging_wait 2); \
	test -n "$$base" -a -n "$$extra_sz" -a -n "$$minor" -a -n "$$minor_sz" \
	     -a -n "$$paging_sz" -a -n "$$leaf_sz" -a -n "$$tick_sz" -a -n "$$bank_sz"; \
	n=$$((minor_sz - 1)); \
	bytes=$$(od -An -tx1 -v -j $$((minor - base)) -N $$n $(TARGET).bin | \
	         sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1, /g'); \
	{ echo '/* Generated from $(notdir $(TARGET)) by Rules.mk: do not edit. */'; \
	  echo "#define XEN_EXTRA_VERSION_SZ $$extra_sz"; \
	  echo "#define MEM_PAGING_WAIT_SZ $$paging_sz"; \
	  echo "#define NMI_WATCHDOG_TICK_SZ $$tick_sz"; \
	  echo "#define MCHECK_LOG_BANK_SZ $$bank_sz"; \
	  echo "#define MINOR_VERSION_ADDR $$minor"; \
	  echo "#define MINOR_VERSION_SZ $$minor_sz"; \
	  echo "#define MINOR_VERSION_EXPECT_LEN $$n"; \
	  echo "#define MINOR_VERSION_EXPECT $$bytes"; \
	  echo "#define CALLPATH_LEAF_SZ $$leaf_sz"; } > $@.tmp
	$(Q)mv $@.tmp $@

$(LPT_BUILD)/xen_bad_reloc_type.o: $(LPT)/xen_bad_reloc_type.c $(LPT_BUILD)/config.h
	$(call quiet,CC      $<)
	$(Q)$(CC) $(LPT_NOPIC_CFLAGS) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(LPT_BUILD)/%.o: $(LPT)/%.c $(LPT_BUILD)/config.h
	$(call quiet,CC      $(LPT)/$*.c)
	$(Q)$(CC) $(LPT_CFLAGS) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@

$(LPT_BUILD)/%.o: $(LPT)/%.S $(LPT_BUILD)/config.h
	$(call quiet,AS      $(LPT)/$*.S)
	$(Q)$(CC) $(LPT_AFLAGS) -MMD -MP -MF $(@:.o=.d) -MT $@ -c $< -o $@

# Sizes of the functions of a *_func.o, as SZ_<name>.
$(LPT_BUILD)/%_func.h: $(LPT_BUILD)/%_func.o
	$(call quiet,GEN     $(notdir $@))
	$(Q)set -o pipefail; $(NM) -S --defined-only $< | \
	    awk '$$3 ~ /^[Tt]$$/ { print "#define SZ_" $$4 " 0x" $$2 }' > $@.tmp
	$(Q)mv $@.tmp $@

$(LPT_BUILD)/xen_hello_world.o: $(LPT_BUILD)/xen_hello_world_func.h
$(LPT_BUILD)/xen_bye_world.o: $(LPT_BUILD)/xen_bye_world_func.h
$(LPT_BUILD)/xen_replace_world.o: $(LPT_BUILD)/xen_replace_world_func.h
$(LPT_BUILD)/xen_hooks.o: $(LPT_BUILD)/xen_hooks_func.h
$(LPT_BUILD)/xen_callpath_same.o: $(LPT_BUILD)/xen_callpath_same_func.h
$(LPT_BUILD)/xen_callpath_stack.o: $(LPT_BUILD)/xen_callpath_stack_func.h
$(LPT_BUILD)/xen_callpath_replace.o: $(LPT_BUILD)/xen_callpath_replace_func.h
$(LPT_BUILD)/xen_paging_wait.o: $(LPT_BUILD)/xen_paging_wait_func.h
$(LPT_BUILD)/xen_paging_link.o: $(LPT_BUILD)/xen_paging_link_func.h
$(LPT_BUILD)/xen_paging_tail.o: $(LPT_BUILD)/xen_paging_tail_func.h
$(LPT_BUILD)/xen_paging_again.o: $(LPT_BUILD)/xen_paging_again_func.h
$(LPT_BUILD)/xen_nmi_mce.o: $(LPT_BUILD)/xen_nmi_mce_func.h

# A GNU build-id note ($(1): raw bytes) as section $(2) of an object.
define lpt_note
	$(Q)$(OBJCOPY) -I binary -O elf64-x86-64 -B i386:x86-64 \
	    --rename-section .data=$(2),alloc,load,readonly,data,contents \
	    --set-section-alignment .data=4 -S $(1) $@
endef

$(LPT_BUILD)/xen_note.bin: $(TARGET)
	@mkdir -p $(dir $@)
	$(Q)$(OBJCOPY) -O binary --only-section=.note.gnu.build-id $< $@

$(LPT_BUILD)/xen_note.o: $(LPT_BUILD)/xen_note.bin
	$(call quiet,GEN     $(notdir $@))
	$(call lpt_note,$<,.livepatch.xen_depends)

$(LPT_BUILD)/xen_dep_note.o: $(LPT_BUILD)/xen_note.bin
	$(call quiet,GEN     $(notdir $@))
	$(call lpt_note,$<,.livepatch.depends)

# xen_bye_world stacks on xen_hello_world.
$(LPT_BUILD)/hello_note.bin: $(LIVEPATCH_OUT)/xen_hello_world.livepatch
	$(Q)$(OBJCOPY) -O binary --only-section=.note.gnu.build-id $< $@

$(LPT_BUILD)/hello_note.o: $(LPT_BUILD)/hello_note.bin
	$(call quiet,GEN     $(notdir $@))
	$(call lpt_note,$<,.livepatch.depends)

# xen_callpath_stack stacks on xen_callpath_same.
$(LPT_BUILD)/callpath_same_note.bin: $(LIVEPATCH_OUT)/xen_callpath_same.livepatch
	$(Q)$(OBJCOPY) -O binary --only-section=.note.gnu.build-id $< $@

$(LPT_BUILD)/callpath_same_note.o: $(LPT_BUILD)/callpath_same_note.bin
	$(call quiet,GEN     $(notdir $@))
	$(call lpt_note,$<,.livepatch.depends)

# A well-formed build-id of the right size that is not this hypervisor's.
$(LPT_BUILD)/bogus_xen_note.o: $(LPT)/Rules.mk
	@mkdir -p $(dir $@)
	$(call quiet,GEN     $(notdir $@))
	$(Q)printf '\004\000\000\000\024\000\000\000\003\000\000\000GNU\000' > $(@:.o=.bin)
	$(Q)for i in 1 2 3 4 5; do printf '\336\255\276\357' >> $(@:.o=.bin); done
	$(call lpt_note,$(@:.o=.bin),.livepatch.xen_depends)

$(LIVEPATCH_OUT)/xen_hello_world.livepatch: $(LPT_BUILD)/xen_hello_world.o \
    $(LPT_BUILD)/xen_hello_world_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bye_world.livepatch: $(LPT_BUILD)/xen_bye_world.o \
    $(LPT_BUILD)/xen_bye_world_func.o $(LPT_BUILD)/xen_note.o \
    $(LPT_BUILD)/hello_note.o
$(LIVEPATCH_OUT)/xen_replace_world.livepatch: $(LPT_BUILD)/xen_replace_world.o \
    $(LPT_BUILD)/xen_replace_world_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_nop.livepatch: $(LPT_BUILD)/xen_nop.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_expectations.livepatch: $(LPT_BUILD)/xen_expectations.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_expectations_fail.livepatch: \
    $(LPT_BUILD)/xen_expectations_fail.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_hooks.livepatch: $(LPT_BUILD)/xen_hooks.o \
    $(LPT_BUILD)/xen_hooks_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_hooks_veto.livepatch: $(LPT_BUILD)/xen_hooks_veto.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_callpath_same.livepatch: $(LPT_BUILD)/xen_callpath_same.o \
    $(LPT_BUILD)/xen_callpath_same_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_callpath_stack.livepatch: $(LPT_BUILD)/xen_callpath_stack.o \
    $(LPT_BUILD)/xen_callpath_stack_func.o $(LPT_BUILD)/xen_note.o \
    $(LPT_BUILD)/callpath_same_note.o
$(LIVEPATCH_OUT)/xen_callpath_replace.livepatch: \
    $(LPT_BUILD)/xen_callpath_replace.o \
    $(LPT_BUILD)/xen_callpath_replace_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_callpath_nop.livepatch: $(LPT_BUILD)/xen_callpath_nop.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_paging_wait.livepatch: $(LPT_BUILD)/xen_paging_wait.o \
    $(LPT_BUILD)/xen_paging_wait_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_paging_link.livepatch: $(LPT_BUILD)/xen_paging_link.o \
    $(LPT_BUILD)/xen_paging_link_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_paging_tail.livepatch: $(LPT_BUILD)/xen_paging_tail.o \
    $(LPT_BUILD)/xen_paging_tail_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_paging_again.livepatch: $(LPT_BUILD)/xen_paging_again.o \
    $(LPT_BUILD)/xen_paging_again_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_nmi_mce.livepatch: $(LPT_BUILD)/xen_nmi_mce.o \
    $(LPT_BUILD)/xen_nmi_mce_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_no_xen_depends.livepatch: $(LPT_BUILD)/xen_nop.o \
    $(LPT_BUILD)/xen_dep_note.o
$(LIVEPATCH_OUT)/xen_bad_wrong_depends.livepatch: $(LPT_BUILD)/xen_nop.o \
    $(LPT_BUILD)/bogus_xen_note.o $(LPT_BUILD)/xen_dep_note.o
$(LIVEPATCH_OUT)/xen_bad_reloc_type.livepatch: \
    $(LPT_BUILD)/xen_bad_reloc_type.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_reloc_sym0.livepatch: \
    $(LPT_BUILD)/xen_bad_reloc_sym0.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_short_func.livepatch: \
    $(LPT_BUILD)/xen_bad_short_func.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_unpatchable.livepatch: \
    $(LPT_BUILD)/xen_bad_unpatchable.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_window_now.livepatch: \
    $(LPT_BUILD)/xen_bad_window_now.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_wx_section.livepatch: \
    $(LPT_BUILD)/xen_bad_wx_section.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_oversize.livepatch: $(LPT_BUILD)/xen_bad_oversize.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_dup_func.livepatch: $(LPT_BUILD)/xen_bad_dup_func.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_func_offset.livepatch: \
    $(LPT_BUILD)/xen_bad_func_offset.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_new_addr.livepatch: $(LPT_BUILD)/xen_bad_new_addr.o \
    $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_self_jump.livepatch: \
    $(LPT_BUILD)/xen_bad_self_jump.o $(LPT_XEN_NOTES)
$(LIVEPATCH_OUT)/xen_bad_rela_info.livepatch: \
    $(LPT_BUILD)/xen_bad_rela_info.o $(LPT_XEN_NOTES) $(LPT_SHDR)
$(LIVEPATCH_OUT)/xen_bad_rela_type.livepatch: \
    $(LPT_BUILD)/xen_bad_rela_type.o $(LPT_XEN_NOTES) $(LPT_SHDR)

# Section headers no linker writes, edited after the link (lpt-shdr).
LPT_POST_xen_bad_rela_info = $(LPT_SHDR) $@.tmp \
    .rela.text.xen_bad_rela_info_fn info shnum
LPT_POST_xen_bad_rela_type = $(LPT_SHDR) $@.tmp \
    .rela.text.xen_bad_rela_type_fn type 1

$(LPT_SHDR): tools/lpt-shdr.c
	@mkdir -p $(dir $@)
	$(call quiet,HOSTCC  tools/lpt-shdr.c)
	$(Q)$(HOSTCC) $(HOSTCFLAGS) tools/lpt-shdr.c -o $@

# As Xen's test Makefile: .livepatch.funcs is read-only once relocated.
# Then the signature note is appended.
$(LPT_PAYLOADS): $(LIVEPATCH_OUT)/%.livepatch: $(LIVEPATCH_SIGNING_KEY)
	@mkdir -p $(dir $@)
	@test -x $(LIVEPATCH_SIGN) || { echo "error: $(LIVEPATCH_SIGN) is missing:" \
	    "build it first (cargo build --release -p payloads --bin livepatch-sign)" >&2; exit 1; }
	$(call quiet,LD      $(notdir $@))
	$(Q)$(LD) -r -m elf_x86_64 --build-id=sha1 -z noexecstack -o $@.tmp $(filter %.o,$^)
	$(Q)if $(READELF) -SW $@.tmp | grep -q ' \.livepatch\.funcs '; then \
	    $(OBJCOPY) --set-section-flags .livepatch.funcs=alloc,readonly,contents \
	        $@.tmp; fi
	$(if $(LPT_POST_$*),$(Q)$(LPT_POST_$*))
	$(call quiet,SIGN    $(notdir $@))
	$(Q)$(LIVEPATCH_SIGN) --key $(LIVEPATCH_SIGNING_KEY) $@.tmp
	$(Q)mv $@.tmp $@

-include $(wildcard $(LPT_BUILD)/*.d)
