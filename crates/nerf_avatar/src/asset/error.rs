//! The typed errors of reading and writing avatar assets.

use std::path::PathBuf;

use crate::config::ConfigError;

/// Why an avatar asset could not be read or written.
///
/// Every message is complete on its own (it includes the text of the error it wraps), so
/// the variants expose no `source` chain that would repeat it.
///
/// Loading treats a file as hostile input: every malformed, corrupt or oversized file ends
/// in one of these variants, never in a panic. Errors of [`Avatar::read`] and
/// [`Avatar::write`] name the file (see [`AssetError::InFile`]).
///
/// [`Avatar::read`]: super::Avatar::read
/// [`Avatar::write`]: super::Avatar::write
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// Reading, writing or renaming a file failed.
    #[error("cannot {action} `{path}`: {error}", path = path.display())]
    Io {
        /// What was being done ("read", "write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// Another error, found in the file at `path`.
    #[error("`{path}`: {error}", path = path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: Box<AssetError>,
    },
    /// The file is larger than [`MAX_FILE_BYTES`](super::MAX_FILE_BYTES).
    #[error("the file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the file.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The safetensors header claims more than [`MAX_HEADER_BYTES`](super::MAX_HEADER_BYTES).
    #[error("the header claims {size} bytes, more than the limit of {limit} bytes")]
    HeaderTooLarge {
        /// The header length the file claims.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a well-formed safetensors file.
    #[error("not a safetensors file: {0}")]
    NotSafetensors(String),
    /// A safetensors file without nerf-avatar metadata, or with another format name.
    #[error("not a nerf-avatar asset: {0}")]
    UnknownFormat(String),
    /// A nerf-avatar asset of a version this build cannot read.
    #[error("unsupported nerf-avatar asset version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// The file's version.
        found: u64,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The metadata JSON does not parse into the expected document.
    #[error("malformed metadata: {0}")]
    BadMetadata(String),
    /// The model configuration in the metadata is out of its limits.
    #[error("invalid model config: {0}")]
    InvalidConfig(ConfigError),
    /// A tensor that the configuration requires is absent.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// A tensor that the format does not define is present.
    #[error("unexpected tensor `{0}`")]
    UnexpectedTensor(String),
    /// A tensor is stored with another element type than the format allows.
    #[error("tensor `{tensor}` has dtype {found}, expected {expected}")]
    WrongDtype {
        /// The tensor.
        tensor: String,
        /// The accepted dtype(s).
        expected: String,
        /// The stored dtype.
        found: String,
    },
    /// A tensor's shape differs from the one the configuration implies.
    #[error("tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        /// The tensor.
        tensor: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The stored shape.
        found: Vec<usize>,
    },
    /// Stored and computed CRC-32 differ: the file is corrupt.
    #[error(
        "checksum mismatch in {part}: stored {stored}, computed {computed} (the file is corrupt)"
    )]
    ChecksumMismatch {
        /// The metadata or the tensor whose checksum differs.
        part: String,
        /// The stored checksum.
        stored: String,
        /// The checksum of the bytes.
        computed: String,
    },
    /// A weight or grid value is NaN or infinite.
    #[error("`{tensor}` holds a non-finite value at index {index}")]
    NonFinite {
        /// The tensor (or in-memory group) holding it.
        tensor: String,
        /// Index of the first such value.
        index: usize,
    },
    /// The metadata contradicts itself, the configuration or the tensors.
    #[error("inconsistent metadata: {0}")]
    InconsistentMetadata(String),
}

impl From<ConfigError> for AssetError {
    fn from(error: ConfigError) -> Self {
        AssetError::InvalidConfig(error)
    }
}

impl AssetError {
    /// The error without the file it was found in.
    pub fn root(&self) -> &AssetError {
        match self {
            AssetError::InFile { error, .. } => error.root(),
            other => other,
        }
    }

    /// This error, naming `path` (unless it already names a file).
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            AssetError::Io { .. } | AssetError::InFile { .. } => self,
            error => AssetError::InFile {
                path: path.to_owned(),
                error: Box::new(error),
            },
        }
    }
}
