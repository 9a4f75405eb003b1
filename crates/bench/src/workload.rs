//! The deterministic library workload: a plan of transactions that builds a
//! music library the way bae's app does (one transaction per album import,
//! then the import's completion, then a history of edits, deletes and
//! re-imports), and an executor that writes the plan through any [`Sink`].
//!
//! Everything is decided by [`Spec::seed`] when the plan is generated, before
//! anything is timed: the executor only resolves row ids (which the writer
//! makes, see [`bae_store::Writer::new_id`]) and calls the typed write
//! operations of [`bae_store::writes`]. No wall clock and no OS randomness is
//! read: transaction times are virtual milliseconds in the plan, and every
//! sink makes ids with [`bae_oplog::SeededIds`] from the same seed, so two
//! sinks given the same plan end with the same rows, ids and timestamps.

use bae_store::writes::{
    self, AlbumImport, AlbumPatch, ArtistPatch, ImportStatus, ImportedAlbum, NewAlbum, NewArtist,
    NewAudioFormat, NewFile, NewImage, NewRelease, NewTrack, TrackPatch,
};
use bae_store::{WriteError, Writer};
use serde::Serialize;

use crate::rng::Rng;

/// The virtual wall time of the first transaction (2025-11-24T16:00:00Z).
pub const START_MS: u64 = 1_764_000_000_000;

/// Files per track: a FLAC (with its `audio_formats` row) and an MP3 copy.
pub const FILES_PER_TRACK: usize = 2;

/// How big a library to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// 20 artists, 10 albums: seconds, for tests and `--smoke`.
    Smoke,
    /// 2,000 artists, 1,000 albums, 15,000 tracks, 30,000 files.
    Medium,
    /// Ten times medium.
    Large,
}

impl Scale {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Scale::Smoke => "smoke",
            Scale::Medium => "medium",
            Scale::Large => "large",
        }
    }
}

/// The shape of a workload. [`Spec::for_scale`] gives the standard ones.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    /// Which standard size this is.
    pub scale: Scale,
    /// Decides every generated value.
    pub seed: u64,
    /// Artists created (in the import transactions of the albums that first
    /// credit them).
    pub artists: usize,
    /// Albums, each with one release.
    pub albums: usize,
    /// Average tracks per album; the total is exactly `albums * this`.
    pub tracks_per_album: usize,
    /// Percentage of tracks retitled after import.
    pub retitle_track_percent: u64,
    /// Percentage of albums whose year is corrected after import.
    pub edit_album_percent: u64,
    /// Percentage of artists whose sort name is edited after import.
    pub edit_artist_percent: u64,
    /// Percentage of albums deleted and imported again (new ids) at the end.
    pub reimport_album_percent: u64,
    /// Percentage of artists with an artist image.
    pub artist_image_percent: u64,
}

impl Spec {
    /// The standard workload of `scale`.
    pub fn for_scale(scale: Scale, seed: u64) -> Spec {
        let (artists, albums) = match scale {
            Scale::Smoke => (20, 10),
            Scale::Medium => (2_000, 1_000),
            Scale::Large => (20_000, 10_000),
        };
        Spec {
            scale,
            seed,
            artists,
            albums,
            tracks_per_album: 15,
            retitle_track_percent: 5,
            edit_album_percent: 2,
            edit_artist_percent: 2,
            reimport_album_percent: 1,
            artist_image_percent: 10,
        }
    }
}

/// An artist to create, with an optional image.
#[derive(Debug, Clone)]
pub struct ArtistPlan {
    /// The artist.
    pub artist: NewArtist,
    /// Set with `set_artist_image` right after the artist is created.
    pub image: Option<NewImage>,
}

/// One track of an album plan.
#[derive(Debug, Clone)]
pub struct TrackPlan {
    /// The track; its `artist_ids` are filled in from `artists` when written.
    pub track: NewTrack,
    /// Track artist credits, as indexes into [`Workload::artists`].
    pub artists: Vec<usize>,
    /// The FLAC and the MP3 of the track.
    pub files: [NewFile; FILES_PER_TRACK],
    /// The FLAC's audio format; `track_id` and `file_id` are filled in.
    pub format: NewAudioFormat,
}

