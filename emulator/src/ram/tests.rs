use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use unicorn_engine::{Arch, Mode, Prot, RegisterX86, Unicorn};

use super::*;

/// A store as the engine does it: through the raw pointer, no bookkeeping.
fn raw_store(block: &mut RamBlock, offset: usize, v: u8) {
    assert!(offset < block.len());
    // SAFETY: inside the mapping; `&mut` excludes slices of it. A
    // write-protected page faults and the tracking handler unprotects it.
    unsafe { block.as_ptr().add(offset).write_volatile(v) }
}

fn dirty(block: &RamBlock) -> Vec<usize> {
    block.dirty_pages().collect()
}

#[test]
fn host_writes_mark_exactly_their_pages() {
    let mut b = RamBlock::new(256 * PAGE_SIZE);
    assert!(!b.is_tracking());
    assert_eq!(b.dirty_count(), 256, "untracked: everything is dirty");
    b.start_tracking().expect("arm");
    assert!(b.is_tracking());
    assert_eq!(dirty(&b), Vec::<usize>::new());

    b.write(0x1000, &[7]).expect("write");
    b.write_u64(0x2ffc, 0x1122_3344_5566_7788)
        .expect("write across pages");
    b.write_u32(255 * 0x1000 + 0xffc, 0xdead_beef)
        .expect("last word");
    b.write(0x9000, &[]).expect("empty write");
    assert_eq!(dirty(&b), vec![1, 2, 3, 255]);
    assert_eq!(b.dirty_count(), 4);
    assert_eq!(b.read_u64(0x2ffc), Ok(0x1122_3344_5566_7788));
    assert_eq!(b.read_u32(255 * 0x1000 + 0xffc), Ok(0xdead_beef));
    assert_eq!(b.contents()[0x1000], 7);

    // The host-written pages are writable now: raw stores there do not
    // add pages, a raw store elsewhere does.
    raw_store(&mut b, 0x2000, 1);
    raw_store(&mut b, 0x40_000 - 1, 2);
    assert_eq!(dirty(&b), vec![1, 2, 3, 0x3f, 255]);

    b.start_tracking().expect("re-arm");
    assert_eq!(b.dirty_count(), 0);
}

#[test]
fn range_and_size_errors() {
    assert_eq!(RamBlock::try_new(0).err(), Some(RamError::BadSize(0)));
    assert_eq!(RamBlock::try_new(100).err(), Some(RamError::BadSize(100)));
    let mut b = RamBlock::new(4 * PAGE_SIZE);
    let oob = RamError::OutOfRange {
        addr: 0x3ffc,
        len: 8,
    };
    assert_eq!(b.read_u64(0x3ffc), Err(oob.clone()));
    assert_eq!(b.write_u64(0x3ffc, 0), Err(oob));
    assert!(b.write(u64::MAX, &[1]).is_err());
    let mut other = RamBlock::new(8 * PAGE_SIZE);
    let mut snap = other.snapshot().expect("snapshot");
    let wrong = RamError::SnapshotSize {
        expected: 4 * PAGE_SIZE,
        got: 8 * PAGE_SIZE,
    };
    assert_eq!(b.restore_from(&snap), Err(wrong));
    assert!(b.restore_from(&RamSnapshot::default()).is_err());
    // Refreshing a snapshot of another size (or an empty one) re-sizes it.
    b.write(0x1234, &[9]).expect("write");
    b.refresh_snapshot(&mut snap).expect("refresh resizes");
    assert_eq!(snap.len(), 4 * PAGE_SIZE);
    assert!(snap.as_bytes() == b.contents());
    let mut empty = RamSnapshot::default();
    assert!(empty.is_empty());
    b.refresh_snapshot(&mut empty).expect("refresh fills");
    assert!(empty.as_bytes() == b.contents());
}

#[test]
fn raw_stores_fault_and_are_tracked() {
    let mut b = RamBlock::new(64 * PAGE_SIZE);
    b.start_tracking().expect("arm");
    for (i, page) in [3usize, 4, 17, 63].into_iter().enumerate() {
        raw_store(&mut b, page * PAGE_SIZE + 100, i as u8 + 1);
        raw_store(&mut b, page * PAGE_SIZE + 101, i as u8 + 1);
    }
    assert_eq!(dirty(&b), vec![3, 4, 17, 63]);
    assert_eq!(b.contents()[17 * PAGE_SIZE + 101], 3);
}

