//! `mini-xen/include/public/counters.h`: resource counters the hypervisor
//! keeps at one symbol, read by the host from RAM.

/// The symbol of the hypervisor's `struct xen_counters`.
pub const SYMBOL: &str = "xen_counters";

/// `struct xen_counters`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XenCounters {
    /// `xmalloc()`ed blocks not yet freed.
    pub heap_blocks: u64,
    /// Their size, block headers included.
    pub heap_bytes: u64,
    /// Live-patch payloads loaded.
    pub lp_payloads: u64,
    /// Pages of the live-patch area in use.
    pub lp_pages: u64,
}

impl XenCounters {
    /// Number of u64 fields, in declaration order.
    pub const WORDS: u64 = (std::mem::size_of::<XenCounters>() / 8) as u64;

    /// The struct from its fields in declaration order.
    pub fn from_words(w: [u64; Self::WORDS as usize]) -> XenCounters {
        XenCounters {
            heap_blocks: w[0],
            heap_bytes: w[1],
            lp_payloads: w[2],
            lp_pages: w[3],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_the_c_compiler() {
        let c = crate::cheader::c_layout(
            "counters.h",
            &[(
                "struct xen_counters",
                &["heap_blocks", "heap_bytes", "lp_payloads", "lp_pages"],
            )],
        );
        let rust: &[(&str, usize)] = &[
            ("struct xen_counters", size_of::<XenCounters>()),
            (
                "struct xen_counters.heap_blocks",
                offset_of!(XenCounters, heap_blocks),
            ),
            (
                "struct xen_counters.heap_bytes",
                offset_of!(XenCounters, heap_bytes),
            ),
            (
                "struct xen_counters.lp_payloads",
                offset_of!(XenCounters, lp_payloads),
            ),
            (
                "struct xen_counters.lp_pages",
                offset_of!(XenCounters, lp_pages),
            ),
        ];
        for (k, v) in rust {
            assert_eq!(c.get(*k), Some(&(*v as u64)), "{k}");
        }
    }

    #[test]
    fn the_symbol_is_the_one_the_header_names() {
        let path = format!(
            "{}/../mini-xen/include/public/counters.h",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("counters.h");
        assert!(
            text.contains(&format!("extern struct xen_counters {SYMBOL};")),
            "{path} does not declare {SYMBOL}"
        );
    }
}
