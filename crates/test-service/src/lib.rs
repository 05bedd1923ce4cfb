//! powersync-test-service library.
