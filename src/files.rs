//! Files at rest: the data directory is the owner's alone (0700), and so are the files
//! that hold secrets or the data (0600: the SQLite database, the master key). Checked
//! or made so at start, before anything is written.

use std::io;
use std::path::Path;

/// Creates `dir` (and its missing parents) readable by the owner only. An existing
/// directory is left as it is, with a warning when others may read it.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        if let Some(mode) = loose_mode(dir)? {
            tracing::warn!(
                path = %dir.display(),
                mode = format!("{mode:o}"),
                "the data directory is readable by others: chmod 700 it"
            );
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes `file` the owner's alone: created empty with mode 0600 when missing, its
/// group and other bits cleared when present (with its `-wal` and `-shm` companions).
pub fn private_file(file: &Path) -> io::Result<()> {
    if !file.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(file) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let path = file.with_file_name(format!(
            "{}{suffix}",
            file.file_name().unwrap_or_default().to_string_lossy()
        ));
        if path.exists() && loose_mode(&path)?.is_some() {
            restrict(&path)?;
        }
    }
    Ok(())
}

/// The mode of `path` when its group or other bits are set.
#[cfg(unix)]
pub fn loose_mode(path: &Path) -> io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

#[cfg(not(unix))]
pub fn loose_mode(_path: &Path) -> io::Result<Option<u32>> {
    Ok(None)
}

#[cfg(unix)]
fn restrict(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o700;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_directory_and_file_are_the_owners_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data/inner");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("depot.sqlite");
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
    }

    #[test]
    fn an_existing_database_and_its_companions_are_restricted() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("depot.sqlite");
        for name in ["depot.sqlite", "depot.sqlite-wal"] {
            let path = tmp.path().join(name);
            std::fs::write(&path, b"").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        private_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&tmp.path().join("depot.sqlite-wal")), 0o600);
        assert_eq!(loose_mode(&file).unwrap(), None);
    }
}