/// x86-64 code: a qword store, a dword store, a qword store straddling two
/// pages, and `rep movsb` of 0x2010 bytes from 0x1000 to 0x20000.
const GUEST_CODE: &[u8] = &[
    0x48, 0x89, 0x04, 0x25, 0x00, 0x50, 0x00, 0x00, // mov [0x5000], rax
    0xc7, 0x04, 0x25, 0xf0, 0x9f, 0x00, 0x00, 0xef, 0xbe, 0xad,
    0xde, // mov dword [0x9ff0], 0xdeadbeef
    0x48, 0x89, 0x04, 0x25, 0xfc, 0xaf, 0x00, 0x00, // mov [0xaffc], rax
    0xbe, 0x00, 0x10, 0x00, 0x00, // mov esi, 0x1000
    0xbf, 0x00, 0x00, 0x02, 0x00, // mov edi, 0x20000
    0xb9, 0x10, 0x20, 0x00, 0x00, // mov ecx, 0x2010
    0xf3, 0xa4, // rep movsb
];

#[test]
fn engine_stores_are_tracked() {
    let mut b = RamBlock::new(256 * PAGE_SIZE);
    // Installs the handler before the engine exists, so that arming again
    // below checks that creating the engine did not replace it.
    b.start_tracking().expect("arm");
    b.write(0, GUEST_CODE).expect("code");
    let source: Vec<u8> = (0..0x3000u32).map(|i| (i * 7 + 3) as u8).collect();
    b.write(0x1000, &source).expect("source");
    let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).expect("unicorn");
    // SAFETY: `b` outlives `uc` (dropped first, at the end of the test) and
    // no slice of `b` is alive while `uc` runs.
    unsafe { uc.mem_map_ptr(0, b.len() as u64, Prot::ALL, b.as_ptr().cast()) }.expect("map");
    let before = b.snapshot().expect("snapshot (arms, checks the handler)");
    for round in 0..2 {
        uc.reg_write(RegisterX86::RAX, 0x1122_3344_5566_7788)
            .expect("rax");
        uc.emu_start(0, GUEST_CODE.len() as u64, 0, 0).expect("run");
        assert_eq!(
            dirty(&b),
            vec![0x5, 0x9, 0xa, 0xb, 0x20, 0x21, 0x22],
            "round {round}"
        );
        assert_eq!(b.read_u64(0x5000), Ok(0x1122_3344_5566_7788));
        assert_eq!(b.read_u32(0x9ff0), Ok(0xdead_beef));
        assert_eq!(b.read_u64(0xaffc), Ok(0x1122_3344_5566_7788));
        assert_eq!(&b.contents()[0x20000..0x22010], &source[..0x2010]);
        b.restore_from(&before).expect("restore");
        assert_eq!(b.dirty_count(), 0);
        assert!(b.contents() == before.as_bytes(), "round {round}");
    }
    drop(uc);
}

/// Random host and raw writes, `count` of them, of up to three pages.
fn scribble(b: &mut RamBlock, rng: &mut ChaCha8Rng, count: usize) {
    for _ in 0..count {
        let len = rng.gen_range(1..3 * PAGE_SIZE);
        let at = rng.gen_range(0..b.len() - len);
        if rng.gen_bool(0.5) {
            let data: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            b.write(at as u64, &data).expect("write");
        } else {
            raw_store(b, at, rng.gen());
        }
    }
}

#[test]
fn restore_is_bit_identical_after_random_writes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut b = RamBlock::new(1024 * PAGE_SIZE);
    let init: Vec<u8> = (0..b.len()).map(|_| rng.gen()).collect();
    b.write(0, &init).expect("fill");
    let snap = b.snapshot().expect("snapshot");
    assert!(snap.as_bytes() == &init[..]);
    for round in 0..30 {
        scribble(&mut b, &mut rng, 1 + round * 5);
        assert!(b.dirty_count() > 0);
        b.restore_from(&snap).expect("restore");
        assert_eq!(b.dirty_count(), 0, "round {round}");
        assert_eq!(
            blake3::hash(b.contents()),
            blake3::hash(&init),
            "round {round}"
        );
        assert!(b.contents() == &init[..], "round {round}");
    }
    // Still armed after restores: one store, one dirty page.
    raw_store(&mut b, 5 * PAGE_SIZE, 1);
    assert_eq!(dirty(&b), vec![5]);
}

