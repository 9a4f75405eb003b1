//! Reading one audio file: its tags and audio properties (through `lofty`),
//! its SHA-256, its embedded cover, and where its audio data sits.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use lofty::file::{AudioFile as _, FileType, TaggedFile, TaggedFileExt as _};
use lofty::picture::{PictureInformation, PictureType};
use lofty::probe::Probe;
use lofty::tag::{Accessor as _, ItemKey, Tag};
use sha2::{Digest as _, Sha256};

/// The file extensions read as audio, lowercase.
pub const AUDIO_EXTENSIONS: &[&str] = &["flac", "mp3", "ogg", "oga", "opus", "m4a", "wav"];

/// Whether `path` has one of the [`AUDIO_EXTENSIONS`].
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// An image found in or next to audio files.
#[derive(Clone, PartialEq, Eq)]
pub struct FoundImage {
    /// `image/png`, `image/jpeg`, ...
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
    /// Width and height in pixels, when the header says.
    pub dimensions: Option<(u32, u32)>,
    /// `"embedded"` or `"folder"`.
    pub source: &'static str,
}

impl std::fmt::Debug for FoundImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundImage")
            .field("content_type", &self.content_type)
            .field("bytes", &self.data.len())
            .field("dimensions", &self.dimensions)
            .field("source", &self.source)
            .finish()
    }
}

impl FoundImage {
    /// An image from its bytes; `None` if they are neither PNG nor JPEG.
    pub fn from_bytes(data: Vec<u8>, source: &'static str) -> Option<FoundImage> {
        let (content_type, info) = if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            ("image/png", PictureInformation::from_png(&data).ok())
        } else if data.starts_with(&[0xff, 0xd8, 0xff]) {
            ("image/jpeg", PictureInformation::from_jpeg(&data).ok())
        } else {
            return None;
        };
        Some(FoundImage {
            content_type: content_type.to_owned(),
            dimensions: info
                .filter(|i| i.width > 0 && i.height > 0)
                .map(|i| (i.width, i.height)),
            data,
            source,
        })
    }

    /// SHA-256 of the bytes, lowercase hex.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.data))
    }
}

/// Where a FLAC file's audio frames start, and its headers for the
/// `audio_formats` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlacLayout {
    /// `fLaC` and the STREAMINFO block (flagged last): enough for a decoder
    /// to start at any frame.
    pub headers: Vec<u8>,
    /// The SEEKTABLE block's body, if the file has one.
    pub seektable: Option<Vec<u8>>,
    /// The byte offset of the first audio frame.
    pub audio_start: u64,
}

/// Everything bae keeps of one audio file.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
    /// `audio/flac`, `audio/mpeg`, `audio/ogg`, `audio/opus`, `audio/mp4`, `audio/wav`.
    pub content_type: String,
    /// Tags.
    pub title: Option<String>,
    /// The track artist.
    pub artist: Option<String>,
    /// The album title.
    pub album: Option<String>,
    /// The album artist.
    pub album_artist: Option<String>,
    /// Track number.
    pub track: Option<u32>,
    /// Disc number.
    pub disc: Option<u32>,
    /// Release or recording year.
    pub year: Option<i64>,
    /// The file says it belongs to a compilation.
    pub compilation: bool,
    /// Record label.
    pub label: Option<String>,
    /// Catalogue number.
    pub catalog_number: Option<String>,
    /// Barcode.
    pub barcode: Option<String>,
    /// Release country.
    pub country: Option<String>,
    /// MusicBrainz release group id.
    pub musicbrainz_release_group_id: Option<String>,
    /// MusicBrainz release id.
    pub musicbrainz_release_id: Option<String>,
    /// MusicBrainz artist id of the track artist.
    pub musicbrainz_artist_id: Option<String>,
    /// MusicBrainz artist id of the album artist.
    pub musicbrainz_album_artist_id: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Bits per sample, for PCM-like formats.
    pub bits_per_sample: Option<u8>,
    /// Channels.
    pub channels: u8,
    /// Duration in milliseconds.
    pub duration_ms: u64,
    /// The front cover (or first picture) embedded in the tags.
    pub picture: Option<FoundImage>,
    /// FLAC only: headers and where the audio starts.
    pub flac: Option<FlacLayout>,
    /// Byte range of the audio data inside the file (FLAC frames, WAV `data`).
    pub audio_range: Option<(u64, u64)>,
}

/// Why a file could not be read as audio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ProbeError {
    /// What is wrong, in words.
    pub reason: String,
}