/// Everything one album import writes.
#[derive(Debug, Clone)]
pub struct AlbumPlan {
    /// Artists this import creates if they do not exist yet (indexes into
    /// [`Workload::artists`]).
    pub new_artists: Vec<usize>,
    /// The album; its `artist_ids` are filled in from `album_artists`.
    pub album: NewAlbum,
    /// Album artist credits, as indexes into [`Workload::artists`].
    pub album_artists: Vec<usize>,
    /// The album's one release.
    pub release: NewRelease,
    /// The tracks, in order.
    pub tracks: Vec<TrackPlan>,
    /// The cover, set with `set_cover_image`.
    pub cover: NewImage,
}

/// What one transaction does.
#[derive(Debug, Clone)]
pub enum Step {
    /// Creates the album's new artists, then inserts the album with its
    /// release, tracks, credits, Discogs/MusicBrainz ids, files, audio
    /// formats and cover. A second import of the same plan (after a delete)
    /// makes new ids.
    ImportAlbum(usize),
    /// Marks every track and then the release of an imported album complete.
    FinishImport(usize),
    /// Retitles some tracks of an album: `(track index, new title)`.
    RetitleTracks {
        /// The album.
        album: usize,
        /// Track index and new title.
        titles: Vec<(usize, String)>,
    },
    /// Corrects an album's year.
    EditAlbumYear {
        /// The album.
        album: usize,
        /// The new year.
        year: i64,
    },
    /// Edits an artist's sort name.
    EditArtistSortName {
        /// The artist.
        artist: usize,
        /// The new sort name.
        sort_name: String,
    },
    /// Deletes an album and everything under it.
    DeleteAlbum(usize),
}

/// One transaction of the plan.
#[derive(Debug, Clone)]
pub struct Txn {
    /// The virtual wall time it runs at (milliseconds since the epoch).
    pub at_ms: u64,
    /// What it writes.
    pub step: Step,
}

/// A generated workload: the content to write and the transactions that
/// write it.
#[derive(Debug, Clone)]
pub struct Workload {
    /// What it was generated from.
    pub spec: Spec,
    /// Every artist.
    pub artists: Vec<ArtistPlan>,
    /// Every album.
    pub albums: Vec<AlbumPlan>,
    /// The transactions, in order, with strictly increasing times.
    pub txns: Vec<Txn>,
}

/// Where a workload's transactions go: a library database behind some
/// [`Writer`]. The benchmark has one sink per variant it compares.
pub trait Sink {
    /// Runs `f` as one transaction at virtual time `at_ms` and commits it.
    fn transaction(
        &mut self,
        at_ms: u64,
        f: &mut dyn FnMut(&mut dyn Writer) -> Result<(), WriteError>,
    ) -> anyhow::Result<()>;
}

const WORDS: &[&str] = &[
    "love",
    "night",
    "blue",
    "river",
    "golden",
    "shadow",
    "dream",
    "city",
    "fire",
    "rain",
    "summer",
    "heart",
    "light",
    "electric",
    "midnight",
    "silver",
    "ocean",
    "winter",
    "song",
    "road",
    "home",
    "dance",
    "wild",
    "sweet",
    "broken",
    "stars",
    "morning",
    "lonely",
    "paper",
    "glass",
    "echo",
    "velvet",
    "thunder",
    "garden",
    "north",
    "seven",
    "little",
    "strange",
    "memory",
    "highway",
    "crystal",
    "desert",
    "moon",
    "sugar",
    "black",
    "white",
    "street",
    "forever",
    "tonight",
    "angel",
    "machine",
    "orchestra",
    "ballad",
    "reprise",
    "interlude",
    "suite",
    "movement",
    "overture",
    "fantasia",
    "nocturne",
    "prelude",
    "variations",
];

const FIRST_NAMES: &[&str] = &[
    "Nina",
    "Miles",
    "Aretha",
    "John",
    "Joni",
    "Marvin",
    "Billie",
    "Thelonious",
    "Ella",
    "Bob",
    "Kate",
    "David",
    "Patti",
    "Leonard",
    "Björk",
    "Fela",
    "Alice",
    "Charles",
    "Sade",
    "Tom",
    "Yoko",
    "Arvo",
    "Hildegard",
    "Ravi",
    "Astrud",
    "Caetano",
    "Mahalia",
    "Ornette",
    "Erykah",
];

