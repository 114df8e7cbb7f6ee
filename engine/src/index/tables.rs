//! A track's sample tables (pure): copied out of the parsed `moov`, then every sample's
//! times (on the file's timeline, as ffmpeg's mov demuxer gives them, and in the track's
//! ticks) and its place in the file.

use mp4::MoovBox;

use super::MAX_SAMPLES;

/// One sample: times in seconds on the file's timeline, the same in the track's ticks, and
/// where its bytes are.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub pts: f64,
    pub dts: f64,
    pub key: bool,
    pub start: u64,
    pub end: u64,
    /// Decoding time in ticks from the track's first sample (no edit applied).
    pub dts_ticks: i64,
    /// Presentation time less decoding time, ticks (`ctts`).
    pub cts_offset: i64,
    pub duration: i64,
}

/// A track's sample tables, copied out of the parsed boxes.
pub(crate) struct Tables {
    pub timescale: u64,
    /// `elst`: (segment duration in movie ticks, media time, rate).
    edits: Vec<(u64, u64, u16)>,
    /// `stts`: (count, duration).
    durations: Vec<(u32, u32)>,
    /// `ctts`: (count, offset).
    shown: Vec<(u32, i32)>,
    /// `stss`: sync sample numbers from 1, when not every sample is one.
    sync: Option<Vec<u32>>,
    /// `stsc`: (first chunk from 1, samples per chunk).
    per_chunk: Vec<(u32, u32)>,
    /// `stsz`: a fixed size (0: `sizes` lists each), the count.
    fixed_size: u32,
    sizes: Vec<u32>,
    /// How many samples the track lists (`stsz`).
    pub count: u64,
    /// `stco` / `co64`.
    chunks: Vec<u64>,
}

impl Tables {
    /// The tables of track `n` of `moov`.
    pub fn of(moov: &MoovBox, n: usize) -> Result<Tables, String> {
        let trak = &moov.traks[n];
        let stbl = &trak.mdia.minf.stbl;
        let chunks = match (&stbl.stco, &stbl.co64) {
            (Some(stco), _) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
            (None, Some(co64)) => co64.entries.clone(),
            (None, None) => return Err("a track without chunk offsets".into()),
        };
        let edits = trak.edts.as_ref().and_then(|e| e.elst.as_ref());
        Ok(Tables {
            timescale: u64::from(trak.mdia.mdhd.timescale),
            edits: (edits.iter().flat_map(|e| &e.entries))
                .map(|e| (e.segment_duration, e.media_time, e.media_rate))
                .collect(),
            durations: (stbl.stts.entries.iter())
                .map(|e| (e.sample_count, e.sample_delta))
                .collect(),
            shown: (stbl.ctts.iter().flat_map(|c| &c.entries))
                .map(|e| (e.sample_count, e.sample_offset))
                .collect(),
            sync: stbl.stss.as_ref().map(|s| s.entries.clone()),
            per_chunk: (stbl.stsc.entries.iter())
                .map(|e| (e.first_chunk, e.samples_per_chunk))
                .collect(),
            fixed_size: stbl.stsz.sample_size,
            sizes: stbl.stsz.sample_sizes.clone(),
            count: u64::from(stbl.stsz.sample_count),
            chunks,
        })
    }

    /// The size of sample `n` (from 0).
    fn size(&self, n: usize) -> u64 {
        u64::from(match self.fixed_size {
            0 => self.sizes.get(n).copied().unwrap_or(0),
            fixed => fixed,
        })
    }

    /// Every sample, in decoding order.
    pub fn samples(&self, movie_timescale: u64) -> Result<Vec<Sample>, String> {
        if self.timescale == 0 {
            return Err("a track with a timescale of 0".into());
        }
        if self.count > MAX_SAMPLES {
            return Err(format!("a track of {} samples", self.count));
        }
        let shift = self.edit_shift(movie_timescale)?;
        let offsets = self.offsets()?;
        // Run-length tables, expanded lazily (their counts are the file's word).
        let mut durations = (self.durations.iter())
            .flat_map(|&(count, d)| std::iter::repeat_n(i64::from(d), count as usize));
        let mut shown = (self.shown.iter())
            .flat_map(|&(count, o)| std::iter::repeat_n(i64::from(o), count as usize));
        let seconds = |ticks: i64| ticks as f64 / self.timescale as f64;
        let mut dts: i64 = 0;
        let mut samples = Vec::with_capacity(offsets.len());
        for (n, offset) in offsets.into_iter().enumerate() {
            let cts_offset = shown.next().unwrap_or(0);
            let duration = durations.next().unwrap_or(0);
            let sync = self.sync.as_ref();
            samples.push(Sample {
                pts: seconds(dts + cts_offset - shift),
                dts: seconds(dts - shift),
                key: sync.is_none_or(|k| k.binary_search(&(n as u32 + 1)).is_ok()),
                start: offset,
                end: offset + self.size(n),
                dts_ticks: dts,
                cts_offset,
                duration,
            });
            dts += duration;
        }
        Ok(samples)
    }

    /// How far the edit list moves media times back (track ticks): the first non-empty edit's
    /// start, less any empty edits before it. More than one non-empty edit, or a rate other
    /// than 1, is not mapped.
    fn edit_shift(&self, movie_timescale: u64) -> Result<i64, String> {
        let too_long = |_| "an edit list too long".to_owned();
        let mut delay: i64 = 0;
        let mut start = None;
        for &(segment, media_time, rate) in &self.edits {
            let empty = media_time == u64::from(u32::MAX) || media_time == u64::MAX;
            if empty && start.is_none() {
                let ticks = u128::from(segment) * u128::from(self.timescale)
                    / u128::from(movie_timescale.max(1));
                delay += i64::try_from(ticks).map_err(too_long)?;
            } else if !empty {
                if start.is_some() || rate != 1 {
                    return Err("an edit list that cuts or slows the video".into());
                }
                start = Some(i64::try_from(media_time).map_err(too_long)?);
            }
        }
        Ok(start.unwrap_or(0) - delay)
    }

    /// Where each sample starts: the chunk offsets spread by the sample-to-chunk table and
    /// the sizes.
    fn offsets(&self) -> Result<Vec<u64>, String> {
        let mut offsets = Vec::with_capacity(self.count as usize);
        let chunk_index = |first: u32| (first.max(1) as usize - 1).min(self.chunks.len());
        for (i, &(first, per_chunk)) in self.per_chunk.iter().enumerate() {
            let from = chunk_index(first);
            let to = (self.per_chunk.get(i + 1)).map_or(self.chunks.len(), |n| chunk_index(n.0));
            for &chunk in self.chunks.get(from..to.max(from)).unwrap_or_default() {
                let mut at = chunk;
                for _ in 0..per_chunk {
                    if offsets.len() as u64 == self.count {
                        return Ok(offsets);
                    }
                    let n = offsets.len();
                    offsets.push(at);
                    at += self.size(n);
                }
            }
        }
        if (offsets.len() as u64) < self.count {
            return Err("its index places fewer samples than it lists".into());
        }
        Ok(offsets)
    }
}
