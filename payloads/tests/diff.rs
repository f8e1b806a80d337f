//! End-to-end tests of create-diff-object on C pairs compiled with gcc.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_links, build, build_pic, cdo, diff, xen_addr, ElfView};
use object::elf;

const BUG_MACROS: &str = r#"
#define BUG_ON(c) do { if (c) asm volatile("1: ud2\n .pushsection .bug_frames.2, \"a\", @progbits\n .p2align 2\n 2: .long 1b - 2b\n .long %c0 - 2b\n .popsection" :: "i"(__FILE__)); } while (0)
#define MINI_ASSERT(c) do { if (!(c)) asm volatile("1: ud2\n .pushsection .bug_frames.0, \"a\", @progbits\n .p2align 2\n 2: .long (1b - 2b)\n .long (%c0 - 2b)\n .long (%c1 - 2b)\n .long %c2\n .popsection" :: "i"(__FILE__), "i"(#c), "i"(__LINE__)); } while (0)
#define ASSERT(c) do { if (!(c)) asm volatile("1: ud2\n .pushsection .bug_frames.3, \"a\", @progbits\n .p2align 2\n 2: .long 1b - 2b\n .long %c0 - 2b\n .long 0, %c1 - 2b\n .popsection" :: "i"(__FILE__), "i"(#c)); } while (0)
"#;

fn out_view(pair: &common::Pair) -> ElfView {
    ElfView::parse(&std::fs::read(&pair.out).unwrap())
}

#[test]
fn changed_function() {
    let pair = build(
        "changed_function",
        "int compute(int x, int y) { return x * 3 + y * 7 + 11; }\nint untouched(int x) { return x * x - 7; }\n",
        "int compute(int x, int y) { return x * 5 + y * 7 + 11; }\nint untouched(int x) { return x * x - 7; }\n",
    );
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("CHANGED function compute"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("included: changed"), "{}", run.stdout);
    let v = out_view(&pair);
    assert!(v.defined("compute").is_some());
    assert!(v.defined("untouched").is_none());
    assert!(!v.has_section(".text.untouched"));
    let funcs = v.funcs();
    assert_eq!(funcs.len(), 1);
    let (name, target, old_addr, new_size, old_size, version) = &funcs[0];
    assert_eq!(name, "compute");
    assert_eq!(target, "compute");
    assert_eq!(*old_addr, xen_addr(&pair, "compute"));
    assert_eq!(u64::from(*new_size), v.defined("compute").unwrap().size);
    assert!(*old_size >= 5);
    assert_eq!(*version, 2);
    let funcs_sec = v.section(".livepatch.funcs").unwrap();
    assert_eq!(
        funcs_sec.flags & u64::from(elf::SHF_ALLOC),
        u64::from(elf::SHF_ALLOC)
    );
    assert_links(&pair.out);
}

#[test]
fn inlined_helper_change_marks_caller() {
    let pair = build(
        "inlined_helper",
        "static inline int helper(int x) { return x * 13 + 41; }\nint caller(int x) { return helper(x) * 2 + helper(x + 1); }\nint other(int x) { return x - 3; }\n",
        "static inline int helper(int x) { return x * 13 + 42; }\nint caller(int x) { return helper(x) * 2 + helper(x + 1); }\nint other(int x) { return x - 3; }\n",
    );
    let out = diff(&pair).unwrap();
    let report = out.report;
    let caller = report
        .items
        .iter()
        .find(|i| i.name == "caller")
        .expect("caller included");
    assert_eq!(caller.status, "CHANGED");
    assert!(report.items.iter().all(|i| i.name != "other"));
    assert_eq!(report.funcs.len(), 1);
    assert_eq!(report.funcs[0].name, "caller");
}

#[test]
fn string_literal_change() {
    let src = |word: &str| {
        format!(
            "int printk(const char *, ...);\nconst char *greet(void) {{ return \"{word}\"; }}\nint shout(int x) {{ return printk(\"value %d\\n\", x) + 12345; }}\n"
        )
    };
    let pair = build("string_literal", &src("hello"), &src("world"));
    let out = diff(&pair).unwrap();
    let names: Vec<&str> = out.report.items.iter().map(|i| i.name.as_str()).collect();
    let greet = out.report.items.iter().find(|i| i.name == "greet").unwrap();
    assert_eq!(greet.status, "CHANGED");
    assert!(
        greet.changes[0].contains("\"hello\" -> string \"world\""),
        "{:?}",
        greet.changes
    );
    assert!(!names.contains(&"shout"), "{names:?}");
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    let strs = v
        .section(".rodata.greet.str1.1")
        .expect("string section copied");
    assert!(strs.data.windows(5).any(|w| w == b"world"));
    assert!(v
        .reloc_targets(".text.greet")
        .contains(&".rodata.greet.str1.1".to_string()));
}

