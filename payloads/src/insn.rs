//! x86-64 instruction helpers (yaxpeax-x86): instruction boundaries for
//! PC-relative relocation targets, and the instruction a change report
//! names. (yaxpeax decodes from static tables: no start-up cost, where
//! iced-x86 builds its decoder tables on first use, which took two thirds
//! of a small diff's instructions.)

use yaxpeax_arch::{DecodeError as _, LengthedInstruction};
use yaxpeax_x86::long_mode::{InstDecoder, Instruction, Opcode, Operand, RegSpec};

/// One step of a linear decode: the instruction at the start of `bytes`
/// and its length, or `None` when the bytes end inside it. Bytes that are
/// no instruction count as a one-byte unit, as a linear sweep must go on.
fn step(dec: &InstDecoder, bytes: &[u8]) -> Option<(Option<Instruction>, u64)> {
    match dec.decode_slice(bytes) {
        Ok(insn) => Some((Some(insn), insn.len().to_const().max(1))),
        Err(e) if e.data_exhausted() => None,
        Err(_) => Some((None, 1)),
    }
}

/// Instruction boundaries of one code section, decoded once.
#[derive(Debug, Clone, Default)]
pub struct InsnMap {
    /// (start, end) of every decoded instruction, sorted by start.
    spans: Vec<(u32, u32)>,
}

impl InsnMap {
    /// Decode `code` linearly from offset 0.
    pub fn decode(code: &[u8]) -> Self {
        let dec = InstDecoder::default();
        let mut spans = Vec::new();
        let mut pos = 0usize;
        while let Some(rest) = code.get(pos..).filter(|r| !r.is_empty()) {
            let Some((_, len)) = step(&dec, rest) else {
                break;
            };
            let next = pos.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            let (Ok(s), Ok(e)) = (u32::try_from(pos), u32::try_from(next)) else {
                break;
            };
            spans.push((s, e));
            pos = next;
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

/// Whether `op` is a relative branch's displacement (the branch's operand
/// is an immediate only for the IP-relative forms).
fn is_relative_branch(op: Opcode) -> bool {
    op.is_jcc()
        || matches!(
            op,
            Opcode::JMP
                | Opcode::CALL
                | Opcode::LOOP
                | Opcode::LOOPZ
                | Opcode::LOOPNZ
                | Opcode::JRCXZ
                | Opcode::JECXZ
                | Opcode::XBEGIN
        )
}

/// Where the PC-relative branch or memory operand of `insn` (at `ip`, of
/// length `len`) points, if it has one.
fn pc_relative_target(insn: &Instruction, ip: u64, len: u64) -> Option<u64> {
    let next = ip.wrapping_add(len);
    let branch = is_relative_branch(insn.opcode());
    (0..insn.operand_count()).find_map(|i| match insn.operand(i) {
        Operand::Disp { base, disp } | Operand::DispMasked { base, disp, .. }
            if base == RegSpec::rip() =>
        {
            Some(next.wrapping_add_signed(i64::from(disp)))
        }
        Operand::Disp { base, disp } | Operand::DispMasked { base, disp, .. }
            if base == RegSpec::eip() =>
        {
            Some(next.wrapping_add_signed(i64::from(disp)) & 0xffff_ffff)
        }
        Operand::ImmediateI8 { imm } if branch => Some(next.wrapping_add_signed(i64::from(imm))),
        Operand::ImmediateI16 { imm } if branch => {
            Some(next.wrapping_add_signed(i64::from(imm)) & 0xffff)
        }
        Operand::ImmediateI32 { imm } if branch => Some(next.wrapping_add_signed(i64::from(imm))),
        _ => None,
    })
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
    let dec = InstDecoder::default();
    let mut pos = 0u64;
    while let Some(rest) = piece
        .get(usize::try_from(pos).ok()?..)
        .filter(|r| !r.is_empty())
    {
        let (insn, len) = step(&dec, rest)?;
        let a = start + pos;
        let b = a.saturating_add(len);
        if let Some(t) = insn.and_then(|i| pc_relative_target(&i, a, len)) {
            if (t < start || t >= end) && !has_reloc(a, b) {
                return Some((a, t));
            }
        }
        pos = pos.saturating_add(len);
    }
    None
}

/// The instruction of `code` that contains `off`, for change reports:
/// `+0xc: lea (8d 04 7f)`, its offset, mnemonic and bytes.
pub fn describe_at(code: &[u8], off: u64) -> Option<String> {
    let map = InsnMap::decode(code);
    let (start, end) = map.containing(off)?;
    let bytes = code.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    let mnemonic = match InstDecoder::default().decode_slice(bytes) {
        Ok(insn) => insn.opcode().to_string(),
        Err(_) => "(bad)".to_owned(),
    };
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("+{start:#x}: {mnemonic} ({})", hex.join(" ")))
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
    fn rip_relative_operands_are_found_in_every_encoding() {
        // lea 0x10(%rip), %rax ; vmovdqu64 0x20(%rip), %zmm0{%k1} ; ret
        let code = [
            0x48, 0x8d, 0x05, 0x10, 0, 0, 0, 0x62, 0xf1, 0xfe, 0x49, 0x6f, 0x05, 0x20, 0, 0, 0,
            0xc3,
        ];
        // Both point past the 18-byte piece, and carry no relocation.
        assert_eq!(
            unrelocated_escape(&code, 0, 18, |_, _| false),
            Some((0, 7 + 0x10))
        );
        assert_eq!(
            unrelocated_escape(&code, 7, 18, |_, _| false),
            Some((7, 17 + 0x20))
        );
        let map = InsnMap::decode(&code);
        assert_eq!(map.containing(13), Some((7, 17)));
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
