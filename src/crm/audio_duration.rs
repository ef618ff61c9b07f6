//! How long a voice note plays, read from its container (symphonia's readers, no decoding): the
//! frame count and time base of its first audio track. Phones record m4a (AAC), Ogg (Opus,
//! Vorbis), WAV or MP3. Audio that cannot be read, or whose length the container does not state,
//! has no duration: it is stored all the same.

use std::io::Cursor;

use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::TimeBase;

/// The length of `bytes` (of media type `content_type`) in milliseconds, when it can be read.
pub fn duration_ms(content_type: &str, bytes: &[u8]) -> Option<i64> {
    let mut hint = Hint::new();
    hint.mime_type(content_type.split(';').next().unwrap_or("").trim());
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    // The probe reads the container's headers only; a broken file is an error here, not a panic.
    let probed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        symphonia::default::get_probe().format(&hint, source, &FormatOptions::default(), &MetadataOptions::default())
    }))
    .ok()?
    .ok()?;
    let track = probed.format.default_track()?;
    let params = &track.codec_params;
    let frames = params.n_frames?;
    let time_base = params.time_base.or_else(|| params.sample_rate.map(|rate| TimeBase::new(1, rate)))?;
    let time = time_base.calc_time(frames);
    let ms = time.seconds as f64 * 1000.0 + time.frac * 1000.0;
    (ms.is_finite() && ms > 0.0).then(|| ms.round() as i64)
}

/// A duration as cards and notes show it: `0:42`, `12:05`.
pub fn minutes_seconds(ms: i64) -> String {
    let seconds = (ms + 500) / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV of `ms` milliseconds of silence, 8 kHz mono 16-bit.
    fn wav(ms: u32) -> Vec<u8> {
        let data = 8000 * 2 * ms / 1000;
        let mut bytes = b"RIFF".to_vec();
        bytes.extend((36 + data).to_le_bytes());
        bytes.extend(b"WAVEfmt ");
        bytes.extend(16u32.to_le_bytes());
        bytes.extend(1u16.to_le_bytes()); // PCM
        bytes.extend(1u16.to_le_bytes()); // mono
        bytes.extend(8000u32.to_le_bytes());
        bytes.extend(16000u32.to_le_bytes());
        bytes.extend(2u16.to_le_bytes());
        bytes.extend(16u16.to_le_bytes());
        bytes.extend(b"data");
        bytes.extend(data.to_le_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data as usize));
        bytes
    }

    #[test]
    fn a_wav_is_measured_and_noise_is_not() {
        assert_eq!(duration_ms("audio/wav", &wav(1500)), Some(1500));
        assert_eq!(duration_ms("audio/mp4", b"\x00\x00\x00\x20ftypM4A not really"), None);
        assert_eq!(duration_ms("audio/ogg", &[]), None);
    }

    /// The recordings of fixtures/audio (made with ffmpeg: see its README), as phones send them,
    /// measure what ffprobe says within 0.1 s (the containers count the encoder's priming frames).
    #[test]
    fn real_recordings_are_measured() {
        let fixture =
            |name: &str| std::fs::read(format!("{}/fixtures/audio/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for (name, content_type, ffprobe_ms) in [
            ("memo.m4a", "audio/mp4", 1500),
            ("memo.ogg", "audio/ogg", 1206),
            ("memo.wav", "audio/wav", 1000),
            ("memo.mp3", "audio/mpeg", 2088),
        ] {
            let measured = duration_ms(content_type, &fixture(name)).unwrap_or_else(|| panic!("{name} is measured"));
            assert!((measured - ffprobe_ms).abs() <= 100, "{name}: {measured} ms, ffprobe {ffprobe_ms} ms");
            // The media type is a hint only: a recording sent with a vague one is measured as well.
            assert!(duration_ms("application/octet-stream", &fixture(name)).is_some(), "{name} without its type");
        }
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(minutes_seconds(42_000), "0:42");
        assert_eq!(minutes_seconds(41_600), "0:42");
        assert_eq!(minutes_seconds(725_000), "12:05");
    }
}