#[test]
fn string_moved_but_unchanged_is_same() {
    // The literal of `stable` moves inside its string section (a new literal
    // is added before it), but its content does not change.
    let orig = "int printk(const char *, ...);\nint stable(int x) { return printk(\"stay\") + x * 100; }\nint moving(int x) { return printk(\"b\") + x; }\n";
    let patched = "int printk(const char *, ...);\nint stable(int x) { return printk(\"stay\") + x * 100; }\nint moving(int x) { return printk(\"a long new literal first\") + printk(\"b\") + x; }\n";
    let pair = build("string_moved", orig, patched);
    let out = diff(&pair).unwrap();
    let names: Vec<&str> = out.report.items.iter().map(|i| i.name.as_str()).collect();
    assert!(names.contains(&"moving"));
    assert!(!names.contains(&"stable"), "{names:?}");
}

#[test]
fn renumbered_static_local() {
    let orig = "int first(int x) { return x * 7 + 1; }\nint counter_fn(int d) { static int count; count += d; return count * 3; }\nint keep(int d) { static int count; count += d + 1; return count; }\n";
    let patched = "int first(int x) { return x * 7 + 1; }\nint counter_fn(int d) { static int count; count += d; return count * 5; }\nint keep(int d) { static int count; count += d + 1; return count; }\nint last(int d) { static int count; count -= d; return count; }\n";
    let pair = build("renumbered_static", orig, patched);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = out_view(&pair);
    // counter_fn's variable keeps the hypervisor's instance, under its
    // original number (count.1), although it is count.2 in the patched object.
    let orig_view = ElfView::parse(&std::fs::read(&pair.orig).unwrap());
    let orig_counter = orig_view
        .sections
        .iter()
        .find(|s| s.name == ".text.counter_fn")
        .map(|s| orig_view.symbols[s.relocs[0].sym].name.clone())
        .unwrap();
    let orig_num = orig_counter.trim_start_matches(".bss.");
    assert!(v.undefined(&format!("lp.c#{orig_num}")), "{}", run.stdout);
    for t in v.reloc_targets(".text.counter_fn") {
        assert_eq!(t, format!("lp.c#{orig_num}"));
    }
    // The new function's variable is new, and renamed if its name clashes.
    assert!(v.defined("last").is_some());
    let last_targets = v.reloc_targets(".text.last");
    assert!(last_targets
        .iter()
        .all(|t| t.starts_with("lp.c#count.") && v.defined(t).is_some()));
    assert!(!last_targets
        .iter()
        .any(|t| t == &format!("lp.c#{orig_num}")));
    assert!(
        run.stdout.contains("correlated with original"),
        "{}",
        run.stdout
    );
}

#[test]
fn new_function_included_without_funcs_entry() {
    let orig = "int api(int x, int y) { return x * y + 100; }\n";
    let patched = "static __attribute__((noinline)) int fresh(int x) { return x * x * x + 5; }\nint api(int x, int y) { return fresh(x) * y + 100; }\n";
    let pair = build("new_function", orig, patched);
    let out = diff(&pair).unwrap();
    let fresh = out.report.items.iter().find(|i| i.name == "fresh").unwrap();
    assert_eq!(fresh.status, "NEW");
    assert!(
        fresh.why.iter().any(|w| w == "referenced by api"),
        "{:?}",
        fresh.why
    );
    assert_eq!(out.report.funcs.len(), 1);
    assert_eq!(out.report.funcs[0].name, "api");
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    assert!(v.defined("lp.c#fresh").is_some());
}