fn fail(reason: impl Into<String>) -> ProbeError {
    ProbeError {
        reason: reason.into(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn content_type(file_type: FileType) -> Option<&'static str> {
    Some(match file_type {
        FileType::Flac => "audio/flac",
        FileType::Mpeg => "audio/mpeg",
        FileType::Mp4 => "audio/mp4",
        FileType::Opus => "audio/opus",
        FileType::Vorbis => "audio/ogg",
        FileType::Wav => "audio/wav",
        _ => return None,
    })
}

/// Reads an audio file's bytes, tags and properties.
pub fn probe_file(path: &Path) -> Result<ScannedFile, ProbeError> {
    let bytes = std::fs::read(path).map_err(|e| fail(io_reason(&e)))?;
    probe_bytes(path, &bytes)
}

/// A short reason for an I/O error, without the "(os error N)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_lowercase(),
        None => text.to_lowercase(),
    }
}

/// Reads an audio file already in memory; `path` names it and gives the
/// extension to fall back on when the content says nothing.
pub fn probe_bytes(path: &Path, bytes: &[u8]) -> Result<ScannedFile, ProbeError> {
    if bytes.is_empty() {
        return Err(fail("the file is empty"));
    }
    let mut probe = Probe::new(Cursor::new(bytes))
        .guess_file_type()
        .map_err(|e| fail(io_reason(&e)))?;
    if probe.file_type().is_none()
        && let Some(ft) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(FileType::from_ext)
    {
        probe = probe.set_file_type(ft);
    }
    let Some(file_type) = probe.file_type() else {
        return Err(fail(
            "not an audio format bae reads (FLAC, MP3, Ogg, Opus, M4A, WAV)",
        ));
    };
    let Some(content_type) = content_type(file_type) else {
        return Err(fail(format!(
            "{file_type:?} files are not supported (FLAC, MP3, Ogg, Opus, M4A, WAV are)"
        )));
    };
    let tagged: TaggedFile = probe
        .read()
        .map_err(|e| fail(format!("not a valid {} file: {e}", short_type(file_type))))?;
    let props = tagged.properties();
    let (Some(sample_rate), Some(channels)) = (props.sample_rate(), props.channels()) else {
        return Err(fail(format!(
            "no audio stream found in this {} file",
            short_type(file_type)
        )));
    };
    if sample_rate == 0 || channels == 0 {
        return Err(fail(format!(
            "no audio stream found in this {} file",
            short_type(file_type)
        )));
    }
    let duration_ms = props.duration().as_millis() as u64;
    let flac = if file_type == FileType::Flac {
        Some(
            flac_layout(bytes)
                .ok_or_else(|| fail("not a valid FLAC file: broken metadata blocks"))?,
        )
    } else {
        None
    };
    let audio_range = match (&flac, file_type) {
        (Some(f), _) => Some((f.audio_start, bytes.len() as u64)),
        (None, FileType::Wav) => wav_data_range(bytes),
        _ => None,
    };

    // The tag with the most to say: the primary one, else any with a title.
    let tags: Vec<&Tag> = tagged
        .primary_tag()
        .into_iter()
        .chain(tagged.tags().iter())
        .collect();
    let text = |key: ItemKey| -> Option<String> {
        tags.iter()
            .find_map(|t| t.get_string(key))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let title = tags
        .iter()
        .find_map(|t| t.title())
        .map(|s| s.trim().to_owned());
    let artist = tags
        .iter()
        .find_map(|t| t.artist())
        .map(|s| s.trim().to_owned());
    let album = tags
        .iter()
        .find_map(|t| t.album())
        .map(|s| s.trim().to_owned());
    let track = tags.iter().find_map(|t| t.track());
    let disc = tags.iter().find_map(|t| t.disk());
    let year = tags
        .iter()
        .find_map(|t| t.date().map(|d| i64::from(d.year)))
        .or_else(|| text(ItemKey::Year).and_then(|y| leading_year(&y)))
        .or_else(|| text(ItemKey::RecordingDate).and_then(|y| leading_year(&y)))
        .or_else(|| text(ItemKey::ReleaseDate).and_then(|y| leading_year(&y)))
        .filter(|y| *y > 0);
    let compilation =
        text(ItemKey::FlagCompilation).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let picture = tags
        .iter()
        .flat_map(|t| t.pictures())
        .max_by_key(|p| p.pic_type() == PictureType::CoverFront)
        // The bytes say what the image is; the declared type may lie.
        .and_then(|p| FoundImage::from_bytes(p.data().to_vec(), "embedded"));
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ScannedFile {
        path: path.to_owned(),
        size: bytes.len() as u64,
        sha256: hex(&Sha256::digest(bytes)),
        content_type: content_type.to_owned(),
        title: non_empty(title),
        artist: non_empty(artist),
        album: non_empty(album),
        album_artist: text(ItemKey::AlbumArtist),
        track,
        disc,
        year,
        compilation,
        label: text(ItemKey::Label),
        catalog_number: text(ItemKey::CatalogNumber),
        barcode: text(ItemKey::Barcode),
        country: text(ItemKey::ReleaseCountry),
        musicbrainz_release_group_id: text(ItemKey::MusicBrainzReleaseGroupId),
        musicbrainz_release_id: text(ItemKey::MusicBrainzReleaseId),
        musicbrainz_artist_id: text(ItemKey::MusicBrainzArtistId),
        musicbrainz_album_artist_id: text(ItemKey::MusicBrainzReleaseArtistId),
        sample_rate,
        bits_per_sample: props.bit_depth(),
        channels,
        duration_ms,
        picture,
        flac,
        audio_range,
    })
}

