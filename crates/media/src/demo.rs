//! A small demo library of real, playable audio files, so anyone can try
//! the whole flow without music of their own.
//!
//! [`generate`] writes three artists, five albums and forty tracks under a
//! directory: `{artist}/{year} - {album}/{disc-}{nn} - {title}.{flac|wav}`.
//! Each track is a few seconds of synthesized melody (a sine, a square and a
//! plucked-string voice, one per artist), encoded as 16-bit stereo FLAC (pure
//! Rust, `flacenc`) or WAV, and tagged through `lofty` (Vorbis comments in
//! FLAC, ID3v2 in WAV): title, artist, album, album artist, track and disc
//! numbers and totals, date and genre. Two albums carry their cover embedded
//! in every file; the other three have a `cover.png` in their folder. The
//! same [`DemoConfig`] always gives byte-identical files.

use std::path::{Path, PathBuf};

use flacenc::component::BitRepr as _;
use flacenc::error::Verify as _;
use lofty::TextEncoding;
use lofty::config::WriteOptions;
use lofty::id3::v2::{Frame, FrameId, Id3v2Tag, TextInformationFrame};
use lofty::ogg::OggPictureStorage as _;
use lofty::ogg::tag::VorbisComments;
use lofty::picture::{MimeType, Picture, PictureType};
use lofty::tag::{Accessor, TagExt as _};

use crate::cover::cover_png;
use crate::synth::{Voice, melody};

/// How to generate the demo library.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Length of each track in seconds.
    pub seconds_per_track: f32,
    /// Sample rate in Hz of every file.
    pub sample_rate: u32,
    /// Width and height of the covers in pixels.
    pub cover_size: u32,
    /// Varies the melodies and covers; the same seed gives the same files.
    pub seed: u64,
}

impl Default for DemoConfig {
    /// Four seconds per track at 44.1 kHz, 300×300 covers: about 15 MB.
    fn default() -> DemoConfig {
        DemoConfig {
            seconds_per_track: 4.0,
            sample_rate: 44_100,
            cover_size: 300,
            seed: 1,
        }
    }
}

impl DemoConfig {
    /// One second per track at 22.05 kHz with 64×64 covers: the same
    /// library in about 2 MB, written in a few seconds even by a debug
    /// build, for tests.
    pub fn quick() -> DemoConfig {
        DemoConfig {
            seconds_per_track: 1.0,
            sample_rate: 22_050,
            cover_size: 64,
            seed: 1,
        }
    }
}

/// The container of a demo album's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoFormat {
    /// FLAC with Vorbis comments.
    Flac,
    /// WAV with an ID3v2 tag.
    Wav,
}

impl DemoFormat {
    fn ext(self) -> &'static str {
        match self {
            DemoFormat::Flac => "flac",
            DemoFormat::Wav => "wav",
        }
    }
}

/// Where a demo album's cover is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverPlacement {
    /// Embedded as the front cover picture in every file.
    Embedded,
    /// `cover.png` next to the files.
    Folder,
}

/// One generated album.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoAlbum {
    /// The album artist.
    pub artist: String,
    /// The album title.
    pub title: String,
    /// The release year.
    pub year: u32,
    /// The folder holding its files.
    pub dir: PathBuf,
    /// The container of its files.
    pub format: DemoFormat,
    /// Where its cover is.
    pub cover: CoverPlacement,
    /// Its track files, in disc and track order.
    pub files: Vec<PathBuf>,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// The directory everything is under.
    pub dir: PathBuf,
    /// The albums, in catalogue order.
    pub albums: Vec<DemoAlbum>,
    /// Bytes written, audio and covers.
    pub total_bytes: u64,
}

impl DemoReport {
    /// The distinct album artists.
    pub fn artists(&self) -> Vec<&str> {
        let mut artists: Vec<&str> = self.albums.iter().map(|a| a.artist.as_str()).collect();
        artists.dedup();
        artists
    }

    /// Every track file.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.albums
            .iter()
            .flat_map(|a| a.files.iter().map(PathBuf::as_path))
    }

    /// The number of tracks.
    pub fn track_count(&self) -> usize {
        self.albums.iter().map(|a| a.files.len()).sum()
    }
}

/// Why the demo library could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or directory could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's tags could not be written.
    #[error("cannot tag {path}: {reason}")]
    Tag {
        /// The file.
        path: PathBuf,
        /// What lofty said.
        reason: String,
    },
    /// The audio could not be encoded (a configuration the encoder refuses,
    /// such as a sample rate FLAC cannot carry).
    #[error("cannot encode {path}: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// What the encoder said.
        reason: String,
    },
}

