/* libpowersync.a and a second Rust staticlib (tests/static-link/other: its own copy of Rust's
 * std) in one C program, both called, in turns. Built and run by tests/static-link/run.sh
 * (`make smoke-static`, part of `make test`) with each available linker. */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>

#include "powersync.h"

int other_rust_describe(unsigned n, char *out, size_t cap);

static int failures = 0;

static void expect_text(sqlite3 *db, const char *sql, const char *prefix) {
    sqlite3_stmt *stmt = NULL;
    const char *text = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK ||
        sqlite3_step(stmt) != SQLITE_ROW) {
        fprintf(stderr, "FAIL %s: %s\n", sql, sqlite3_errmsg(db));
        failures++;
    } else if ((text = (const char *)sqlite3_column_text(stmt, 0)) == NULL ||
               strncmp(text, prefix, strlen(prefix)) != 0) {
        fprintf(stderr, "FAIL %s: got '%s', want prefix '%s'\n", sql, text ? text : "(null)", prefix);
        failures++;
    } else {
        printf("ok   %s -> %s\n", sql, text);
    }
    sqlite3_finalize(stmt);
}

static void expect_other(unsigned n, const char *want) {
    char buf[256];
    int len = other_rust_describe(n, buf, sizeof buf);
    if (len < 0 || strstr(buf, want) == NULL) {
        fprintf(stderr, "FAIL other_rust_describe(%u) = %d: '%s', want '%s'\n", n, len,
                len < 0 ? "" : buf, want);
        failures++;
    } else {
        printf("ok   other_rust_describe(%u) -> %s\n", n, buf);
    }
}

int main(void) {
    sqlite3 *db = NULL;
    expect_other(4, "squares below 4 sum to 14; caught 'other_rust: deliberate panic for n=4'");
    if (powersync_init_static() != SQLITE_OK || sqlite3_open(":memory:", &db) != SQLITE_OK) {
        fprintf(stderr, "FAIL powersync_init_static / open\n");
        return 1;
    }
    expect_text(db, "select powersync_rs_version()", "0.5.");
    expect_other(10, "sum to 285");
    char *err = NULL;
    if (sqlite3_exec(db, "begin; select powersync_init(); commit;", NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "FAIL powersync_init: %s\n", err ? err : "?");
        sqlite3_free(err);
        failures++;
    }
    expect_text(db, "select powersync_diff('{\"a\":1}', '{\"a\":2}')", "{\"a\":2}");
    /* An error path through our code (an invalid schema), then the other library again. */
    if (sqlite3_exec(db, "select powersync_replace_schema('not json')", NULL, NULL, &err) == SQLITE_OK) {
        fprintf(stderr, "FAIL powersync_replace_schema('not json') succeeded\n");
        failures++;
    } else {
        printf("ok   powersync_replace_schema('not json') -> error: %s\n", err ? err : "?");
        sqlite3_free(err);
    }
    expect_other(3, "sum to 5");
    sqlite3_close(db);
    printf("two rust libraries: %d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
    return failures ? 1 : 0;
}
