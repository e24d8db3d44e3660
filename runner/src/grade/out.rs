//! Writing into `--out` without following a link planted there: each file is made new beside
//! its place (O_CREAT|O_EXCL|O_NOFOLLOW, a name nobody else uses) and renamed over it, which
//! replaces a link rather than writing where it points; a folder that is a link is replaced by
//! a folder.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// `dir`, made a real folder: a link there (to anywhere) is removed first.
pub fn folder(dir: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dir).is_ok_and(|meta| !meta.is_dir()) {
        eprintln!("warning: {} was not a folder (a link, or a file): it is replaced by one", dir.display());
        std::fs::remove_file(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Write `text` as the file `dir/name`, replacing what was there (a link is replaced, not
/// followed).
pub fn write(dir: &Path, name: &str, text: &[u8]) -> Result<()> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static MADE: AtomicU32 = AtomicU32::new(0);
    let path = dir.join(name);
    let temporary =
        dir.join(format!(".{name}.{}-{}.new", std::process::id(), MADE.fetch_add(1, Ordering::SeqCst)));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644)
        .open(&temporary)
        .and_then(|mut file| file.write_all(text))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.with_context(|| format!("writing {}", path.display()))
}
