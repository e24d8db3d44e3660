//! Where each student's server runs: the flags that set its sandbox and limits (`grade`, and
//! `check --sandbox`), and the fresh copy of a submission it works in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use harness::sandbox::{Limits, Sandbox, parse_bytes};

/// The limits of each student's server, and what more it may read.
#[derive(clap::Args, Clone, Debug)]
pub struct SandboxArgs {
    /// Seconds of CPU a server may use; then the kernel stops it (SIGXCPU).
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().cpu_seconds)]
    pub cpu_limit: u64,
    /// Address space a server may map (512M, 4G), threads' stacks included.
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_bytes)]
    pub memory_limit: u64,
    /// Processes and threads a server may have at once (a fork storm stops there).
    #[arg(long, value_name = "N", default_value_t = Limits::default().processes)]
    pub process_limit: u64,
    /// The largest file a server may write (64M, 1G).
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse_bytes)]
    pub file_size_limit: u64,
    /// File descriptors (sockets included) a server may hold open at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().open_files)]
    pub open_files_limit: u64,
    /// The space a submission's copy, HOME and TMPDIR may take together (a tmpfs of that size,
    /// in memory, where grade runs as root in namespaces; elsewhere only each file is limited).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_bytes)]
    pub disk_limit: u64,
    /// A folder or file a server may read besides its own copy and what a language runtime
    /// needs (a library the whole class uses); repeat for more.
    #[arg(long, value_name = "PATH")]
    pub allow_read: Vec<PathBuf>,
}

impl SandboxArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            cpu_seconds: self.cpu_limit,
            memory_bytes: self.memory_limit,
            processes: self.process_limit,
            file_bytes: self.file_size_limit,
            open_files: self.open_files_limit,
        }
    }

    /// The same flags, for a checker's command line.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--cpu-limit={}", self.cpu_limit),
            format!("--memory-limit={}", self.memory_limit),
            format!("--process-limit={}", self.process_limit),
            format!("--file-size-limit={}", self.file_size_limit),
            format!("--open-files-limit={}", self.open_files_limit),
            format!("--disk-limit={}", self.disk_limit),
        ];
        args.extend(self.allow_read.iter().map(|path| format!("--allow-read={}", path.display())));
        args
    }

    /// The sandbox of a server that works in `work`, with its HOME and TMPDIR under `private`.
    pub fn sandbox(&self, work: PathBuf, private: &Path, identity: Option<u32>) -> Result<Sandbox> {
        let absolute =
            |path: &PathBuf| std::path::absolute(path).with_context(|| format!("{}", path.display()));
        let sandbox = Sandbox {
            work,
            home: private.join("home"),
            tmp: private.join("tmp"),
            read_only: self.allow_read.iter().map(absolute).collect::<Result<_>>()?,
            identity,
            limits: self.limits(),
        };
        sandbox.make_folders()?;
        Ok(sandbox)
    }
}

/// A folder of one's own under the system's temporary folder, removed when dropped: a
/// submission's copy, HOME and TMPDIR. Anyone may pass through it (0711), so that a server
/// with a uid of its own reaches its copy; nobody but its owner may list it.
#[derive(Debug)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn new(what: &str) -> Result<Workspace> {
        use std::os::unix::fs::DirBuilderExt;
        use std::sync::atomic::{AtomicU32, Ordering};
        static MADE: AtomicU32 = AtomicU32::new(0);
        loop {
            let n = MADE.fetch_add(1, Ordering::SeqCst);
            let root = std::env::temp_dir().join(format!("socket-labs-{what}-{}-{n}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o711).create(&root) {
                Ok(()) => return Ok(Workspace { root }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error).with_context(|| format!("creating {}", root.display())),
            }
        }
    }

    /// Copy the submission `entry` (a file or a folder) in: its copy is `work/NAME` for a file,
    /// `work` itself for a folder, which is returned. Links are copied as links, never
    /// followed; what is neither a file, a folder nor a link is left out.
    pub fn copy_in(&self, entry: &Path) -> Result<PathBuf> {
        copy_into(&self.root, entry)
    }

    /// Where [`Workspace::copy_in`] puts `entry`'s copy, without copying it.
    pub fn copy_path(&self, entry: &Path) -> Result<PathBuf> {
        let work = self.root.join("work");
        match std::fs::symlink_metadata(entry)?.is_dir() {
            true => Ok(work),
            false => Ok(work.join(entry.file_name().context("a submission has a name")?)),
        }
    }
}

