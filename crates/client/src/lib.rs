//! The native PowerSync client (see CONTRACT in the issue).