struct Spec {
    artist: &'static str,
    voice: Voice,
    genre: &'static str,
    title: &'static str,
    year: u32,
    format: DemoFormat,
    cover: CoverPlacement,
    root_midi: i32,
    /// Track titles per disc.
    discs: &'static [&'static [&'static str]],
}

const CATALOGUE: &[Spec] = &[
    Spec {
        artist: "The Sine Waves",
        voice: Voice::Sine,
        genre: "Ambient",
        title: "Pure Tones",
        year: 2019,
        format: DemoFormat::Flac,
        cover: CoverPlacement::Embedded,
        root_midi: 60,
        discs: &[&[
            "Concert A",
            "Phase Locked",
            "Zero Crossing",
            "Fundamental",
            "Standing Wave",
            "Quiet Carrier",
            "Nyquist Lullaby",
            "Decay",
        ]],
    },
    Spec {
        artist: "The Sine Waves",
        voice: Voice::Sine,
        genre: "Ambient",
        title: "Overtones",
        year: 2021,
        format: DemoFormat::Flac,
        cover: CoverPlacement::Folder,
        root_midi: 64,
        discs: &[&[
            "Second Partial",
            "Just Intonation",
            "Beating",
            "Resonance",
            "Harmonic Series",
            "Sympathetic Strings",
            "Undertow",
            "Coda in Pentatonic",
        ]],
    },
    Spec {
        artist: "Square Root",
        voice: Voice::Square,
        genre: "Chiptune",
        title: "Odd Harmonics",
        year: 2020,
        format: DemoFormat::Wav,
        cover: CoverPlacement::Folder,
        root_midi: 57,
        discs: &[&[
            "Fifty Percent Duty",
            "Gibbs Phenomenon",
            "Third and Fifth",
            "Eight Bit Sunrise",
            "Aliasing",
            "Low Pass",
            "Rectifier",
            "Ringing",
        ]],
    },
    Spec {
        artist: "Square Root",
        voice: Voice::Square,
        genre: "Chiptune",
        title: "Pulse Width",
        year: 2022,
        format: DemoFormat::Flac,
        cover: CoverPlacement::Embedded,
        root_midi: 62,
        discs: &[&[
            "Twelve Point Five",
            "Modulation",
            "Sweep",
            "Noise Channel",
            "Arpeggio",
            "Envelope",
            "Game Over",
        ]],
    },
    Spec {
        artist: "Karplus & Strong",
        voice: Voice::Pluck,
        genre: "Folk",
        title: "Plucked",
        year: 2023,
        format: DemoFormat::Flac,
        cover: CoverPlacement::Folder,
        root_midi: 55,
        discs: &[
            &[
                "Delay Line",
                "White Noise Burst",
                "Averaging Filter",
                "Open String",
                "Feedback",
            ],
            &["Harp of Samples", "Fretless", "Damping", "Last Note"],
        ],
    },
];

/// Makes a file-name-safe version of a title.
fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| if "/\\:*?\"<>|".contains(c) { '_' } else { c })
        .collect()
}

/// Writes the demo library under `dir` (created if needed; existing files of
/// the same names are replaced).
pub fn generate(dir: &Path, config: &DemoConfig) -> Result<DemoReport, DemoError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| DemoError::Io { path, source }
    };
    let mut report = DemoReport {
        dir: dir.to_owned(),
        albums: Vec::new(),
        total_bytes: 0,
    };
    for (album_index, spec) in CATALOGUE.iter().enumerate() {
        let album_seed = config
            .seed
            .wrapping_mul(1_000_003)
            .wrapping_add(album_index as u64);
        let album_dir = dir.join(file_safe(spec.artist)).join(format!(
            "{} - {}",
            spec.year,
            file_safe(spec.title)
        ));
        std::fs::create_dir_all(&album_dir).map_err(io(&album_dir))?;
        let cover = cover_png(config.cover_size, album_seed);
        if spec.cover == CoverPlacement::Folder {
            let path = album_dir.join("cover.png");
            std::fs::write(&path, &cover).map_err(io(&path))?;
            report.total_bytes += cover.len() as u64;
        }
        let mut album = DemoAlbum {
            artist: spec.artist.to_owned(),
            title: spec.title.to_owned(),
            year: spec.year,
            dir: album_dir.clone(),
            format: spec.format,
            cover: spec.cover,
            files: Vec::new(),
        };
        let multi_disc = spec.discs.len() > 1;
        for (disc_index, titles) in spec.discs.iter().enumerate() {
            for (track_index, title) in titles.iter().enumerate() {
                let (disc, track) = (disc_index as u32 + 1, track_index as u32 + 1);
                let name = if multi_disc {
                    format!(
                        "{disc}-{track:02} - {}.{}",
                        file_safe(title),
                        spec.format.ext()
                    )
                } else {
                    format!("{track:02} - {}.{}", file_safe(title), spec.format.ext())
                };
                let path = album_dir.join(name);
                let samples = melody(
                    spec.voice,
                    spec.root_midi,
                    config.seconds_per_track,
                    config.sample_rate,
                    album_seed
                        .wrapping_mul(131)
                        .wrapping_add(u64::from(disc * 100 + track)),
                );
                match spec.format {
                    DemoFormat::Flac => write_flac(&path, &samples, config.sample_rate)?,
                    DemoFormat::Wav => write_wav(&path, &samples, config.sample_rate)?,
                }
                let facts = TrackTags {
                    title,
                    spec,
                    track,
                    track_total: titles.len() as u32,
                    disc,
                    cover: (spec.cover == CoverPlacement::Embedded).then_some(cover.as_slice()),
                };
                write_tags(&path, &facts).map_err(|e| DemoError::Tag {
                    path: path.clone(),
                    reason: e,
                })?;
                report.total_bytes += std::fs::metadata(&path).map_err(io(&path))?.len();
                album.files.push(path);
            }
        }
        report.albums.push(album);
    }
    Ok(report)
}