#[test]
fn new_data_allowed() {
    let orig = "int bump(int x, int y) { return x * y + 1; }\n";
    let patched = "int new_counter;\nstatic int new_static = 5;\nint bump(int x, int y) { new_counter += x; return x * y + new_static++; }\n";
    let pair = build("new_data", orig, patched);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = out_view(&pair);
    assert!(v.defined("new_counter").is_some());
    assert!(v.defined("lp.c#new_static").is_some());
    assert!(v.has_section(".data.new_static"));
    assert!(
        run.stdout.contains("NEW     object   new_counter"),
        "{}",
        run.stdout
    );
}

#[test]
fn changed_data_refused_with_symbol_name() {
    let orig = "int table[4] = {1, 2, 3, 4};\nint get(int i) { return table[i & 3]; }\n";
    let patched = "int table[4] = {1, 2, 3, 5};\nint get(int i) { return table[i & 3]; }\n";
    let pair = build("changed_data", orig, patched);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("changed writable data `table`"),
        "{}",
        run.stderr
    );
    assert!(!pair.out.exists());
}

#[test]
fn changed_local_readonly_table_is_copied() {
    let orig = "static const int weights[4] = {3, 1, 4, 1};\nint weigh(int i) { return weights[i & 3] * 10; }\n";
    let patched = "static const int weights[4] = {3, 1, 4, 2};\nint weigh(int i) { return weights[i & 3] * 10; }\n";
    let pair = build("changed_rodata", orig, patched);
    let out = diff(&pair).unwrap();
    let weigh = out.report.items.iter().find(|i| i.name == "weigh").unwrap();
    assert_eq!(weigh.status, "CHANGED");
    assert!(
        weigh.changes.iter().any(|c| c.contains("weights")),
        "{:?}",
        weigh.changes
    );
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    // The copy must not clash with the hypervisor's lp.c#weights.
    assert!(v.defined("lp.c#weights.new").is_some());
}

const HANDLERS: &str = "int h0(int x) { return x + 1; }\nint h1(int x) { return x * 2; }\nint h2(int x) { return x - 3; }\n";

#[test]
fn changed_static_function_pointer_table_is_copied_read_only() {
    let table = |last: &str| {
        format!("{HANDLERS}static int (*const handlers[3])(int) = {{ h0, h1, {last} }};\nint dispatch(int i, int x) {{ return handlers[i % 3](x); }}\n")
    };
    let pair = build_pic("changed_relro", &table("h2"), &table("h1"));
    let out = diff(&pair).unwrap();
    let dispatch = out
        .report
        .items
        .iter()
        .find(|i| i.name == "dispatch")
        .unwrap();
    assert_eq!(dispatch.status, "CHANGED");
    assert!(
        dispatch.changes.iter().any(|c| c.contains("handlers")),
        "{:?}",
        dispatch.changes
    );
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    assert!(v.defined("lp.c#handlers.new").is_some());
    let sec = v.section(".data.rel.ro.local.handlers").unwrap();
    // Relocated at load, then read-only: not part of the payload's
    // writable data (which would forbid re-applying it).
    assert_eq!(sec.flags & u64::from(elf::SHF_WRITE), 0);
    assert!(v.funcs().iter().any(|f| f.0 == "dispatch"));
}

#[test]
fn changed_global_function_pointer_table_is_refused_as_read_only() {
    let table = |last: &str| {
        format!("{HANDLERS}int (*const handlers[3])(int) = {{ h0, h1, {last} }};\nint dispatch(int i, int x) {{ return handlers[i % 3](x); }}\n")
    };
    let pair = build_pic("changed_global_relro", &table("h2"), &table("h1"));
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains(
            "changed read-only object `handlers` in .data.rel.ro.local.handlers (reference at +0x10: `h2` -> `h1`) is global"
        ) && !run.stderr.contains("writable"),
        "{}",
        run.stderr
    );
    assert!(!pair.out.exists());
}