/// Copy `entry` into `root/work` as [`Workspace::copy_in`] says, make `root/home` and
/// `root/tmp`, and hand the three to `uid`, where given.
fn copy_into(root: &Path, entry: &Path) -> Result<PathBuf> {
    let work = root.join("work");
    let meta = std::fs::symlink_metadata(entry)?;
    let mut budget = COPY_CAP;
    if meta.is_dir() {
        copy_tree(entry, &work, &mut budget)?;
        return Ok(work);
    }
    std::fs::create_dir(&work)?;
    let copy = work.join(entry.file_name().context("a submission has a name")?);
    copy_tree(entry, &copy, &mut budget)?;
    Ok(copy)
}

/// `root/home` and `root/tmp` made, and `root/work`, `home` and `tmp` handed to `uid`.
pub fn make_private(root: &Path, uid: Option<u32>) -> Result<()> {
    for folder in ["home", "tmp"] {
        std::fs::create_dir(root.join(folder)).with_context(|| format!("creating {folder}"))?;
    }
    if let Some(uid) = uid {
        for folder in ["work", "home", "tmp"] {
            harness::sandbox::give(&root.join(folder), uid)?;
        }
    }
    Ok(())
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The most a submission's copy may hold: far more than any server's source and build, and
/// little enough that a folder copied by mistake (a repository with its `target/`) is said.
const COPY_CAP: u64 = 256 << 20;

fn copy_tree(from: &Path, to: &Path, budget: &mut u64) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    *budget = budget.checked_sub(meta.len()).with_context(|| {
        format!(
            "more than {} to copy at {}: a submission's copy is smaller (run from the submission's own folder)",
            harness::sandbox::bytes(COPY_CAP),
            from.display()
        )
    })?;
    if meta.is_dir() {
        std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), budget)?;
        }
    } else if meta.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if meta.is_file() {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

/// The sandbox `check` starts servers in: with `dir` (grade's), the submission's copy in
/// DIR/work and its HOME and TMPDIR beside it, as `uid`; for `check --sandbox`, this folder
/// (as root, a fresh copy of it, for a uid of its own), with a fresh HOME and TMPDIR (the
/// returned workspace, removed when dropped). `None`: no sandbox asked for.
pub fn for_check(
    args: &SandboxArgs,
    asked: bool,
    dir: Option<PathBuf>,
    from: Option<PathBuf>,
    uid: Option<u32>,
) -> Result<(Option<Sandbox>, Option<Workspace>)> {
    if let Some(dir) = dir {
        // With `from` (grade as root, in namespaces): the copy is made here, in a tmpfs of the
        // disk limit's size, which goes with this checker's mount namespace.
        if let Some(from) = from {
            harness::isolate::mount_tmpfs(&dir, args.disk_limit)
                .with_context(|| format!("mounting a tmpfs at {}", dir.display()))?;
            copy_into(&dir, &from).with_context(|| format!("copying {}", from.display()))?;
            make_private(&dir, uid)?;
        }
        return Ok((Some(args.sandbox(dir.join("work"), &dir, uid)?), None));
    }
    if !asked {
        return Ok((None, None));
    }
    if harness::sandbox::landlock_abi() == 0 {
        eprintln!(
            "note: this kernel has no Landlock: your server gets a clean environment, a HOME and TMPDIR of \
             its own and limits, but may read and write any file you may"
        );
    }
    let workspace = Workspace::new("sandbox")?;
    let here = std::env::current_dir().context("finding this folder")?;
    if !harness::sandbox::is_root() {
        return Ok((Some(args.sandbox(here, &workspace.root, uid)?), Some(workspace)));
    }
    // Root can give the server a uid of its own; that uid works in a fresh copy of this
    // folder (the folder itself stays the user's), as in `grade`.
    let uid = uid.unwrap_or_else(|| harness::sandbox::identity_for(0));
    let work = workspace.copy_in(&here)?;
    make_private(&workspace.root, Some(uid))?;
    Ok((Some(args.sandbox(work, &workspace.root, Some(uid))?), Some(workspace)))
}
