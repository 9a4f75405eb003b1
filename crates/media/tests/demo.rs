//! The demo library: real files that lofty reads back with their tags.

use bae_media::demo::{CoverPlacement, DemoConfig, DemoFormat, generate};
use lofty::prelude::*;

#[test]
fn demo_library_is_real_tagged_audio() {
    let dir = tempfile::tempdir().unwrap();
    let config = DemoConfig {
        seconds_per_track: 1.0,
        sample_rate: 22_050,
        cover_size: 64,
        seed: 3,
    };
    let report = generate(dir.path(), &config).unwrap();
    assert_eq!(report.artists().len(), 3);
    assert_eq!(report.albums.len(), 5);
    assert_eq!(report.track_count(), 40);
    for album in &report.albums {
        assert_eq!(
            album.dir.join("cover.png").exists(),
            album.cover == CoverPlacement::Folder,
            "{}",
            album.title
        );
        for (i, path) in album.files.iter().enumerate() {
            let file = lofty::read_from_path(path).unwrap();
            let expected = match album.format {
                DemoFormat::Flac => lofty::file::FileType::Flac,
                DemoFormat::Wav => lofty::file::FileType::Wav,
            };
            assert_eq!(file.file_type(), expected);
            let props = file.properties();
            assert_eq!(props.sample_rate(), Some(22_050));
            assert_eq!(props.channels(), Some(2));
            assert_eq!(props.bit_depth(), Some(16));
            let ms = props.duration().as_millis();
            assert!((990..=1010).contains(&ms), "{}: {ms} ms", path.display());
            let tag = file
                .tags()
                .iter()
                .find(|t| t.title().is_some())
                .expect("a tag with a title");
            assert_eq!(tag.artist().as_deref(), Some(album.artist.as_str()));
            assert_eq!(tag.album().as_deref(), Some(album.title.as_str()));
            assert_eq!(
                tag.get_string(ItemKey::AlbumArtist),
                Some(album.artist.as_str())
            );
            assert!(tag.track().is_some());
            assert_eq!(
                tag.pictures().len(),
                usize::from(album.cover == CoverPlacement::Embedded)
            );
            if album.files.len() == 8 {
                assert_eq!(tag.track(), Some(i as u32 + 1));
            }
        }
    }
    // Deterministic: the same config writes the same bytes.
    let again = tempfile::tempdir().unwrap();
    let second = generate(again.path(), &config).unwrap();
    for (a, b) in report.files().zip(second.files()) {
        let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
        let first_diff = x.iter().zip(&y).position(|(p, q)| p != q);
        assert!(
            x.len() == y.len() && first_diff.is_none(),
            "{}: {} vs {} bytes, first difference at {first_diff:?}",
            a.display(),
            x.len(),
            y.len()
        );
    }
}
