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
        let work = self.root.join("work");
        let meta = std::fs::symlink_metadata(entry)?;
        if meta.is_dir() {
            copy_tree(entry, &work)?;
            return Ok(work);
        }
        std::fs::create_dir(&work)?;
        let copy = work.join(entry.file_name().context("a submission has a name")?);
        copy_tree(entry, &copy)?;
        Ok(copy)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(from).with_context(|| format!("reading {}", from.display()))?;
    if meta.is_dir() {
        std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if meta.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if meta.is_file() {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

/// The sandbox `check` starts servers in: with `dir` (grade's), the submission's copy in
/// DIR/work and its HOME and TMPDIR beside it, as `uid`; for `check --sandbox`, this folder,
/// with a fresh HOME and TMPDIR (the returned workspace, removed when dropped). `None`: no
/// sandbox asked for.
pub fn for_check(
    args: &SandboxArgs,
    asked: bool,
    dir: Option<PathBuf>,
    uid: Option<u32>,
) -> Result<(Option<Sandbox>, Option<Workspace>)> {
    if let Some(dir) = dir {
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
    Ok((Some(args.sandbox(here, &workspace.root, uid)?), Some(workspace)))
}
