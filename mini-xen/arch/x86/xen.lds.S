/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xen.lds.S
 *
 * Layout of the image, loaded and linked at XEN_VIRT_START.  Every
 * region that gets its own page permissions starts and ends on a page
 * boundary:
 *   .text                           RX
 *   .rodata .note.gnu.build-id      RO, NX  (also symbols, bug frames,
 *                                            exception table)
 *   .guest.text                     user RX
 *   .guest.data                     user RW, NX
 *   .data .bss                      RW, NX  (also the command-line
 *                                            parameter table)
 */
#include <xen/bug.h>

OUTPUT_FORMAT("elf64-x86-64", "elf64-x86-64", "elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(start)

PHDRS
{
    text PT_LOAD FLAGS(5);          /* R X */
    rodata PT_LOAD FLAGS(4);        /* R */
    note PT_NOTE FLAGS(4);
    guest_text PT_LOAD FLAGS(5);
    data PT_LOAD FLAGS(6);          /* R W */
}

SECTIONS
{
    /DISCARD/ : {
        *(.comment)
        *(.comment.*)
        *(.note.GNU-stack)
        *(.note.gnu.property)
        *(.eh_frame)
        *(.discard .discard.*)
        *(.livepatch.*)         /* hooks of live-patch-only code, if a patch is built in */
    }

    . = XEN_VIRT_START;
    _start = .;

    .text : {
        _stext = .;
        *(.text.head)
        __unpatchable_start = .;
        *(.text.unpatchable)
        __unpatchable_end = .;
        *(.text .text.*)
        *(.fixup)
        . = ALIGN(PAGE_SIZE);
        _etext = .;
    } :text

    .rodata : {
        _srodata = .;
        *(.rodata .rodata.*)

        . = ALIGN(4);
        __start_bug_frames_0 = .;
        *(.bug_frames.0)
        __stop_bug_frames_0 = .;
        __start_bug_frames_1 = .;
        *(.bug_frames.1)
        __stop_bug_frames_1 = .;
        __start_bug_frames_2 = .;
        *(.bug_frames.2)
        __stop_bug_frames_2 = .;
        __start_bug_frames_3 = .;
        *(.bug_frames.3)
        __stop_bug_frames_3 = .;

        . = ALIGN(8);
        __start___ex_table = .;
        *(.ex_table)
        __stop___ex_table = .;
    } :rodata

    .note.gnu.build-id : {
        __note_gnu_build_id_start = .;
        *(.note.gnu.build-id)
        __note_gnu_build_id_end = .;
    } :rodata :note

    . = ALIGN(PAGE_SIZE);
    _erodata = .;

    .guest.text : {
        _sguest_text = .;
        *(.guest.text)
        . = ALIGN(PAGE_SIZE);
        _eguest_text = .;
    } :guest_text

    .guest.data : {
        _sguest_data = .;
        *(.guest.data)
        . = ALIGN(PAGE_SIZE);
        _eguest_data = .;
    } :data

    .data : {
        _sdata = .;
        *(.data .data.*)

        /* Command-line parameters (xen/param.h), read once at boot. */
        . = ALIGN(8);
        __setup_start = .;
        *(.init.setup)
        __setup_end = .;
        . = ALIGN(PAGE_SIZE);
        _edata = .;
    } :data

    .bss (NOLOAD) : {
        __bss_start = .;
        *(.bss .bss.*)
        *(COMMON)
        . = ALIGN(PAGE_SIZE);
        __bss_end = .;
    } :data

    _end = .;

}

ASSERT(_end <= XEN_IMAGE_LIMIT, "image too large")
ASSERT(start == XEN_VIRT_START, "start is not the first byte of the image")
ASSERT((__stop_bug_frames_0 - __start_bug_frames_0) % BUG_FRAME_SIZE == 0, "bad bug frames")
ASSERT((__stop_bug_frames_2 - __start_bug_frames_2) % BUG_FRAME_SIZE == 0, "bad bug frames")