#[test]
fn refresh_and_old_snapshots() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut b = RamBlock::new(512 * PAGE_SIZE);
    scribble(&mut b, &mut rng, 50);
    let mut snap = b.snapshot().expect("snapshot");
    let old = snap.clone();
    let old_copy = old.as_bytes().to_vec();

    scribble(&mut b, &mut rng, 40);
    b.refresh_snapshot(&mut snap).expect("refresh");
    assert_eq!(b.dirty_count(), 0);
    assert!(snap.as_bytes() == b.contents());
    assert!(old.as_bytes() == &old_copy[..], "the clone is untouched");
    let refreshed = snap.as_bytes().to_vec();

    scribble(&mut b, &mut rng, 40);
    b.restore_from(&old).expect("restore old (full copy)");
    assert!(b.contents() == &old_copy[..]);
    scribble(&mut b, &mut rng, 40);
    b.restore_from(&old).expect("restore old (now incremental)");
    assert!(b.contents() == &old_copy[..]);
    scribble(&mut b, &mut rng, 40);
    b.restore_from(&snap).expect("restore refreshed");
    assert!(b.contents() == &refreshed[..]);
}

#[test]
fn snapshot_shared_by_two_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut a = RamBlock::new(128 * PAGE_SIZE);
    let mut b = RamBlock::new(128 * PAGE_SIZE);
    scribble(&mut a, &mut rng, 20);
    let mut snap = a.snapshot().expect("snapshot");
    b.restore_from(&snap).expect("restore into b");
    assert!(b.contents() == a.contents());
    // `a` changes the snapshot: `b`'s clean pages no longer agree with it,
    // so `b` must copy everything next time, not just its dirty pages.
    scribble(&mut a, &mut rng, 20);
    a.refresh_snapshot(&mut snap).expect("refresh from a");
    raw_store(&mut b, 0, 1);
    b.restore_from(&snap).expect("restore into b again");
    assert!(b.contents() == a.contents());
}

#[test]
fn two_blocks_on_two_threads_with_registry_churn() {
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) || n < 50 {
                let mut b = RamBlock::new(8 * PAGE_SIZE);
                b.start_tracking().expect("arm");
                raw_store(&mut b, (n % 8) * PAGE_SIZE, 1);
                assert_eq!(dirty(&b), vec![n % 8]);
                n += 1;
            }
            n
        })
    };
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2usize)
        .map(|t| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut b = RamBlock::new(300 * PAGE_SIZE);
                let mine: Vec<usize> = (0..300).filter(|p| p % 3 == t).collect();
                for round in 0..40usize {
                    b.start_tracking().expect("arm");
                    barrier.wait();
                    for &p in &mine {
                        raw_store(&mut b, p * PAGE_SIZE + round, (t + round) as u8);
                    }
                    assert_eq!(dirty(&b), mine, "thread {t} round {round}");
                    for &p in &mine {
                        assert_eq!(b.contents()[p * PAGE_SIZE + round], (t + round) as u8);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(churn.join().expect("churn") >= 50);
}

// ---- Faults that are not ours, in child processes ----------------------

/// Set in a child to the name of the test it must play.
const CHILD: &str = "RAM_TEST_CHILD";

fn in_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|v| v == name)
}

/// Runs this test binary on test `name` alone, in child mode. A child
/// that loops on a fault nobody handles is killed after 20 s.
fn run_child(name: &str) -> Output {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            &format!("ram::tests::{name}"),
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run child");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().expect("wait for child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {name} hangs (a fault loops?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("child output")
}

/// A read-only page outside every block.
fn read_only_page() -> *mut u8 {
    // SAFETY: a fresh anonymous mapping; it aliases nothing.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            PAGE_SIZE,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    p.cast()
}

fn signal_of(out: &Output) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal()
}

#[test]
fn untracked_fault_still_kills() {
    if in_child("untracked_fault_still_kills") {
        let mut b = RamBlock::new(4 * PAGE_SIZE);
        b.start_tracking().expect("arm");
        raw_store(&mut b, 0, 1);
        eprintln!("tracked store ok");
        // SAFETY: none: this store must kill the process.
        unsafe { read_only_page().write_volatile(1) };
        eprintln!("survived");
        return;
    }
    let out = run_child("untracked_fault_still_kills");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(signal_of(&out), Some(libc::SIGSEGV), "{err}");
    assert!(
        err.contains("tracked store ok") && !err.contains("survived"),
        "{err}"
    );
}

#[test]
fn stack_overflow_still_reported() {
    if in_child("stack_overflow_still_reported") {
        let mut b = RamBlock::new(4 * PAGE_SIZE);
        b.start_tracking().expect("arm");
        fn recurse(n: u64) -> u64 {
            let frame = std::hint::black_box([n as u8; 1024]);
            if n == u64::MAX {
                return 0;
            }
            recurse(n + 1) + u64::from(frame[0])
        }
        let t = std::thread::Builder::new()
            .name("deep".into())
            .spawn(|| recurse(0))
            .expect("spawn");
        let _ = t.join();
        return;
    }
    let out = run_child("stack_overflow_still_reported");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(signal_of(&out), Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains("thread 'deep'") && err.contains("has overflowed its stack"),
        "{err}"
    );
}