struct TrackTags<'a> {
    title: &'a str,
    spec: &'a Spec,
    track: u32,
    track_total: u32,
    disc: u32,
    cover: Option<&'a [u8]>,
}

/// Tags a file: Vorbis comments in FLAC, ID3v2 in WAV. Both are built as
/// the concrete tag with frames in a fixed order (lofty's generic-to-ID3v2
/// conversion orders frames by a hash map, which would make the files
/// differ from run to run).
fn write_tags(path: &Path, t: &TrackTags<'_>) -> Result<(), String> {
    fn common<T: Accessor>(tag: &mut T, t: &TrackTags<'_>) {
        tag.set_title(t.title.to_owned());
        tag.set_artist(t.spec.artist.to_owned());
        tag.set_album(t.spec.title.to_owned());
        tag.set_genre(t.spec.genre.to_owned());
        tag.set_track(t.track);
        tag.set_track_total(t.track_total);
        tag.set_disk(t.disc);
        tag.set_disk_total(t.spec.discs.len() as u32);
    }
    let picture = |data: &[u8]| {
        Picture::unchecked(data.to_vec())
            .pic_type(PictureType::CoverFront)
            .mime_type(MimeType::Png)
            .build()
    };
    match t.spec.format {
        DemoFormat::Flac => {
            let mut tag = VorbisComments::new();
            common(&mut tag, t);
            tag.push("ALBUMARTIST".to_owned(), t.spec.artist.to_owned());
            tag.push("DATE".to_owned(), t.spec.year.to_string());
            if let Some(cover) = t.cover {
                tag.insert_picture(picture(cover), None)
                    .map_err(|e| e.to_string())?;
            }
            tag.save_to_path(path, WriteOptions::default())
                .map_err(|e| e.to_string())
        }
        DemoFormat::Wav => {
            let mut tag = Id3v2Tag::new();
            common(&mut tag, t);
            for (id, value) in [
                ("TPE2", t.spec.artist.to_owned()),
                ("TDRC", t.spec.year.to_string()),
            ] {
                let id = FrameId::new(id).expect("a valid frame id");
                tag.insert(Frame::Text(TextInformationFrame::new(
                    id,
                    TextEncoding::UTF8,
                    value,
                )));
            }
            if let Some(cover) = t.cover {
                tag.insert_picture(picture(cover));
            }
            tag.save_to_path(path, WriteOptions::default())
                .map_err(|e| e.to_string())
        }
    }
}

fn write_flac(path: &Path, samples: &[i32], sample_rate: u32) -> Result<(), DemoError> {
    let encode = |reason: String| DemoError::Encode {
        path: path.to_owned(),
        reason,
    };
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| encode(format!("{e:?}")))?;
    let source = flacenc::source::MemSource::from_samples(samples, 2, 16, sample_rate as usize);
    let stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| encode(format!("{e:?}")))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .map_err(|e| encode(format!("{e:?}")))?;
    std::fs::write(path, sink.as_slice()).map_err(|source| DemoError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_wav(path: &Path, samples: &[i32], sample_rate: u32) -> Result<(), DemoError> {
    let err = |e: hound::Error| match e {
        hound::Error::IoError(source) => DemoError::Io {
            path: path.to_owned(),
            source,
        },
        other => DemoError::Encode {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    };
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(err)?;
    for s in samples {
        writer.write_sample(*s as i16).map_err(err)?;
    }
    writer.finalize().map_err(err)
}