/// On a stack, a lower payload exported its copy of a changed table
/// (`lp.c#weights.new`): an upper payload that uses the table refers to
/// the copy, not to the hypervisor's original, or the lower fix is lost.
#[test]
fn references_resolve_to_a_lower_payloads_copies() {
    let base = "static const int weights[4] = {3, 1, 4, 2};\nint lower_helper(int x) { return x * 7; }\nint weigh(int i) { return weights[i & 3] * 10 + lower_helper(i); }\n";
    let patched = base.replace("* 10 +", "* 11 +");
    let pair = build("stack_copies", base, &patched);
    let orig = std::fs::read(&pair.orig).unwrap();
    let new = std::fs::read(&pair.patched).unwrap();
    let mut xen =
        payloads::symtab::XenSymbols::parse(&std::fs::read(&pair.xen).unwrap(), "xen-syms")
            .unwrap();
    xen.insert_payload_symbol("lp.c#weights.new", true, elf::STT_OBJECT, 16);
    let out =
        payloads::diff_objects(&orig, &new, &xen, &payloads::DiffOptions::new("lp.o")).unwrap();
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    assert!(
        v.undefined("lp.c#weights.new"),
        "{}",
        out.report.to_text().unwrap()
    );
    assert!(!v.undefined("lp.c#weights"));
    let ext = out
        .report
        .externals
        .iter()
        .find(|e| e.name == "lp.c#weights.new")
        .unwrap();
    assert!(ext.in_lower_payload && ext.addr.is_none());
}

#[test]
fn function_shorter_than_5_bytes_refused() {
    let asm = |body: &str| {
        format!(
            "asm(\".pushsection .text.tiny,\\\"ax\\\",@progbits\\n.globl tiny\\n.type tiny,@function\\ntiny:\\n{body}\\n.size tiny,.-tiny\\n.popsection\\n\");\nint big(int x) {{ return x * 3 + 1000; }}\n"
        )
    };
    let pair = build("too_small", &asm("ret"), &asm("xorl %eax,%eax\\nret"));
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("`tiny` is 1 bytes, too small"),
        "{}",
        run.stderr
    );
    assert!(!pair.out.exists());
}

#[test]
fn no_changes_exit_3() {
    let src = "int a(int x) { return x * 9 + 2; }\nstatic int s(int y) { return y - 4; }\nint b(int x) { return s(x) * 2; }\n";
    let pair = build(
        "no_changes",
        src,
        &src.replace("{ return x * 9", "{\n    return x * 9"),
    );
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(!pair.out.exists());
    assert!(run.stdout.contains("no functional change"));
}

#[test]
fn bug_frames_kept_only_for_included_functions() {
    let body = |k: i32| {
        format!(
            "{BUG_MACROS}\nint checked_a(int x) {{ BUG_ON(x > 5); ASSERT(x != 3); MINI_ASSERT(x != 9); return x * 2 + {k}; }}\nint checked_b(int x) {{ BUG_ON(x > 7); ASSERT(x != 4); MINI_ASSERT(x != 8); return x * 3 + 1; }}\n"
        )
    };
    let pair = build("bug_frames", &body(1), &body(2));
    let out = diff(&pair).unwrap();
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    let bf2 = v.section(".bug_frames.2").expect(".bug_frames.2 kept");
    assert_eq!(bf2.size, 8);
    assert_eq!(v.symbols[bf2.relocs[0].sym].name, "checked_a");
    let bf3 = v.section(".bug_frames.3").expect(".bug_frames.3 kept");
    assert_eq!(
        bf3.size, 16,
        "assert frame and its message frame stay together"
    );
    assert_eq!(v.symbols[bf3.relocs[0].sym].name, "checked_a");
    // mini-xen layout: 16-byte frames (location, pointer, message, line).
    let bf0 = v.section(".bug_frames.0").expect(".bug_frames.0 kept");
    assert_eq!(bf0.size, 16);
    assert_eq!(bf0.relocs.len(), 3);
    assert_eq!(v.symbols[bf0.relocs[0].sym].name, "checked_a");
    let sp = out
        .report
        .special
        .iter()
        .find(|s| s.section == ".bug_frames.2")
        .unwrap();
    assert_eq!((sp.entries, sp.kept), (2, 1));
    assert_links(&{
        let p = pair.dir.join("bug.o");
        std::fs::write(&p, out.object_bytes.as_ref().unwrap()).unwrap();
        p
    });
}