#[test]
fn non_write_fault_in_tracked_block_is_not_swallowed() {
    if in_child("non_write_fault_in_tracked_block_is_not_swallowed") {
        let mut b = RamBlock::new(4 * PAGE_SIZE);
        b.write(0, &[0xc3]).expect("ret"); // harmless if it did run
        b.start_tracking().expect("arm");
        eprintln!("jumping");
        // SAFETY: none: guest RAM is not executable, so the call faults on
        // the instruction fetch; that must kill the process, not loop.
        let f: extern "C" fn() = unsafe { std::mem::transmute(b.as_ptr()) };
        f();
        eprintln!("survived");
        return;
    }
    let out = run_child("non_write_fault_in_tracked_block_is_not_swallowed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(signal_of(&out), Some(libc::SIGSEGV), "{err}");
    assert!(
        err.contains("jumping") && !err.contains("survived"),
        "{err}"
    );
}

#[test]
fn registry_fills_up_and_slots_are_reused() {
    if in_child("registry_fills_up_and_slots_are_reused") {
        let mut blocks: Vec<RamBlock> = (0..track::MAX_TRACKED)
            .map(|_| {
                let mut b = RamBlock::new(PAGE_SIZE);
                b.start_tracking().expect("a free slot");
                b
            })
            .collect();
        let mut extra = RamBlock::new(PAGE_SIZE);
        assert_eq!(extra.start_tracking(), Err(RamError::TooManyTracked));
        assert!(!extra.is_tracking());
        blocks.truncate(track::MAX_TRACKED - 1);
        extra.start_tracking().expect("the freed slot");
        raw_store(&mut extra, 0, 1);
        for b in &mut blocks {
            raw_store(b, 0, 2);
            assert_eq!(dirty(b), vec![0]);
        }
        assert_eq!(dirty(&extra), vec![0]);
        return;
    }
    let out = run_child("registry_fills_up_and_slots_are_reused");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

/// Faults the previous handler saw, and the last address.
static PREV_FAULTS: AtomicUsize = AtomicUsize::new(0);
static PREV_ADDR: AtomicUsize = AtomicUsize::new(0);

/// A handler of the kind some library might install: fixes up faults on
/// its own read-only page.
extern "C" fn previous_handler(_: i32, info: *mut libc::siginfo_t, _: *mut std::ffi::c_void) {
    // SAFETY: the kernel's siginfo for SIGSEGV.
    let addr = unsafe { (*info).si_addr() } as usize;
    PREV_FAULTS.fetch_add(1, Ordering::SeqCst);
    PREV_ADDR.store(addr, Ordering::SeqCst);
    let page = addr & !(PAGE_SIZE - 1);
    // SAFETY: the test's own read-only page, made writable.
    unsafe {
        libc::mprotect(
            page as *mut _,
            PAGE_SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
}

#[test]
fn chains_to_previous_handler() {
    if in_child("chains_to_previous_handler") {
        // SAFETY: an all-zero sigaction, then a valid SA_SIGINFO handler.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = previous_handler
                as extern "C" fn(i32, *mut libc::siginfo_t, *mut std::ffi::c_void)
                as libc::sighandler_t;
            sa.sa_flags = libc::SA_SIGINFO;
            assert_eq!(libc::sigaction(libc::SIGSEGV, &sa, ptr::null_mut()), 0);
        }
        let mut b = RamBlock::new(16 * PAGE_SIZE);
        b.start_tracking().expect("arm over the previous handler");
        raw_store(&mut b, 3 * PAGE_SIZE, 1);
        assert_eq!(
            PREV_FAULTS.load(Ordering::SeqCst),
            0,
            "tracked fault is ours"
        );
        let page = read_only_page();
        // SAFETY: the page is read-only; the previous handler makes it
        // writable and the store retries.
        unsafe { page.add(8).write_volatile(42) };
        assert_eq!(PREV_FAULTS.load(Ordering::SeqCst), 1);
        assert_eq!(PREV_ADDR.load(Ordering::SeqCst), page as usize + 8);
        // SAFETY: the page is mapped and readable.
        assert_eq!(unsafe { page.add(8).read_volatile() }, 42);
        assert_eq!(dirty(&b), vec![3]);
        return;
    }
    let out = run_child("chains_to_previous_handler");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