fn short_type(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Flac => "FLAC",
        FileType::Mpeg => "MP3",
        FileType::Mp4 => "M4A",
        FileType::Opus => "Opus",
        FileType::Vorbis => "Ogg Vorbis",
        FileType::Wav => "WAV",
        _ => "audio",
    }
}

fn leading_year(s: &str) -> Option<i64> {
    s.get(..4).and_then(|y| y.parse().ok())
}

/// Size of an ID3v2 tag at the front of `bytes`, if there is one.
fn id3v2_len(bytes: &[u8]) -> usize {
    if bytes.len() >= 10 && &bytes[..3] == b"ID3" {
        let size = bytes[6..10]
            .iter()
            .fold(0usize, |acc, b| (acc << 7) | usize::from(b & 0x7f));
        let footer = if bytes[5] & 0x10 != 0 { 10 } else { 0 };
        10 + size + footer
    } else {
        0
    }
}

/// Walks a FLAC file's metadata blocks.
fn flac_layout(bytes: &[u8]) -> Option<FlacLayout> {
    let start = id3v2_len(bytes);
    if bytes.get(start..start + 4)? != b"fLaC" {
        return None;
    }
    let mut pos = start + 4;
    let mut streaminfo = None;
    let mut seektable = None;
    loop {
        let header = bytes.get(pos..pos + 4)?;
        let last = header[0] & 0x80 != 0;
        let kind = header[0] & 0x7f;
        let len =
            (usize::from(header[1]) << 16) | (usize::from(header[2]) << 8) | usize::from(header[3]);
        let body = bytes.get(pos + 4..pos + 4 + len)?;
        match kind {
            0 => streaminfo = Some(body),
            3 => seektable = Some(body.to_vec()),
            _ => {}
        }
        pos += 4 + len;
        if last {
            break;
        }
    }
    let streaminfo = streaminfo?;
    let mut headers = b"fLaC".to_vec();
    let len = streaminfo.len();
    headers.extend_from_slice(&[0x80, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    headers.extend_from_slice(streaminfo);
    Some(FlacLayout {
        headers,
        seektable,
        audio_start: pos as u64,
    })
}

/// The byte range of a WAV file's `data` chunk.
fn wav_data_range(bytes: &[u8]) -> Option<(u64, u64)> {
    if bytes.get(..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut pos = 12usize;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        if id == b"data" {
            let end = (pos + 8 + len).min(bytes.len());
            return Some(((pos + 8) as u64, end as u64));
        }
        pos += 8 + len + (len & 1);
    }
    None
}

/// Names of cover images looked for next to audio files, in preference order.
const COVER_STEMS: &[&str] = &["cover", "folder", "front", "album", "albumart"];

/// The cover image in `dir` (`cover.png`, `folder.jpg`, ...), if any.
pub fn folder_cover(dir: &Path) -> Option<(PathBuf, FoundImage)> {
    let mut candidates: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let path = e.path();
            let stem = path.file_stem()?.to_str()?.to_ascii_lowercase();
            let ext = path.extension()?.to_str()?.to_ascii_lowercase();
            let rank = COVER_STEMS.iter().position(|s| *s == stem)?;
            ["png", "jpg", "jpeg"]
                .contains(&ext.as_str())
                .then_some((rank, path))
        })
        .collect();
    candidates.sort();
    candidates.into_iter().find_map(|(_, path)| {
        let data = std::fs::read(&path).ok()?;
        FoundImage::from_bytes(data, "folder").map(|img| (path, img))
    })
}
