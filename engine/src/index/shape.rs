//! A source's shape (frame size, frame rate, duration) from its index: what the work budget
//! checks before any byte of media is read ([`crate::budget`]).

use super::SourceIndex;

impl SourceIndex {
    /// The source's shape as its index tells it, before any byte of media is read: the video
    /// track's frame size, its frame rate (frames over their span) and its duration.
    pub fn shape(&self) -> crate::budget::SourceShape {
        let shown = self.video.iter().map(|v| v.0);
        let (first, last) = shown.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
            (lo.min(t), hi.max(t))
        });
        let frames = self.video.len() as f64;
        // The last frame shows for about as long as the others.
        let span = match frames > 1.0 && last > first {
            true => (last - first) * frames / (frames - 1.0),
            false => 0.0,
        };
        crate::budget::SourceShape {
            width: self.frame.0,
            height: self.frame.1,
            fps: if span > 0.0 { frames / span } else { 0.0 },
            duration_s: span,
        }
    }
}
