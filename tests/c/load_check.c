/* Loads libpowersync into whatever SQLite this is compiled with (tests/old-sqlite/run.sh builds
 * it against old amalgamations). Usage: load_check <extension path> expect-ok|expect-refusal */
#include <stdio.h>
#include <string.h>
#include "sqlite3.h"

int main(int argc, char **argv) {
    sqlite3 *db = NULL;
    char *err = NULL;
    if (argc != 3) {
        fprintf(stderr, "usage: %s <extension> expect-ok|expect-refusal\n", argv[0]);
        return 2;
    }
    int expect_ok = strcmp(argv[2], "expect-ok") == 0;
    sqlite3_open(":memory:", &db);
    sqlite3_enable_load_extension(db, 1);
    int rc = sqlite3_load_extension(db, argv[1], NULL, &err);
    printf("SQLite %s: load returned %d%s%s\n", sqlite3_libversion(), rc, err ? ": " : "", err ? err : "");
    int ok;
    if (expect_ok) {
        ok = rc == SQLITE_OK;
        if (ok) {
            sqlite3_stmt *stmt = NULL;
            ok = sqlite3_prepare_v2(db, "select powersync_rs_version()", -1, &stmt, NULL) == SQLITE_OK &&
                 sqlite3_step(stmt) == SQLITE_ROW &&
                 strncmp((const char *)sqlite3_column_text(stmt, 0), "0.5.4/", 6) == 0;
            sqlite3_finalize(stmt);
        }
    } else {
        char want[256];
        snprintf(want, sizeof want,
                 "Could not initialize PowerSync: Version 0.5.4 of the PowerSync SQLite extension requires "
                 "SQLite version number 3038000 or later, but was loaded against %s (%d)",
                 sqlite3_libversion(), sqlite3_libversion_number());
        ok = rc != SQLITE_OK && err != NULL && strstr(err, want) != NULL;
        if (!ok) fprintf(stderr, "expected the message: %s\n", want);
    }
    sqlite3_free(err);
    sqlite3_close(db);
    printf("load check (%s): %d passed, %d failed\n", argv[2], ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
