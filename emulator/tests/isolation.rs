//! Guest isolation: each domain runs in its own address space, in which
//! only its own memory window is present. Ring-3 code of d1 that reaches
//! for dom0's window or mailbox faults and d1 is crashed; the hypervisor
//! and the other domains keep running, dom0's memory is untouched, and
//! no sysctl from an unprivileged domain ever gets past -EPERM.

mod common;

use abi::livepatch::XEN_SYSCTL_LIVEPATCH_OP;
use abi::platform::{domain_window, MBOX_BUF_OFFSET, MBOX_OP_LOAD, MBOX_OP_STORE, MBOX_STATE};
use common::{boot, console, ok, run};
use emulator::hypercall::{errno, nr, Guest, XEN_SYSCTL_INTERFACE_VERSION};
use emulator::{CrashReason, Machine, MachineError};

const MS: u64 = 1_000_000;

/// Has d`domid`'s ring-3 code load or store the word at `addr`.
fn access(
    m: &mut Machine,
    domid: u32,
    op: u64,
    addr: u64,
    value: u64,
) -> Result<i64, MachineError> {
    Guest::new(m, domid)
        .call(op, [addr, value, 0, 0, 0], &[])
        .map(|(r, _)| r)
}

/// The domain never completes the request: it was crashed.
fn crashed(m: &Machine, domid: u32, r: Result<i64, MachineError>) {
    match r {
        Err(MachineError::Crash(c)) => {
            assert!(matches!(c.reason, CrashReason::Budget(_)), "{c}");
            let text = console(m);
            assert!(text.contains(&format!("Domain {domid} crashed")), "{text}");
            assert!(
                text.contains(&format!("d{domid} v0: unhandled page fault")),
                "{text}"
            );
        }
        other => panic!("d{domid}: access succeeded: {other:?}\n{}", console(m)),
    }
}

/// A live-patch sysctl (GET of nothing) and XEN_SYSCTL_physinfo from `domid`.
fn sysctls(m: &mut Machine, domid: u32) -> [i64; 2] {
    let mut lp = vec![0u8; 64];
    lp[..4].copy_from_slice(&XEN_SYSCTL_LIVEPATCH_OP.to_le_bytes());
    lp[4..8].copy_from_slice(&XEN_SYSCTL_INTERFACE_VERSION.to_le_bytes());
    let buf = emulator::hypercall::mailbox_buf(domid);
    let (rc, _) = run(m, |m| {
        Guest::new(m, domid).call(nr::SYSCTL, [buf, 0, 0, 0, 0], &lp)
    });
    let phys = run(m, |m| Guest::new(m, domid).physinfo())
        .err()
        .unwrap_or(0);
    [rc, phys]
}

#[test]
fn a_domain_cannot_reach_another_domains_memory() {
    let mut m = boot(2, 1);
    let r = m.run_for(5 * MS);
    ok(&m, r);

    // Its own window is there.
    let own = domain_window(1) + MBOX_BUF_OFFSET;
    assert_eq!(run(&mut m, |m| access(m, 1, MBOX_OP_STORE, own, 0x1234)), 0);
    assert_eq!(run(&mut m, |m| access(m, 1, MBOX_OP_LOAD, own, 0)), 0x1234);

    for d in [1, 2] {
        assert_eq!(sysctls(&mut m, d), [-errno::EPERM; 2], "d{d}");
    }

    // d1 writes dom0's mailbox (where the host posts dom0's sysctls).
    let d0_mbox = domain_window(0) + MBOX_STATE;
    let d0_buf = domain_window(0) + MBOX_BUF_OFFSET;
    let mut before = vec![0u8; 4096];
    m.ram().read(domain_window(0), &mut before).expect("ram");
    let r = access(&mut m, 1, MBOX_OP_STORE, d0_mbox, 1);
    crashed(&m, 1, r);
    let mut after = vec![0u8; 4096];
    m.ram().read(domain_window(0), &mut after).expect("ram");
    assert_eq!(before, after, "dom0's mailbox page changed");

    // d2 reads dom0's buffer.
    let r = access(&mut m, 2, MBOX_OP_LOAD, d0_buf, 0);
    crashed(&m, 2, r);

    // The hypervisor and dom0 go on; dom0 keeps its privilege.
    assert_eq!(run(&mut m, |m| Guest::new(m, 0).version()), (4, 21));
    let lp = sysctls(&mut m, 0);
    assert_ne!(lp[1], -errno::EPERM, "dom0's physinfo: {lp:?}");
    let r = m.run_for(20 * MS);
    ok(&m, r);
    assert_eq!(run(&mut m, |m| Guest::new(m, 0).version()), (4, 21));
}