#[test]
fn ex_table_fixup_and_alternatives_filtered() {
    let body = |k: i32| {
        format!(
            r#"
#define READ_GUARDED(v, p) asm volatile("1: movl (%1), %0\n2:\n .pushsection .fixup, \"ax\"\n3: movl $-1, %0\n jmp 2b\n .popsection\n .pushsection .ex_table, \"a\"\n .balign 4\n .long 1b - ., 3b - .\n .popsection" : "=r"(v) : "r"(p))
#define ALT() asm volatile("661: nop; nop; nop\n662:\n .pushsection .altinstructions, \"a\"\n .long 661b - ., 663f - .\n .word 1\n .byte 3, 3, 0, 0\n .popsection\n .pushsection .altinstr_replacement, \"ax\"\n663: xchg %ax,%ax; nop\n664:\n .popsection")
int rd_a(const int *p) {{ int v; READ_GUARDED(v, p); ALT(); return v + {k}; }}
int rd_b(const int *p) {{ int v; READ_GUARDED(v, p); ALT(); return v * 3; }}
"#
        )
    };
    let pair = build("ex_table", &body(1), &body(2));
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = out_view(&pair);
    let ex = v.section(".ex_table").unwrap();
    assert_eq!(ex.size, 8);
    let fixup = v.section(".fixup").unwrap();
    let orig = ElfView::parse(&std::fs::read(&pair.patched).unwrap());
    assert_eq!(fixup.size * 2, orig.section(".fixup").unwrap().size);
    // ex_table entry: addr -> rd_a, cont -> .fixup
    let targets = v.reloc_targets(".ex_table");
    assert_eq!(targets, vec!["rd_a".to_string(), ".fixup".to_string()]);
    // The fixup code jumps back into the new rd_a.
    assert_eq!(v.reloc_targets(".fixup"), vec!["rd_a".to_string()]);
    let alt = v.section(".altinstructions").unwrap();
    assert_eq!(alt.size, 14);
    assert_eq!(v.section(".altinstr_replacement").unwrap().size, 3);
    assert_links(&pair.out);
}

#[test]
fn hook_section_kept() {
    let orig = "int plain(int x) { return x * 11 + 3; }\n";
    let patched = "int plain(int x) { return x * 11 + 3; }\nint hooked;\nstatic void my_load_hook(void) { hooked = 1; }\nvoid (*const __attribute__((weak, section(\".livepatch.hooks.load\"))) livepatch_load_data_my_load_hook)(void) = my_load_hook;\n";
    let pair = build("hooks", orig, patched);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = out_view(&pair);
    let hook = v
        .section(".livepatch.hooks.load")
        .expect("hook section kept");
    assert_eq!(hook.size, 8);
    assert_eq!(
        v.reloc_targets(".livepatch.hooks.load"),
        vec!["lp.c#my_load_hook".to_string()]
    );
    assert!(v.defined("lp.c#my_load_hook").is_some());
    assert!(v.defined("hooked").is_some());
    assert!(!v.has_section(".livepatch.funcs"));
    assert!(run.stdout.contains("hook section"), "{}", run.stdout);
}

#[test]
fn cold_part_follows_parent() {
    let src = |k: i32| {
        format!(
            "int printk(const char *fmt, ...);\nint sw(int x) {{ switch (x) {{ case 0: return printk(\"a\"); case 1: return printk(\"b\") + 1; case 2: return {k} * printk(\"c\"); case 3: return printk(\"d\") - 3; case 4: return x * printk(\"e\"); case 5: return printk(\"f\"); default: return 0; }} }}\n"
        )
    };
    let pair = build("cold_part", &src(7), &src(9));
    let orig = ElfView::parse(&std::fs::read(&pair.orig).unwrap());
    assert!(
        orig.defined("sw.cold").is_some(),
        "gcc no longer splits sw; adjust the test"
    );
    let out = diff(&pair).unwrap();
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    // Only the parent gets a .livepatch.funcs entry.
    assert_eq!(out.report.funcs.len(), 1, "{:?}", out.report.funcs);
    assert_eq!(out.report.funcs[0].name, "sw");
    let cold = out
        .report
        .items
        .iter()
        .find(|i| i.name == "sw.cold")
        .expect("cold part copied");
    assert!(
        cold.why.iter().any(|w| w == "cold part of sw"),
        "{:?}",
        cold.why
    );
    // Copied under a name that cannot clash with the hypervisor's lp.c#sw.cold,
    // and its jump back goes to the new sw.
    assert!(v.defined("lp.c#sw.cold.new").is_some());
    assert_eq!(v.reloc_targets(".text.unlikely.sw"), vec!["sw".to_string()]);
    assert!(v
        .reloc_targets(".text.sw")
        .contains(&"lp.c#sw.cold.new".to_string()));
    // The jump table is copied and points into the new sw.
    assert!(v.reloc_targets(".rodata.sw").iter().all(|t| t == "sw"));
    assert_links(&{
        let p = pair.dir.join("cold.o");
        std::fs::write(&p, out.object_bytes.as_ref().unwrap()).unwrap();
        p
    });
}

