//! An MP4's box tree checked before any parser reads it (pure): a hostile file must not hang
//! or mislead the readers of the source's index ([`crate::index`]) and of the pieces a smart
//! cut joins ([`crate::mp4join`]).

/// Whether every box of `data` (and, inside the boxes that hold boxes, every child) has a
/// size of at least its header that fits its parent; a size of 0 ("to the end") only at the
/// top. The mp4 crate loops for ever on a child box of size 0, so nothing reaches it unchecked.
pub fn well_formed(data: &[u8], top: bool, depth: usize) -> bool {
    let mut pos = 0usize;
    while pos < data.len() {
        let Some(header) = data.get(pos..pos + 8) else {
            return false;
        };
        let kind: [u8; 4] = [header[4], header[5], header[6], header[7]];
        let (size, start) = match u32::from_be_bytes([header[0], header[1], header[2], header[3]]) {
            0 if top => (data.len() - pos, 8),
            1 => match data.get(pos + 8..pos + 16) {
                Some(large) => (
                    u64::from_be_bytes(large.try_into().unwrap_or_default()) as usize,
                    16,
                ),
                None => return false,
            },
            n => (n as usize, 8),
        };
        let Some(end) = pos
            .checked_add(size)
            .filter(|&end| size >= start && end <= data.len())
        else {
            return false;
        };
        let payload = &data[pos + start..end];
        let children = match &kind {
            b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"dinf" | b"edts" | b"mvex"
            | b"udta" | b"moof" | b"traf" | b"mfra" => Some(0),
            b"meta" => Some(4),
            b"stsd" => Some(8),
            b"avc1" | b"avc3" | b"hev1" | b"hvc1" | b"encv" => Some(78),
            b"mp4a" | b"enca" | b"Opus" => Some(28),
            _ => None,
        };
        if let Some(skip) = children {
            let inner = payload.get(skip..).unwrap_or_default();
            if depth > 16 || !well_formed(inner, false, depth + 1) {
                return false;
            }
        }
        pos = end;
    }
    true
}
