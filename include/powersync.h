/*
 * libpowersync, static build (libpowersync.a).
 *
 * Link libpowersync.a together with a SQLite library (3.38.0 or newer), then call
 * powersync_init_static() once, before opening connections: every connection opened afterwards
 * has the PowerSync functions and virtual tables registered (through sqlite3_auto_extension).
 *
 * Returns SQLITE_OK (0) on success, otherwise the result code of sqlite3_auto_extension.
 * The loadable build (libpowersync.so) does not export this function; SQLite finds its entry
 * point sqlite3_powersync_init from the file name.
 */
#ifndef POWERSYNC_H
#define POWERSYNC_H

#ifdef __cplusplus
extern "C" {
#endif

int powersync_init_static(void);

#ifdef __cplusplus
}
#endif

#endif /* POWERSYNC_H */