const LAST_NAMES: &[&str] = &[
    "Simone",
    "Davis",
    "Franklin",
    "Coltrane",
    "Mitchell",
    "Gaye",
    "Holiday",
    "Monk",
    "Fitzgerald",
    "Dylan",
    "Bush",
    "Bowie",
    "Smith",
    "Cohen",
    "Kuti",
    "Mingus",
    "Waits",
    "Ono",
    "Pärt",
    "Shankar",
    "Gilberto",
    "Veloso",
    "Jackson",
    "Badu",
    "Reinhardt",
    "Hancock",
    "Jarrett",
];

const LABELS: &[&str] = &[
    "Blue Note",
    "Impulse!",
    "Columbia",
    "Warp",
    "4AD",
    "ECM",
    "Motown",
    "Verve",
    "Rough Trade",
    "Sub Pop",
    "Matador",
    "Nonesuch",
    "Atlantic",
    "Stax",
    "Factory",
    "Island",
    "Domino",
];

const COUNTRIES: &[&str] = &[
    "US", "GB", "DE", "FR", "JP", "NL", "SE", "CA", "AU", "BR", "XW",
];

const FORMATS: &[&str] = &[
    "CD",
    "CD",
    "CD",
    "Digital Media",
    "Vinyl",
    "Cassette",
    "SACD",
];

fn word(rng: &mut Rng) -> &'static str {
    rng.pick::<&str>(WORDS)
}

