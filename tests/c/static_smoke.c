/* Static-link smoke test: libpowersync.a + a SQLite library, registered via
 * powersync_init_static(). Built and run by `make smoke-static` (part of `make test`). */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

#include "powersync.h"

static int failures = 0;

static void expect_text(sqlite3 *db, const char *sql, const char *prefix, int length) {
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fprintf(stderr, "FAIL prepare %s: %s\n", sql, sqlite3_errmsg(db));
        failures++;
        return;
    }
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        fprintf(stderr, "FAIL step %s: %s\n", sql, sqlite3_errmsg(db));
        failures++;
    } else {
        const char *text = (const char *)sqlite3_column_text(stmt, 0);
        if (text == NULL || strncmp(text, prefix, strlen(prefix)) != 0 ||
            (length >= 0 && (int)strlen(text) != length)) {
            fprintf(stderr, "FAIL %s: got '%s', want prefix '%s' length %d\n", sql,
                    text ? text : "(null)", prefix, length);
            failures++;
        } else {
            printf("ok   %s -> %s\n", sql, text);
        }
    }
    sqlite3_finalize(stmt);
}

static void expect_exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "FAIL exec %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        failures++;
    }
}

int main(void) {
    sqlite3 *db = NULL;
    int rc = powersync_init_static();
    if (rc != SQLITE_OK) {
        fprintf(stderr, "FAIL powersync_init_static returned %d\n", rc);
        return 1;
    }
    printf("SQLite %s\n", sqlite3_libversion());
    /* Two connections: the auto-extension must register on each. */
    for (int i = 0; i < 2; i++) {
        if (sqlite3_open(":memory:", &db) != SQLITE_OK) {
            fprintf(stderr, "FAIL open\n");
            return 1;
        }
        expect_text(db, "select powersync_rs_version()", "0.5.4/", 14);
        expect_text(db, "select count(*) from sqlite_master", "0", 1);
        expect_exec(db, "begin; select powersync_init(); commit;");
        expect_text(db, "select powersync_client_id()", "", 36);
        expect_text(db, "select count(*) from ps_migration", "14", 2);
        expect_text(db, "select powersync_diff('{\"a\":1}', '{\"a\":2}')", "{\"a\":2}", -1);
        if (sqlite3_close(db) != SQLITE_OK) {
            fprintf(stderr, "FAIL close: %s\n", sqlite3_errmsg(db));
            failures++;
        }
    }
    printf("static smoke: %d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
    return failures ? 1 : 0;
}