#[test]
fn determinism_run_twice() {
    let pair = build(
        "determinism",
        "int f1(int x) { static int n; n += x; return n; }\nint f2(int x) { return x + 1000; }\nconst char *f3(void) { return \"abc\"; }\n",
        "int f1(int x) { static int n; n += 2 * x; return n; }\nint f2(int x) { return x + 1001; }\nconst char *f3(void) { return \"abd\"; }\nint f4(int x) { static int n; return n += x; }\n",
    );
    let first = cdo(&pair, &[]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    let a = std::fs::read(&pair.out).unwrap();
    std::fs::remove_file(&pair.out).unwrap();
    let second = cdo(&pair, &[]);
    assert_eq!(second.code, 0);
    let b = std::fs::read(&pair.out).unwrap();
    assert_eq!(a, b, "output must be byte-identical");
    assert_eq!(first.stdout, second.stdout);
    // A run over an existing output writes a new file: a hard link to the
    // old one (a copy kept elsewhere) is left as it was.
    let kept = pair.out.with_extension("kept");
    let _ = std::fs::remove_file(&kept);
    std::fs::hard_link(&pair.out, &kept).unwrap();
    std::fs::write(&kept, b"old output").unwrap();
    let third = cdo(&pair, &[]);
    assert_eq!(third.code, 0, "{}{}", third.stdout, third.stderr);
    assert_eq!(std::fs::read(&pair.out).unwrap(), a);
    assert_eq!(std::fs::read(&kept).unwrap(), b"old output");
    let lib1 = diff(&pair).unwrap();
    let lib2 = diff(&pair).unwrap();
    assert_eq!(lib1.object_bytes, lib2.object_bytes);
    assert_eq!(lib1.object_bytes.as_deref(), Some(a.as_slice()));
}

#[test]
fn json_report() {
    let pair = build(
        "json_report",
        "int jf(int x) { return x * 17 + 1; }\n",
        "int jf(int x) { return x * 19 + 1; }\n",
    );
    let run = cdo(&pair, &["--report", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("{\"object\":\"orig.o\",\"outcome\":\"changed\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\"name\":\"jf\""));
    assert!(run.stdout.contains("\"funcs\":[{\"name\":\"jf\""));
}

/// A report that cannot be printed is an error with its reason, not a
/// panic, and no payload object is written.
#[test]
fn unprintable_report_is_an_error() {
    let pair = build(
        "unprintable_report",
        "int uf(int x) { return x * 17 + 1; }\n",
        "int uf(int x) { return x * 19 + 1; }\n",
    );
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_create-diff-object"))
        .args([&pair.orig, &pair.patched, &pair.xen, &pair.out])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot print the report: No space left on device"),
        "{stderr}"
    );
    assert!(!pair.out.exists());
}

#[test]
fn many_sections_use_extended_numbering() {
    let mut orig = String::from("int changed_fn(int x, int y) { return x * y + x * 3 + 12345; }\n");
    for i in 0..66_000 {
        orig.push_str(&format!("int v_{i} = {i};\n"));
    }
    let patched = orig.replace("x * 3", "x * 5");
    let pair = build("xindex", &orig, &patched);
    let data = std::fs::read(&pair.orig).unwrap();
    // e_shnum == 0: the real count is in section 0.
    assert_eq!(u16::from_le_bytes([data[60], data[61]]), 0);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let v = out_view(&pair);
    assert_eq!(v.funcs().len(), 1);
    assert_eq!(v.funcs()[0].2, xen_addr(&pair, "changed_fn"));
}

#[test]
fn ambiguous_local_names_refused() {
    // Two translation units named lp.c, each with an identical static
    // `helper` used by an identical static `user`: after `ld -r` the two
    // `helper`s cannot be told apart.
    let unit = |k: i32| {
        format!(
            "static __attribute__((noinline)) int helper(int x) {{ return x * 3 + 1; }}\nstatic __attribute__((noinline)) int user(int x) {{ return helper(x) + helper(x + 1); }}\nint api{k}(int x) {{ return user(x) * {k}0 + 1; }}\n"
        )
    };
    let a = unit(1);
    let b = unit(2);
    let b2 = b.replace("* 20 + 1", "* 20 + 2");
    let pair = common::build_combined("ambiguous", &[&a, &b], &[&a, &b2]);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("ambiguous local symbol `helper`"),
        "{}",
        run.stderr
    );
}