fn capitalize(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A title of 10 to 40 characters.
fn title(rng: &mut Rng) -> String {
    let target = rng.range(10, 40) as usize;
    let mut t = capitalize(word(rng));
    while t.chars().count() < target {
        t.push(' ');
        let w = word(rng);
        t.push_str(&if rng.percent(40) {
            capitalize(w)
        } else {
            w.to_owned()
        });
    }
    // At least `target` (>= 10) characters now; cut to at most 40.
    if t.chars().count() > 40 {
        t = t.chars().take(40).collect::<String>().trim_end().to_owned();
    }
    t
}

fn artist_name(rng: &mut Rng) -> (String, Option<String>) {
    if rng.percent(35) {
        let band = format!("The {} {}s", capitalize(word(rng)), capitalize(word(rng)));
        (band, None)
    } else {
        let (first, last) = (*rng.pick(FIRST_NAMES), *rng.pick(LAST_NAMES));
        let extra = if rng.percent(20) {
            format!(" {}", rng.pick(LAST_NAMES))
        } else {
            String::new()
        };
        (
            format!("{first}{extra} {last}"),
            Some(format!("{last}, {first}{extra}")),
        )
    }
}

fn image(rng: &mut Rng, mbid: Option<&str>) -> NewImage {
    let source = *rng.pick(&["folder", "embedded", "musicbrainz", "discogs"]);
    let side = rng.range(500, 1600);
    NewImage {
        content_type: if rng.percent(80) {
            "image/jpeg".into()
        } else {
            "image/png".into()
        },
        file_size: rng.range(40_000, 2_500_000),
        width: Some(side),
        height: Some(side),
        content_hash: rng.hex(32),
        source: source.into(),
        source_url: match source {
            "musicbrainz" => Some(format!(
                "https://coverartarchive.org/release/{}/front-1200.jpg",
                mbid.map_or_else(|| rng.uuid(), str::to_owned)
            )),
            "discogs" => Some(format!("https://i.discogs.com/{}.jpg", rng.hex(20))),
            _ => None,
        },
    }
}

fn make_artist(rng: &mut Rng, spec: &Spec) -> ArtistPlan {
    let (name, sort_name) = artist_name(rng);
    let sort_name = sort_name.filter(|_| rng.percent(70));
    let discogs_artist_id = rng
        .percent(50)
        .then(|| rng.range(1_000, 9_999_999).to_string());
    let musicbrainz_artist_id = rng.percent(70).then(|| rng.uuid());
    let image = rng
        .percent(spec.artist_image_percent)
        .then(|| image(rng, None));
    ArtistPlan {
        artist: NewArtist {
            name,
            sort_name,
            discogs_artist_id,
            musicbrainz_artist_id,
        },
        image,
    }
}

/// A FLAC seek table of `points` 18-byte seek points (sample number, byte
/// offset, frame samples; big-endian as in the FLAC format).
fn seektable(points: u64, total_samples: u64, bytes: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(points as usize * 18);
    for k in 0..points {
        out.extend_from_slice(&(k * total_samples / points).to_be_bytes());
        out.extend_from_slice(&(k * bytes / points).to_be_bytes());
        out.extend_from_slice(&4096u16.to_be_bytes());
    }
    out
}

fn file_safe(s: &str) -> String {
    s.replace('/', "-")
}

fn make_track(
    rng: &mut Rng,
    number: i64,
    disc: Option<i64>,
    artists: Vec<usize>,
    dir: &str,
) -> TrackPlan {
    let title = title(rng);
    let duration_ms = rng.range(90_000, 600_000);
    let sample_rate = *rng.pick(&[44_100, 44_100, 44_100, 48_000, 96_000]);
    let bits = if sample_rate == 44_100 && rng.percent(80) {
        16
    } else {
        24
    };
    let flac_size = duration_ms * sample_rate * bits * 2 / 8 / 1000 * rng.range(55, 70) / 100;
    let mp3_size = duration_ms * 32; // ~256 kbit/s
    let stem = format!("{number:02} - {}", file_safe(&title));
    let file = |ext: &str, size: i64, content_type: &str, rng: &mut Rng| NewFile {
        original_filename: format!("{stem}.{ext}"),
        file_size: size,
        content_type: content_type.into(),
        content_hash: Some(rng.hex(32)),
        source_path: Some(format!("{dir}/{stem}.{ext}")),
    };
    let files = [
        file("flac", flac_size, "audio/flac", rng),
        file("mp3", mp3_size, "audio/mpeg", rng),
    ];
    let mut flac_headers = b"fLaC\x00\x00\x00\x22".to_vec();
    flac_headers.extend(rng.bytes(34));
    let header_len = 8192 + rng.range(0, 4096);
    let points = rng.range(10, 30) as u64;
    let total_samples = (duration_ms * sample_rate / 1000) as u64;
    let format = NewAudioFormat {
        track_id: String::new(),
        file_id: String::new(),
        content_type: "audio/flac".into(),
        sample_rate,
        bits_per_sample: Some(bits),
        channels: 2,
        duration_ms: Some(duration_ms),
        start_byte_offset: Some(header_len),
        end_byte_offset: Some(flac_size),
        pregap_ms: rng.percent(10).then(|| rng.range(0, 2_000)),
        flac_headers: Some(flac_headers),
        seektable: Some(seektable(points, total_samples, flac_size as u64)),
    };
    TrackPlan {
        track: NewTrack {
            title,
            disc_number: disc,
            track_number: Some(number),
            duration_ms: Some(duration_ms),
            artist_ids: Vec::new(),
        },
        artists,
        files,
        format,
    }
}

fn make_album(
    rng: &mut Rng,
    artists: &[ArtistPlan],
    new_artists: std::ops::Range<usize>,
    track_count: usize,
) -> AlbumPlan {
    // Artists that exist once this album's new ones are created.
    let known = new_artists.end.max(1);
    let primary = if new_artists.is_empty() {
        rng.index(known)
    } else {
        new_artists.start
    };
    let compilation = rng.percent(5);
    let mut album_artists = vec![primary];
    if known > 1 && rng.percent(15) {
        let other = rng.index(known);
        if other != primary {
            album_artists.push(other);
        }
    }
    let title = title(rng);
    let year = rng.percent(90).then(|| rng.range(1955, 2025));
    let mb_release = rng.uuid();
    let discogs = rng.percent(60).then(|| {
        (
            rng.percent(80)
                .then(|| rng.range(1_000, 3_999_999).to_string()),
            rng.range(1_000, 29_999_999).to_string(),
        )
    });
    let musicbrainz = rng
        .percent(80)
        .then(|| (rng.uuid(), rng.percent(90).then(|| mb_release.clone())));
    let release = NewRelease {
        release_name: rng.percent(30).then(|| {
            (*rng.pick(&["Deluxe Edition", "Remastered", "Expanded Edition", "Mono"])).into()
        }),
        year: year.map(|y| {
            if rng.percent(20) {
                y + rng.range(1, 30)
            } else {
                y
            }
        }),
        format: Some((*rng.pick(FORMATS)).into()),
        label: rng.percent(85).then(|| (*rng.pick(LABELS)).into()),
        catalog_number: rng
            .percent(75)
            .then(|| format!("{}-{}", rng.hex(2).to_uppercase(), rng.digits(5))),
        country: rng.percent(80).then(|| (*rng.pick(COUNTRIES)).into()),
        barcode: rng.percent(70).then(|| rng.digits(13)),
    };
    let dir = format!(
        "/home/bae/Music/{}/{} ({})",
        file_safe(&artists[primary].artist.name),
        file_safe(&title),
        year.unwrap_or(0)
    );
    let two_discs = track_count >= 12 && rng.percent(10);
    let tracks = (0..track_count)
        .map(|i| {
            let (disc, number) = if two_discs {
                let half = track_count.div_ceil(2);
                if i < half {
                    (Some(1), i + 1)
                } else {
                    (Some(2), i - half + 1)
                }
            } else {
                (Some(1), i + 1)
            };
            let mut credits = vec![if compilation {
                rng.index(known)
            } else {
                primary
            }];
            if known > 1 && rng.percent(20) {
                let featured = rng.index(known);
                if !credits.contains(&featured) {
                    credits.push(featured);
                }
            }
            make_track(rng, number as i64, disc, credits, &dir)
        })
        .collect();
    let cover = image(rng, Some(&mb_release));
    AlbumPlan {
        new_artists: new_artists.collect(),
        album: NewAlbum {
            title,
            year,
            is_compilation: compilation,
            artist_ids: Vec::new(),
            discogs,
            musicbrainz,
        },
        album_artists,
        release,
        tracks,
        cover,
    }
}

/// `percent` of `n`, rounded, and at least one when neither is zero, so that
/// even the smoke workload exercises every kind of history.
fn share(n: usize, percent: u64) -> usize {
    if n == 0 || percent == 0 {
        return 0;
    }
    ((n as u64 * percent + 50) / 100).max(1) as usize
}

/// `k` distinct indexes of `0..n`, in increasing order.
fn choose(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in 0..k.min(n) {
        let j = i + rng.index(n - i);
        all.swap(i, j);
    }
    let mut chosen = all[..k.min(n)].to_vec();
    chosen.sort_unstable();
    chosen
}

impl Workload {
    /// Generates the workload of `spec`. The same spec always gives the same
    /// workload.
    pub fn generate(spec: &Spec) -> Workload {
        assert!(spec.artists >= 1 && spec.albums >= 1, "empty workload");
        let root = Rng::new(spec.seed);
        let mut rng = root.fork(1);
        let artists: Vec<ArtistPlan> = (0..spec.artists)
            .map(|_| make_artist(&mut rng, spec))
            .collect();

        // Track counts vary around the average in pairs that sum to twice it,
        // so the total is exact.
        let avg = spec.tracks_per_album as i64;
        let mut counts = vec![spec.tracks_per_album; spec.albums];
        let mut rng = root.fork(2);
        for pair in counts.chunks_mut(2) {
            if let [a, b] = pair {
                let d = rng.range(0, (avg / 2).min(7));
                *a = (avg + d) as usize;
                *b = (avg - d) as usize;
            }
        }
        let mut rng = root.fork(3);
        let albums: Vec<AlbumPlan> = (0..spec.albums)
            .map(|i| {
                let new = i * spec.artists / spec.albums..(i + 1) * spec.artists / spec.albums;
                make_album(&mut rng, &artists, new, counts[i])
            })
            .collect();

        let mut rng = root.fork(4);
        let mut now = START_MS;
        let mut txns = Vec::new();
        let mut at = |rng: &mut Rng, lo: i64, hi: i64| {
            now += rng.range(lo, hi) as u64 * 1000;
            now
        };
        // Phase 1: import every album, each followed by its completion.
        for i in 0..spec.albums {
            txns.push(Txn {
                at_ms: at(&mut rng, 20, 120),
                step: Step::ImportAlbum(i),
            });
            txns.push(Txn {
                at_ms: at(&mut rng, 30, 600),
                step: Step::FinishImport(i),
            });
        }
        // Phase 2: edits, in a shuffled order.
        let mut edits = Vec::new();
        let total_tracks: usize = counts.iter().sum();
        let flat: Vec<(usize, usize)> = counts
            .iter()
            .enumerate()
            .flat_map(|(a, &n)| (0..n).map(move |t| (a, t)))
            .collect();
        let mut by_album: std::collections::BTreeMap<usize, Vec<(usize, String)>> =
            std::collections::BTreeMap::new();
        for k in choose(
            &mut rng,
            total_tracks,
            share(total_tracks, spec.retitle_track_percent),
        ) {
            let (a, t) = flat[k];
            let old = &albums[a].tracks[t].track.title;
            let mut new = title(&mut rng);
            if &new == old {
                new.push_str(" (Remix)");
            }
            by_album.entry(a).or_default().push((t, new));
        }
        edits.extend(
            by_album
                .into_iter()
                .map(|(album, titles)| Step::RetitleTracks { album, titles }),
        );
        for a in choose(
            &mut rng,
            spec.albums,
            share(spec.albums, spec.edit_album_percent),
        ) {
            let year = albums[a].album.year.map_or(2001, |y| y + 1);
            edits.push(Step::EditAlbumYear { album: a, year });
        }
        for a in choose(
            &mut rng,
            spec.artists,
            share(spec.artists, spec.edit_artist_percent),
        ) {
            let plan = &artists[a].artist;
            let mut sort_name = plan.name.to_uppercase();
            if plan.sort_name.as_ref() == Some(&sort_name) {
                sort_name.push('.');
            }
            edits.push(Step::EditArtistSortName {
                artist: a,
                sort_name,
            });
        }
        for i in (1..edits.len()).rev() {
            edits.swap(i, rng.index(i + 1));
        }
        for step in edits {
            txns.push(Txn {
                at_ms: at(&mut rng, 5, 300),
                step,
            });
        }
        // Phase 3: delete some albums and import them again.
        for a in choose(
            &mut rng,
            spec.albums,
            share(spec.albums, spec.reimport_album_percent),
        ) {
            for step in [
                Step::DeleteAlbum(a),
                Step::ImportAlbum(a),
                Step::FinishImport(a),
            ] {
                txns.push(Txn {
                    at_ms: at(&mut rng, 10, 120),
                    step,
                });
            }
        }
        Workload {
            spec: spec.clone(),
            artists,
            albums,
            txns,
        }
    }

    /// Counts describing the workload, for reports.
    pub fn summary(&self) -> serde_json::Value {
        let count = |f: fn(&Step) -> bool| self.txns.iter().filter(|t| f(&t.step)).count();
        let tracks: usize = self.albums.iter().map(|a| a.tracks.len()).sum();
        let retitled: usize = self
            .txns
            .iter()
            .map(|t| match &t.step {
                Step::RetitleTracks { titles, .. } => titles.len(),
                _ => 0,
            })
            .sum();
        serde_json::json!({
            "spec": self.spec,
            "artists": self.artists.len(),
            "artist_images": self.artists.iter().filter(|a| a.image.is_some()).count(),
            "albums": self.albums.len(),
            "releases": self.albums.len(),
            "tracks": tracks,
            "files": tracks * FILES_PER_TRACK,
            "audio_formats": tracks,
            "transactions": self.txns.len(),
            "album_imports": count(|s| matches!(s, Step::ImportAlbum(_))),
            "import_completions": count(|s| matches!(s, Step::FinishImport(_))),
            "retitled_tracks": retitled,
            "album_year_edits": count(|s| matches!(s, Step::EditAlbumYear { .. })),
            "artist_edits": count(|s| matches!(s, Step::EditArtistSortName { .. })),
            "albums_deleted_and_reimported": count(|s| matches!(s, Step::DeleteAlbum(_))),
        })
    }

    /// Writes every transaction of the plan into `sink`, in order.
    pub fn execute(&self, sink: &mut dyn Sink) -> anyhow::Result<()> {
        let mut state = State {
            artists: vec![None; self.artists.len()],
            albums: vec![None; self.albums.len()],
        };
        for txn in &self.txns {
            sink.transaction(txn.at_ms, &mut |w| self.apply(&mut state, &txn.step, w))?;
        }
        Ok(())
    }

    fn apply(&self, state: &mut State, step: &Step, w: &mut dyn Writer) -> Result<(), WriteError> {
        match step {
            Step::ImportAlbum(slot) => {
                let plan = &self.albums[*slot];
                for &a in &plan.new_artists {
                    if state.artists[a].is_none() {
                        let ap = &self.artists[a];
                        let id = writes::create_artist(w, &ap.artist)?;
                        if let Some(img) = &ap.image {
                            writes::set_artist_image(w, &id, img)?;
                        }
                        state.artists[a] = Some(id);
                    }
                }
                let mut album = plan.album.clone();
                album.artist_ids = plan
                    .album_artists
                    .iter()
                    .map(|&a| state.artist(a))
                    .collect();
                let tracks = plan
                    .tracks
                    .iter()
                    .map(|t| NewTrack {
                        artist_ids: t.artists.iter().map(|&a| state.artist(a)).collect(),
                        ..t.track.clone()
                    })
                    .collect();
                let import = AlbumImport {
                    album,
                    release: plan.release.clone(),
                    tracks,
                };
                let imported = writes::insert_album_with_release_and_tracks(w, &import)?;
                for (t, track_id) in plan.tracks.iter().zip(&imported.track_ids) {
                    let flac = writes::add_file(w, &imported.release_id, &t.files[0])?;
                    writes::add_file(w, &imported.release_id, &t.files[1])?;
                    let format = NewAudioFormat {
                        track_id: track_id.clone(),
                        file_id: flac,
                        ..t.format.clone()
                    };
                    writes::add_audio_format(w, &format)?;
                }
                writes::set_cover_image(w, &imported.album_id, &plan.cover)?;
                state.albums[*slot] = Some(imported);
            }
            Step::FinishImport(slot) => {
                let album = state.album(*slot);
                for id in &album.track_ids {
                    writes::mark_track_complete(w, id)?;
                }
                writes::set_release_import_status(w, &album.release_id, ImportStatus::Complete)?;
            }
            Step::RetitleTracks { album, titles } => {
                let album = state.album(*album);
                for (t, title) in titles {
                    let patch = TrackPatch {
                        title: Some(title.clone()),
                        ..Default::default()
                    };
                    writes::update_track(w, &album.track_ids[*t], &patch)?;
                }
            }
            Step::EditAlbumYear { album, year } => {
                let patch = AlbumPatch {
                    year: Some(Some(*year)),
                    ..Default::default()
                };
                writes::update_album(w, &state.album(*album).album_id, &patch)?;
            }
            Step::EditArtistSortName { artist, sort_name } => {
                let patch = ArtistPatch {
                    sort_name: Some(Some(sort_name.clone())),
                    ..Default::default()
                };
                writes::update_artist(w, &state.artist(*artist), &patch)?;
            }
            Step::DeleteAlbum(slot) => {
                let id = state.album(*slot).album_id.clone();
                writes::delete_album(w, &id)?;
                state.albums[*slot] = None;
            }
        }
        Ok(())
    }
}

/// Ids the writer made for the plan's rows so far.
struct State {
    artists: Vec<Option<String>>,
    albums: Vec<Option<ImportedAlbum>>,
}

impl State {
    fn artist(&self, i: usize) -> String {
        self.artists[i]
            .clone()
            .unwrap_or_else(|| panic!("workload bug: artist {i} used before it was created"))
    }

    fn album(&self, i: usize) -> &ImportedAlbum {
        self.albums[i]
            .as_ref()
            .unwrap_or_else(|| panic!("workload bug: album {i} used while not imported"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medium_has_the_specified_size_and_is_reproducible() {
        let spec = Spec::for_scale(Scale::Medium, 42);
        let w = Workload::generate(&spec);
        assert_eq!(w.artists.len(), 2_000);
        assert_eq!(w.albums.len(), 1_000);
        let tracks: usize = w.albums.iter().map(|a| a.tracks.len()).sum();
        assert_eq!(tracks, 15_000);
        assert_eq!(tracks * FILES_PER_TRACK, 30_000);
        for a in &w.albums {
            for t in &a.tracks {
                let n = t.track.title.chars().count();
                assert!((10..=40).contains(&n), "title {:?}", t.track.title);
                let st = t.format.seektable.as_ref().unwrap().len();
                assert!((180..=540).contains(&st));
            }
        }
        assert!(w.txns.windows(2).all(|p| p[0].at_ms < p[1].at_ms));
        let again = Workload::generate(&spec);
        assert_eq!(format!("{w:?}"), format!("{again:?}"));
        let other = Workload::generate(&Spec::for_scale(Scale::Medium, 43));
        assert_ne!(format!("{w:?}"), format!("{other:?}"));
    }

    #[test]
    fn smoke_still_has_every_kind_of_history() {
        let w = Workload::generate(&Spec::for_scale(Scale::Smoke, 1));
        let has = |f: fn(&Step) -> bool| w.txns.iter().any(|t| f(&t.step));
        assert!(has(|s| matches!(s, Step::RetitleTracks { .. })));
        assert!(has(|s| matches!(s, Step::EditAlbumYear { .. })));
        assert!(has(|s| matches!(s, Step::EditArtistSortName { .. })));
        assert!(has(|s| matches!(s, Step::DeleteAlbum(_))));
    }
}
