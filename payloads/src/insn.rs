//! x86-64 instruction helpers (iced-x86): instruction boundaries for
//! PC-relative relocation targets, and the instruction a change report
//! names.

use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind};

/// Instruction boundaries of one code section, decoded once.
#[derive(Debug, Clone, Default)]
pub struct InsnMap {
    /// (start, end) of every decoded instruction, sorted by start.
    spans: Vec<(u32, u32)>,
}

impl InsnMap {
    /// Decode `code` linearly from offset 0.
    pub fn decode(code: &[u8]) -> Self {
        let mut spans = Vec::new();
        let Ok(mut dec) = Decoder::try_with_ip(64, code, 0, DecoderOptions::NONE) else {
            return InsnMap { spans };
        };
        let mut insn = Instruction::default();
        while dec.can_decode() {
            let start = dec.position();
            dec.decode_out(&mut insn);
            let end = dec.position();
            if end <= start {
                break;
            }
            let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end)) else {
                break;
            };
            spans.push((s, e));
        }
        InsnMap { spans }
    }

    /// The instruction containing byte `off`, as (start, end).
    pub fn containing(&self, off: u64) -> Option<(u64, u64)> {
        let off32 = u32::try_from(off).ok()?;
        let idx = match self.spans.binary_search_by(|&(s, _)| s.cmp(&off32)) {
            Ok(i) => i,
            Err(0) => return None,
            Err(i) => i - 1,
        };
        let &(s, e) = self.spans.get(idx)?;
        (off32 < e).then_some((u64::from(s), u64::from(e)))
    }
}

/// Distance from a relocated field at `field` to the end of its instruction
/// (4 for a plain `call rel32`, 8 for `movl $imm32, sym(%rip)`).
pub fn field_to_insn_end(map: &InsnMap, field: u64) -> Option<u64> {
    map.containing(field)
        .map(|(_, end)| end.saturating_sub(field))
}

/// Within `code[start..end]` (a piece of a section that is copied alone),
/// find a PC-relative branch or memory reference that leaves the piece and
/// carries no relocation (the assembler resolved it against the rest of the
/// section, so the copy would point to the wrong place). `has_reloc(a, b)`
/// tells whether a relocation lies in `[a, b)`. Returns the offset of the
/// instruction and its target.
pub fn unrelocated_escape(
    code: &[u8],
    start: u64,
    end: u64,
    has_reloc: impl Fn(u64, u64) -> bool,
) -> Option<(u64, u64)> {
    let piece = code.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    let mut dec = Decoder::try_with_ip(64, piece, start, DecoderOptions::NONE).ok()?;
    let mut insn = Instruction::default();
    while dec.can_decode() {
        dec.decode_out(&mut insn);
        let (a, b) = (insn.ip(), insn.next_ip());
        let target = if insn.is_ip_rel_memory_operand() {
            Some(insn.ip_rel_memory_address())
        } else if insn.op_count() > 0
            && matches!(
                insn.op0_kind(),
                OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64
            )
        {
            Some(insn.near_branch_target())
        } else {
            None
        };
        if let Some(t) = target {
            if (t < start || t >= end) && !has_reloc(a, b) {
                return Some((a, t));
            }
        }
    }
    None
}

/// The instruction of `code` that contains `off`, for change reports:
/// `+0xc: lea (8d 04 7f)`, its offset, mnemonic and bytes. (No operand
/// formatting: iced's formatters build their tables on first use, which
/// costs more than diffing a whole small object.)
pub fn describe_at(code: &[u8], off: u64) -> Option<String> {
    let map = InsnMap::decode(code);
    let (start, end) = map.containing(off)?;
    let bytes = code.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    let mut dec = Decoder::try_with_ip(64, bytes, start, DecoderOptions::NONE).ok()?;
    let insn = dec.decode();
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!(
        "+{start:#x}: {} ({})",
        format!("{:?}", insn.mnemonic()).to_lowercase(),
        hex.join(" ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        // call rel32 ; movl $1, 0(%rip) ; ret
        let code = [0xe8, 0, 0, 0, 0, 0xc7, 0x05, 0, 0, 0, 0, 1, 0, 0, 0, 0xc3];
        let map = InsnMap::decode(&code);
        assert_eq!(field_to_insn_end(&map, 1), Some(4));
        assert_eq!(field_to_insn_end(&map, 7), Some(8));
        assert_eq!(map.containing(15), Some((15, 16)));
        assert_eq!(map.containing(16), None);
        assert_eq!(describe_at(&code, 15).as_deref(), Some("+0xf: ret (c3)"));
        assert_eq!(
            describe_at(&code, 7).as_deref(),
            Some("+0x5: mov (c7 05 00 00 00 00 01 00 00 00)")
        );
    }

    #[test]
    fn escapes() {
        // jmp +2 (to 4) ; ret ; ret ; ret
        let code = [0xeb, 0x02, 0xc3, 0xc3, 0xc3];
        assert_eq!(unrelocated_escape(&code, 0, 3, |_, _| false), Some((0, 4)));
        assert_eq!(unrelocated_escape(&code, 0, 3, |_, _| true), None);
        assert_eq!(unrelocated_escape(&code, 0, 5, |_, _| false), None);
    }
}