#[test]
fn renumbered_clones_correlate() {
    let src = |k: i32| {
        format!(
            "static __attribute__((noinline)) int cp(int a, int b) {{ return a * b + (a ^ b) * {k}; }}\nint call_cp(int x) {{ return cp(x, 42) + cp(x + 1, 42); }}\nstatic __attribute__((noinline)) int same(int a, int b) {{ return a * b - (a | b); }}\nint call_same(int x) {{ return same(x, 7) + same(x + 1, 7); }}\n"
        )
    };
    let pair = build("renumbered_clones", &src(3), &src(5));
    let orig = ElfView::parse(&std::fs::read(&pair.orig).unwrap());
    assert!(
        orig.defined("cp.constprop.0").is_some(),
        "gcc no longer clones cp; adjust the test"
    );
    // Simulate GCC numbering the clones differently in the patched build.
    let st = std::process::Command::new("objcopy")
        .args([
            "--redefine-sym",
            "cp.constprop.0=cp.constprop.3",
            "--rename-section",
            ".text.cp.constprop.0=.text.cp.constprop.3",
            "--redefine-sym",
            "same.constprop.0=same.constprop.9",
            "--rename-section",
            ".text.same.constprop.0=.text.same.constprop.9",
        ])
        .arg(&pair.patched)
        .status()
        .unwrap();
    assert!(st.success());
    let out = diff(&pair).unwrap();
    let names: Vec<&str> = out.report.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(out.report.funcs.len(), 1, "{names:?}");
    assert_eq!(out.report.funcs[0].name, "lp.c#cp.constprop.0");
    assert_eq!(
        out.report.funcs[0].old_addr,
        xen_addr(&pair, "cp.constprop.0")
    );
    // Neither the renumbered unchanged clone nor its caller is included.
    assert!(
        !names.contains(&"same.constprop.9") && !names.contains(&"call_same"),
        "{names:?}"
    );
    assert!(!names.contains(&"call_cp"), "{names:?}");
}

#[test]
fn shared_code_section_extracts_one_function() {
    let asm = |imm: i32| {
        format!(
            "asm(\".pushsection .text.shared,\\\"ax\\\",@progbits\\n.globl fa\\n.type fa,@function\\nfa:\\n movl $1, %eax\\n addl %edi, %eax\\n ret\\n.size fa,.-fa\\n.globl fb\\n.type fb,@function\\nfb:\\n movl ${imm}, %eax\\n imull %edi, %eax\\n ret\\n.size fb,.-fb\\n.popsection\\n\");\n"
        )
    };
    let pair = build("shared_section", &asm(2), &asm(3));
    let out = diff(&pair).unwrap();
    assert_eq!(out.report.funcs.len(), 1);
    assert_eq!(out.report.funcs[0].name, "fb");
    let v = ElfView::parse(out.object_bytes.as_ref().unwrap());
    let sec = v.section(".text.shared").unwrap();
    assert_eq!(sec.size, v.defined("fb").unwrap().size, "only fb is copied");
    assert_eq!(v.defined("fb").unwrap().value, 0);
    assert!(v.defined("fa").is_none());
}

#[test]
fn shared_code_with_assembler_resolved_jump_is_refused() {
    let asm = |imm: i32| {
        format!(
            "asm(\".pushsection .text.shared,\\\"ax\\\",@progbits\\n.type fa,@function\\nfa:\\n movl $1, %eax\\n ret\\n.size fa,.-fa\\n.globl fb\\n.type fb,@function\\nfb:\\n movl ${imm}, %eax\\n imull %edi, %eax\\n jmp fa\\n.size fb,.-fb\\n.popsection\\n\");\nint use_fa(int x) {{ extern int fb(int); return fb(x) + 1000 * x; }}\n"
        )
    };
    let pair = build("shared_section_jump", &asm(2), &asm(3));
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("resolved by the assembler"),
        "{}",
        run.stderr
    );
}

#[test]
fn binding_change_is_reported() {
    let pair = build(
        "binding_change",
        "int helper2(int x) { return x * 21 + 4; }\nint user2(int x) { return helper2(x) + 1; }\n",
        "static __attribute__((noinline)) int helper2(int x) { return x * 21 + 4; }\nint user2(int x) { return helper2(x) + 1; }\nint keep_helper2_alive(int x) { return helper2(x * 2); }\n",
    );
    let out = diff(&pair).unwrap();
    assert!(
        out.report
            .warnings
            .iter()
            .any(|w| w.contains("`helper2` changed binding (global -> static)")),
        "{:?}",
        out.report.warnings
    );
}

#[test]
fn many_output_sections_use_extended_numbering() {
    let orig = "int changed_fn(int x, int y) { return x * y + x * 3 + 12345; }\n".to_string();
    let mut patched = orig.replace("x * 3", "x * 5");
    for i in 0..66_000 {
        patched.push_str(&format!("int w_{i} = {i};\n"));
    }
    let pair = build("xindex_out", &orig, &patched);
    let run = cdo(&pair, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let data = std::fs::read(&pair.out).unwrap();
    assert_eq!(
        u16::from_le_bytes([data[60], data[61]]),
        0,
        "e_shnum overflows to section 0"
    );
    let v = ElfView::parse(&data);
    assert!(v.sections.len() > 66_000);
    let w1 = v.defined("w_1").unwrap();
    assert_eq!(v.sections[w1.shndx as usize].name, ".data.w_1");
    assert_eq!(v.funcs().len(), 1);
    assert_links(&pair.out);
}

/// create-diff-object is a static PIE wherever the C compiler has the
/// static archives (payloads/build.rs), and the other tools do without
/// libgcc_s.so.1 wherever it has libgcc_eh.a.
#[test]
fn the_tools_are_linked_as_build_rs_says() {
    use object::read::elf::{Dyn as _, FileHeader as _, ProgramHeader as _};
    let has = |file: &str| {
        let out = std::process::Command::new("cc")
            .arg(format!("-print-file-name={file}"))
            .output()
            .unwrap();
        std::path::Path::new(String::from_utf8_lossy(&out.stdout).trim()).is_absolute()
    };
    // (interpreter, libraries needed) of a binary.
    let linkage = |path: &str| {
        let data = std::fs::read(path).unwrap();
        let header = elf::FileHeader64::<object::LittleEndian>::parse(&*data).unwrap();
        let endian = object::LittleEndian;
        let mut interp = false;
        let mut needed = Vec::new();
        for ph in header.program_headers(endian, &*data).unwrap() {
            interp |= ph.p_type(endian) == elf::PT_INTERP;
            if let Some(dynamic) = ph.dynamic(endian, &*data).unwrap() {
                let sections = header.sections(endian, &*data).unwrap();
                let (_, dynsym) = sections.dynamic(endian, &*data).unwrap().unwrap();
                let strings = sections.strings(endian, &*data, dynsym).unwrap();
                for d in dynamic
                    .iter()
                    .filter(|d| d.tag32(endian) == Some(elf::DT_NEEDED))
                {
                    let name = d.string(endian, strings).unwrap();
                    needed.push(String::from_utf8_lossy(name).into_owned());
                }
            }
        }
        (interp, needed)
    };
    let statically = env!("PAYLOADS_STATIC_CDO") == "1";
    assert_eq!(statically, has("libc.a") && has("libgcc_eh.a"));
    let (interp, needed) = linkage(env!("CARGO_BIN_EXE_create-diff-object"));
    if statically {
        assert!(!interp && needed.is_empty(), "{needed:?}");
    }
    for tool in [
        env!("CARGO_BIN_EXE_livepatch-build"),
        env!("CARGO_BIN_EXE_livepatch-sign"),
    ] {
        let (interp, needed) = linkage(tool);
        assert!(interp, "{tool}");
        if has("libgcc_eh.a") {
            assert!(
                !needed.iter().any(|n| n.starts_with("libgcc_s")),
                "{needed:?}"
            );
        }
    }
}
