"""Scenarios for gen_sync_vectors.py (test-vectors/sync/). Each vec(...) call is one vector file."""

from gen_sync_vectors import (  # noqa: F401
    ABSENT, BUCKETS_Q, CRUD_Q, ITEMS_Q, KV_Q, LISTS_Q, OFFLINE_Q, OPLOG_Q, SYNCSTATE_Q, UNTYPED_Q,
    UPDATED_Q, Bson, Ctl, Double, Int32, Int64, Q, X, bk, bline, both, checkpoint, complete, ctl,
    data, diff, jtext, line, normalize, op, partial, put, remove, start, tok, vec,
)
from gen_sync_vectors import SCHEMA
from minibson import encode as bson_encode

SCHEMA_TABLES = SCHEMA["tables"]

SPEC_CLIENT_IDS = ["a8210b6b-2649-4e56-8171-8277e1b0d62a", "fab27b0b-bdb2-409b-adb6-7b24468a4b45",
                   "client-a9"]


def E(spec_text, client_id="client-1"):
    """A result quoted in the specification, normalised (timestamps -> T, spec client ids -> ours)."""
    t = normalize(spec_text)
    for c in SPEC_CLIENT_IDS:
        t = t.replace(c, client_id)
    return t


def kind(binary):
    return "bson" if binary else "json"


def via(binary):
    return "BSON lines (line_binary)" if binary else "JSON lines (line_text)"


# Frequently used instruction texts (exact, no timestamps)
ST_CONNECTING = '{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[],"downloading":null,"streams":[]}}}'
ST_CONNECTED = '[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}]'
APPLIED = '{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}}'
CLOSE = '{"CloseSyncStream":{"hide_disconnect":false}}'
NO_ITERATION = "powersync_control: invalid state: No iteration is active"
# 0.5.4: the disconnected status emitted right before every CloseSyncStream (docs/protocol.md)
ST_DISCONNECTED = '{"UpdateSyncStatus":{"status":{"connected":false,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}'
KEPT_NOTE = "0.5.4 keeps the iteration after an event error"


def request(buckets="[]", params="null", client_id="client-1", include_defaults="true", extra=""):
    return ('{"EstablishSyncStream":{"request":{"buckets":' + buckets + ',"include_checksum":true,"raw_data":true,'
            '"binary_data":true,"client_id":"' + client_id + '","parameters":' + params +
            ',"streams":{"include_defaults":' + include_defaults + ',"subscriptions":[]}' + extra + '}}}')


def start_expect(buckets="[]", params="null", prio="[]"):
    st = ('{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":' + prio +
          ',"downloading":null,"streams":[]}}}')
    return "[" + st + "," + request(buckets, params) + "]"


def no_iteration(opname="line_text", payload='{"token_expires_in":600}', note=None):
    return ctl(opname, payload, expect=NO_ITERATION, note=note)


def kept(opname="line_text", payload='{"token_expires_in":600}', expect=None, note=KEPT_NOTE):
    """The next event after an error: 0.5.4 still has the iteration (docs/protocol.md)."""
    return ctl(opname, payload, expect=expect, note=note)


# =============================================================================================
# A.1 full sync, incremental diff, bucket removal, end of stream, restart

A1_ITEMS = {"data": {"bucket": "b_items", "after": "0", "next_after": "2", "has_more": False, "data": [
    put("1", "items", "i1", 268435457, '{"name": "apple", "qty": 1}', subkey=None),
    put("2", "items", "i2", 3000000000, '{"name": "pear", "qty": 2}')]}}
A1_LISTS = data("b_lists", [put("3", "lists", "l1", 123, '{"title": "groceries"}')])
A1_CHECKPOINT = checkpoint("3", [bk("b_items", 3268435457, 3, 2), bk("b_lists", 123, 3, 1)], wc=None)
A1_DIFF = diff("5", [bk("b_items", 3268435459, 3, 4)], [], wc=None)
A1_DIFF_DATA = data("b_items", [put("4", "items", "i1", 7, '{"name": "apple", "qty": 5}'),
                                remove("5", "items", "i2", -5)])
A1_DIFF_REMOVE = diff("5", [], ["b_lists"], wc=None)


def a1_initial(binary, checks=True):
    s = [
        start({"parameters": {"team": "t1"}}, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[],"downloading":null,"streams":[]}}},{"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"a8210b6b-2649-4e56-8171-8277e1b0d62a","parameters":{"team":"t1"},"streams":{"include_defaults":true,"subscriptions":[]}}}}]')),
        ctl("connection", "established", expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}]')),
        both(A1_CHECKPOINT, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":3}}},"streams":[]}}}]')),
        both(A1_ITEMS, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":2,"target_count":3}}},"streams":[]}}}]')),
        both(A1_LISTS, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":3,"target_count":3}}},"streams":[]}}}]')),
    ]
    if checks:
        s += [
            Q(BUCKETS_Q, expect_rows=None if binary else [[1, "b_items", 0, 2, 0, 3268435457, 0, 0, 2, 354], [2, "b_lists", 0, 3, 0, 123, 0, 0, 1, 153]]),
            Q(OPLOG_Q, expect_rows=[[1, 1, "items", "i1", "items/i1/null", '{"name": "apple", "qty": 1}', 268435457],
                                    [1, 2, "items", "i2", "items/i2/null", '{"name": "pear", "qty": 2}', -1294967296],
                                    [2, 3, "lists", "l1", "lists/l1/null", '{"title": "groceries"}', 123]]),
            Q(ITEMS_Q, expect_rows=[]),
            Q("select count(*) from items", note="nothing visible before checkpoint_complete"),
        ]
    s += [
        both(complete("3"), binary, expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176450000,"has_synced":true}],"downloading":null,"streams":[]}}}]')),
    ]
    if checks:
        s += [
            Q(BUCKETS_Q, expect_rows=None if binary else [[1, "b_items", 3, 3, 0, 3268435457, 0, 2, 0, 354], [2, "b_lists", 3, 3, 0, 123, 0, 1, 0, 153]]),
            Q(ITEMS_Q, expect_rows=[["i1", '{"name": "apple", "qty": 1}'], ["i2", '{"name": "pear", "qty": 2}']]),
            Q(LISTS_Q, expect_rows=[["l1", '{"title": "groceries"}']]),
            Q("select id, name, qty, typeof(qty) from items order by id"),
            Q("select id, title from lists order by id"),
            Q(SYNCSTATE_Q),
            Q("select last_synced_at % 1000 from ps_sync_state", note="µs timestamps with millisecond granularity"),
            Q(UPDATED_Q, expect_rows=[]),
            Q("select count(*) from ps_crud", note="downloaded rows are not recorded as local changes"),
        ]
    return s


def a1_diff(binary, checks=True):
    s = [
        both(A1_DIFF, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176450000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":2}}},"streams":[]}}}]')),
        both(A1_DIFF_DATA, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176450000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":2,"target_count":2}}},"streams":[]}}}]')),
    ]
    if checks:
        s += [
            Q(BUCKETS_Q),
            Q(OPLOG_Q, expect_rows=[[1, 4, "items", "i1", "items/i1/null", '{"name": "apple", "qty": 5}', 7],
                                    [2, 3, "lists", "l1", "lists/l1/null", '{"title": "groceries"}', 123]]),
            Q(UPDATED_Q, expect_rows=[["items", "i2"]]),
            Q(ITEMS_Q, note="still the old rows until the checkpoint completes"),
        ]
    s += [both(complete("5"), binary, expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176455000,"has_synced":true}],"downloading":null,"streams":[]}}}]'))]
    if checks:
        s += [
            Q(BUCKETS_Q),
            Q(ITEMS_Q, expect_rows=[["i1", '{"name": "apple", "qty": 5}']]),
            Q("select id, name, qty from items order by id"),
            Q(UPDATED_Q, expect_rows=[]),
            Q(SYNCSTATE_Q),
        ]
    return s


def a1_remove(binary, checks=True):
    s = [both(A1_DIFF_REMOVE, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176455000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":0}}},"streams":[]}}}]'))]
    if checks:
        s += [Q("select name from ps_buckets order by id", expect_rows=[["b_items"]]),
              Q(OPLOG_Q),
              Q(UPDATED_Q, expect_rows=[["lists", "l1"]]),
              Q(LISTS_Q, note="row stays until the next complete checkpoint")]
    s += [both(complete("5"), binary, expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176457000,"has_synced":true}],"downloading":null,"streams":[]}}}]'))]
    if checks:
        s += [Q(LISTS_Q, expect_rows=[]), Q("select count(*) from lists"), Q(UPDATED_Q, expect_rows=[]), Q(ITEMS_Q)]
    return s


def a1_end(binary):
    return [
        both(tok(600), binary, expect="[]"),
        both({"some_future_line": {"x": 1}}, binary, expect='[{"LogLine":{"severity":"DEBUG","line":"Unknown sync line"}}]'),
        ctl("connection", "end", expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176457000,"has_synced":true}],"downloading":null,"streams":[]}}},{"CloseSyncStream":{"hide_disconnect":false}}]')),
        (bline(tok(600), expect=NO_ITERATION) if binary else no_iteration()),
        start(None, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176457000,"has_synced":true}],"downloading":null,"streams":[]}}},{"EstablishSyncStream":{"request":{"buckets":[{"name":"b_items","after":"5"}],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"a8210b6b-2649-4e56-8171-8277e1b0d62a","parameters":null,"streams":{"include_defaults":true,"subscriptions":[]}}}}]')),
        ctl("stop", None, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315176457000,"has_synced":true}],"downloading":null,"streams":[]}}},{"CloseSyncStream":{"hide_disconnect":false}}]')),
        ctl("stop", None, expect="[]"),
    ]


for binary in (False, True):
    k = kind(binary)
    vec(f"sync/fullsync-transcript-{k}",
        f"Appendix A.1 replayed with {via(binary)}: full sync of two buckets, incremental checkpoint_diff with an "
        "update and a REMOVE, bucket removal via removed_buckets, token_expires_in, an unknown line, end of "
        "stream, 'No iteration is active' afterwards, restart listing the bucket position, stop twice.",
        "docs/protocol.md",
        a1_initial(binary, checks=False) + a1_diff(binary, checks=False) + a1_remove(binary, checks=False) + a1_end(binary))
    vec(f"sync/fullsync-initial-{k}",
        f"First full sync with {via(binary)}: data lines go to ps_oplog immediately (checksum 3000000000 stored as "
        "signed hash -1294967296, bucket sums unsigned, downloaded_size = raw line size) and become visible in "
        "ps_data__* / the views only at checkpoint_complete, which also records ps_sync_state and progress counters.",
        "docs/protocol.md",
        a1_initial(binary))
    vec(f"sync/fullsync-incremental-diff-{k}",
        f"After a full sync, a checkpoint_diff with an updated bucket ({via(binary)}): the PUT supersedes op 1 "
        "(add_checksum grows), the REMOVE queues items/i2 in ps_updated_rows and the next checkpoint_complete "
        "deletes it from ps_data__items.",
        "docs/protocol.md",
        a1_initial(binary, checks=False) + a1_diff(binary))
    vec(f"sync/fullsync-bucket-removed-diff-{k}",
        f"checkpoint_diff removed_buckets ({via(binary)}) deletes the bucket and its oplog at once and queues "
        "its rows in ps_updated_rows; the app rows disappear at the next checkpoint_complete.",
        "docs/protocol.md",
        a1_initial(binary, checks=False) + a1_remove(binary))
    vec(f"sync/fullsync-end-restart-{k}",
        f"End of an iteration ({via(binary)}): token_expires_in 600 and an unknown line type after the first line, "
        "connection 'end' emits the disconnected status + CloseSyncStream, later events fail, and a restart "
        "requests the stored bucket positions; stop twice.",
        "docs/protocol.md",
        a1_initial(binary, checks=False) + a1_diff(binary, checks=False) + a1_remove(binary, checks=False) + a1_end(binary)
        + [Q(BUCKETS_Q), Q(OFFLINE_Q)])


# A new `checkpoint` line (not a diff) that no longer lists a bucket deletes it.
for binary in (False, True):
    k = kind(binary)
    vec(f"sync/fullsync-bucket-removed-checkpoint-{k}",
        f"A second full 'checkpoint' line ({via(binary)}) that omits a bucket deletes that bucket (compared with the "
        "previously tracked checkpoint) and its rows disappear at checkpoint_complete.",
        "docs/protocol.md",
        a1_initial(binary, checks=False) + [
            both(checkpoint("6", [bk("b_items", 3268435457, 3, 2)]), binary),
            Q("select name from ps_buckets order by id"),
            Q(UPDATED_Q),
            both(complete("6"), binary),
            Q(BUCKETS_Q),
            Q(ITEMS_Q),
            Q(LISTS_Q),
        ])

vec("sync/fullsync-first-checkpoint-deletes-unlisted",
    "The first checkpoint of an iteration is compared with the bucket names collected at start: buckets "
    "stored from an earlier session but not listed any more are deleted (with their rows at the next complete).",
    "docs/protocol.md",
    a1_initial(False, checks=False) + [
        ctl("stop"),
        start(None),
        line(checkpoint("3", [bk("b_lists", 123, 3, 1)])),
        Q("select name from ps_buckets order by id"),
        Q(UPDATED_Q),
        line(complete("3")),
        Q(BUCKETS_Q),
        Q(ITEMS_Q),
        Q(LISTS_Q),
    ])

vec("sync/fullsync-resume-after-reconnect",
    "Interrupted download: the first session stores one bucket's data but ends before checkpoint_complete; "
    "the restart request carries the per-bucket position (last_op of the stored data), and the second session "
    "completes with only the missing data, counting progress from the stored count_since_last.",
    "docs/protocol.md",
    [
        start(None),
        line(A1_CHECKPOINT),
        line(A1_ITEMS),
        ctl("connection", "end"),
        Q(BUCKETS_Q),
        start(None),
        line(A1_CHECKPOINT),
        line(A1_LISTS),
        line(complete("3")),
        Q(BUCKETS_Q),
        Q(ITEMS_Q),
        Q(LISTS_Q),
    ])

vec("sync/fullsync-empty-bucket-no-row",
    "A checkpoint bucket that never receives data (checksum 0) validates as 0 + 0 and gets no ps_buckets row, "
    "so a restart does not list it.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("0", [bk("empty", 0, 3, 0)])),
        line(complete("0")),
        Q(BUCKETS_Q),
        Q(SYNCSTATE_Q),
        ctl("stop"),
        start(None),
    ])


# =============================================================================================
# A.2 checksum mismatch

A2_CHECKPOINT = checkpoint("2", [bk("good", 10, 3, 1), bk("bad", 999, 3, 1)])


def a2(binary):
    return [
        start(None),
        both(A2_CHECKPOINT, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":2}}},"streams":[]}}}]')),
        both(data("good", [put("1", "items", "a", 10, '{"name":"a"}')]), binary),
        both(data("bad", [put("2", "items", "b", 20, '{"name":"b"}')]), binary),
        both(complete("2"), binary, expect=E(r'[{"LogLine":{"severity":"WARNING","line":"Could not apply checkpoint, Checksums didn' "'" r't match, failed for: bad (expected 0x000003e7, got 0x00000014 = 0x00000014 (op) + 0x00000000 (add))"}},' + ST_DISCONNECTED + r',{"CloseSyncStream":{"hide_disconnect":false}}]')),
        Q("select name, last_applied_op, last_op, add_checksum, op_checksum from ps_buckets order by id", expect_rows=[["good", 0, 1, 0, 10]]),
        Q("select bucket, op_id, row_type, row_id from ps_oplog order by op_id", expect_rows=[[1, 1, "items", "a"]]),
        Q(UPDATED_Q, expect_rows=[["items", "b"]]),
        Q(ITEMS_Q, expect_rows=[]),
        Q(SYNCSTATE_Q, expect_rows=[]),
        (bline(tok(600), expect=NO_ITERATION) if binary else no_iteration()),
        ctl("stop", expect="[]", note="the failed checkpoint already ended the iteration"),
        start(None, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[],"downloading":null,"streams":[]}}},{"EstablishSyncStream":{"request":{"buckets":[{"name":"good","after":"1"}],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"fab27b0b-bdb2-409b-adb6-7b24468a4b45","parameters":null,"streams":{"include_defaults":true,"subscriptions":[]}}}}]')),
        Q(OFFLINE_Q),
    ]


for binary in (False, True):
    vec(f"sync/checksum-mismatch-{kind(binary)}",
        f"Appendix A.2 with {via(binary)}: a bucket whose local checksum differs is reported in a WARNING LogLine "
        "(0x%08x numbers), deleted (rows queued in ps_updated_rows), nothing is applied, the iteration ends "
        "with a disconnected UpdateSyncStatus right before CloseSyncStream, and the next start no longer requests "
        "the bad bucket.",
        "docs/protocol.md; docs/decisions.md",
        a2(binary))

vec("sync/checksum-mismatch-redownload",
    "After a checksum failure the SDK reconnects; the service resends the deleted bucket from scratch and the "
    "checkpoint then applies; the good bucket kept its unapplied data and is applied too.",
    "docs/protocol.md; docs/decisions.md",
    a2(False)[:-1] + [
        line(A2_CHECKPOINT),
        line(data("bad", [put("2", "items", "b", 999, '{"name":"b2"}')])),
        line(complete("2")),
        Q(BUCKETS_Q),
        Q(ITEMS_Q),
        Q(UPDATED_Q),
    ])

vec("sync/checksum-mismatch-several-buckets",
    "Several failing buckets are listed in ascending (byte-wise) bucket name order, not checkpoint order, "
    "joined by ', '; a bucket without any data counts "
    "as 0 (op) + 0 (add); a failing bucket's add part is shown separately; all failing buckets are deleted.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("5", [bk("z_missing", 1), bk("ok", 5), bk("a_bad", 4294967295), bk("add_bad", 3), bk("Upper", 9)])),
        line(data("Upper", [op("5", "MOVE", 1)])),
        line(data("ok", [put("1", "items", "o", 5, '{"name":"o"}')])),
        line(data("a_bad", [put("2", "items", "x", 7, '{"name":"x"}')])),
        line(data("add_bad", [put("3", "items", "y", 1, '{"name":"y"}'), remove("4", "items", "y", 1)])),
        Q(BUCKETS_Q),
        line(complete("5")),
        Q("select name from ps_buckets order by id"),
        Q(OPLOG_Q),
        Q(UPDATED_Q),
    ])

vec("sync/checksum-wrapping-sums",
    "Bucket checksums are sums modulo 2^32 of unsigned op checksums: ops 4294967295 + 2 + (-1 = 0xffffffff) "
    "wrap to 0 (checkpoint checksum 0); REMOVE of a never-seen key still contributes its checksum; a later "
    "expected checksum given as -2147483648 equals the unsigned sum 2147483648.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [bk("w", 0, 3, 3)])),
        line(data("w", [put("1", "items", "a", 4294967295, '{"name":"a"}'), put("2", "items", "b", 2, '{"name":"b"}'),
                        remove("3", "items", "never", -1)])),
        Q(BUCKETS_Q),
        Q(OPLOG_Q),
        line(complete("3")),
        Q(ITEMS_Q),
        line(diff("4", [bk("w", -2147483648, 3, 4)], [])),
        line(data("w", [op("4", "MOVE", 2147483648)])),
        Q(BUCKETS_Q),
        line(complete("4"), note="-2147483648 and 2147483648 are the same 32 bits"),
        Q(BUCKETS_Q),
    ])

vec("sync/checksum-mismatch-hex-format",
    "The checksum failure line formats expected/local/op/add as 0x%08x of the unsigned 32-bit values "
    "(expected given as -1 prints 0xffffffff; local op sum 0x80000000).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("2", [bk("h", -1)])),
        line(data("h", [put("1", "items", "a", 2147483648, '{"name":"a"}'), op("2", "MOVE", 171)])),
        line(complete("2")),
        Q(BUCKETS_Q),
    ])


# =============================================================================================
# A.3 partial checkpoints

A3_CHECKPOINT = checkpoint("3", [bk("p0", 1, 0, 1), bk("p1", 2, 1, 1), {"bucket": "p3", "checksum": 3, "count": 1}])


def a3_lines(binary):
    return [
        start(None),
        both(A3_CHECKPOINT, binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":1},"prio_1":{"priority":1,"at_last":0,"since_last":0,"target_count":1},"prio_0":{"priority":0,"at_last":0,"since_last":0,"target_count":1}}},"streams":[]}}}]')),
        both(data("p0", [put("1", "items", "x0", 1, '{"name": "x0"}')]), binary),
        both(data("p1", [put("2", "items", "x1", 2, '{"name": "x1"}')]), binary),
        both(data("p3", [put("3", "items", "x3", 3, '{"name": "x3"}')]), binary),
    ]


def a3_partial(binary):
    return [
        both(partial("3", 1), binary, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":1,"last_synced_at":1795315185939000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":1,"target_count":1},"prio_1":{"priority":1,"at_last":0,"since_last":1,"target_count":1},"prio_0":{"priority":0,"at_last":0,"since_last":1,"target_count":1}}},"streams":[]}}}]')),
        Q("select name, last_applied_op, last_op from ps_buckets order by id", expect_rows=[["p0", 3, 3], ["p1", 3, 3], ["p3", 0, 3]]),
        Q(ITEMS_Q, expect_rows=[["x0", '{"name": "x0"}'], ["x1", '{"name": "x1"}']]),
        Q(SYNCSTATE_Q),
        Q(OFFLINE_Q),
        both(complete("3"), binary, expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315185940000,"has_synced":true}],"downloading":null,"streams":[]}}}]')),
        Q(SYNCSTATE_Q),
        Q(ITEMS_Q),
    ]


def a3_bad(binary):
    return [
        both(diff("4", [bk("p0", 77, 0, 2)], []), binary),
        both(data("p0", [put("4", "items", "x0", 5, "{}")]), binary),
        both(partial("4", 0), binary, expect=E(r'[{"LogLine":{"severity":"WARNING","line":"Could not apply checkpoint, Checksums didn' "'" r't match, failed for: p0 (expected 0x0000004d, got 0x00000006 = 0x00000005 (op) + 0x00000001 (add))"}},{"UpdateSyncStatus":{"status":{"connected":false,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1,"has_synced":true}],"downloading":null,"streams":[]}}},{"CloseSyncStream":{"hide_disconnect":false}}]')),
        Q("select name from ps_buckets order by id", expect_rows=[["p1"], ["p3"]]),
        Q(UPDATED_Q),
        Q(ITEMS_Q),
        Q(SYNCSTATE_Q),
        (bline(tok(600), expect=NO_ITERATION) if binary else no_iteration()),
    ]


for binary in (False, True):
    k = kind(binary)
    vec(f"sync/partial-priority-{k}",
        f"Appendix A.3 with {via(binary)}: partial_checkpoint_complete at priority 1 applies the priority-0 and "
        "priority-1 buckets only (priority-3 bucket keeps last_applied_op 0), reports priority_status for 1 and "
        "keeps downloading; the complete checkpoint then applies the rest and replaces ps_sync_state.",
        "docs/protocol.md",
        a3_lines(binary) + a3_partial(binary))
    vec(f"sync/partial-bad-checksum-{k}",
        f"Appendix A.3 second half with {via(binary)}: a partial checkpoint whose priority range contains a bucket "
        "with a wrong checksum logs 'Could not apply checkpoint, ...' (0.5.4 uses the complete checkpoint's text), "
        "deletes that bucket and ends the iteration with a disconnected UpdateSyncStatus before CloseSyncStream.",
        "docs/protocol.md; docs/decisions.md",
        a3_lines(binary) + a3_partial(binary)[:1] + [both(complete("3"), binary)] + a3_bad(binary))

vec("sync/partial-range-ignores-higher-priorities",
    "A partial checkpoint only validates buckets with priority number <= p: a wrong checksum in a priority-3 "
    "bucket does not stop a priority-1 partial, but the following checkpoint_complete fails on it.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("2", [bk("hi", 1, 1, 1), bk("lo", 999, 3, 1)])),
        line(data("hi", [put("1", "items", "h", 1, '{"name":"h"}')])),
        line(data("lo", [put("2", "items", "l", 2, '{"name":"l"}')])),
        line(partial("2", 1)),
        Q(ITEMS_Q),
        line(complete("2")),
        Q("select name, last_applied_op from ps_buckets order by id"),
        Q(ITEMS_Q),
        Q(SYNCSTATE_Q),
    ])

vec("sync/partial-priority-status-order",
    "priority_status after several partial and complete applies: a partial at p drops entries with priority "
    "<= p and prepends {p, now}; an earlier complete entry (2147483647) survives a partial; entries are sorted "
    "by priority; ps_sync_state mirrors it.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [bk("p0", 1, 0, 1), bk("p2", 2, 2, 1), bk("p3", 3, 3, 1)])),
        line(data("p0", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(data("p2", [put("2", "items", "b", 2, '{"name":"b"}')])),
        line(partial("3", 2)),
        Q(SYNCSTATE_Q),
        line(partial("3", 0)),
        Q(SYNCSTATE_Q),
        line(data("p3", [put("3", "items", "c", 3, '{"name":"c"}')])),
        line(complete("3")),
        Q(SYNCSTATE_Q),
        line(diff("4", [bk("p0", 5, 0, 2)], [])),
        line(data("p0", [put("4", "items", "d", 4, '{"name":"d"}')])),
        line(partial("4", 0)),
        Q(SYNCSTATE_Q),
        line(partial("4", 1), note="no bucket has priority 1; the partial still applies and records priority 1"),
        Q(SYNCSTATE_Q),
        Q(OFFLINE_Q),
        ctl("stop"),
        start(None),
    ])

vec("sync/partial-priority-large-and-default",
    "Priorities above 3 are accepted (reported as prio_7), an absent priority means 3, and downloading groups "
    "are keyed by descending priority; a partial at 7 covers every bucket with priority <= 7.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [{"bucket": "d", "checksum": 1, "count": 1}, bk("seven", 2, 7, 1), bk("zero", 3, 0, 1)])),
        line(data("seven", [put("2", "items", "s", 2, '{"name":"s"}')])),
        line(data("d", [put("1", "items", "d", 1, '{"name":"d"}')])),
        line(data("zero", [put("3", "items", "z", 3, '{"name":"z"}')])),
        line(partial("3", 3)),
        Q("select name, last_applied_op from ps_buckets order by id"),
        line(partial("3", 7)),
        Q("select name, last_applied_op from ps_buckets order by id"),
        Q(SYNCSTATE_Q),
        line(complete("3")),
    ])

vec("sync/partial-ignores-updated-rows",
    "A partial checkpoint does not process ps_updated_rows (rows removed in a priority-0 bucket stay visible "
    "until the next complete checkpoint).",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("1", [bk("p0", 1, 0, 1)])),
        line(data("p0", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(complete("1")),
        line(diff("2", [bk("p0", 3, 0, 2)], [])),
        line(data("p0", [remove("2", "items", "a", 2)])),
        Q(UPDATED_Q),
        line(partial("2", 0)),
        Q(ITEMS_Q),
        Q(UPDATED_Q),
        Q("select name, last_applied_op, last_op from ps_buckets"),
        line(complete("2")),
        Q(ITEMS_Q),
        Q(UPDATED_Q),
    ])


# =============================================================================================
# A.4 token_expires_in and refreshed_token

for binary in (False, True):
    k = kind(binary)
    vec(f"sync/token-expiry-{k}",
        f"Appendix A.4 with {via(binary)}: token_expires_in 600 as first line only connects, 30 asks to prefetch "
        "credentials (did_expire false), 31 does nothing, refreshed_token closes the stream with hide_disconnect "
        "true and ends the iteration; 0 and -5 report an expired token and close the stream; every close is "
        "preceded by the disconnected UpdateSyncStatus.",
        "docs/protocol.md; docs/decisions.md",
        [
            start(None),
            both(tok(600), binary, expect=ST_CONNECTED),
            both(tok(30), binary, expect='[{"FetchCredentials":{"did_expire":false}}]'),
            both(tok(31), binary, expect="[]"),
            both(tok(1), binary, expect='[{"FetchCredentials":{"did_expire":false}}]'),
            ctl("refreshed_token", None, expect='[' + ST_DISCONNECTED + ',{"CloseSyncStream":{"hide_disconnect":true}}]'),
            no_iteration(),
            ctl("refreshed_token", None, expect=NO_ITERATION),
            start(None),
            both(tok(0), binary, expect='[{"FetchCredentials":{"did_expire":true}},' + ST_DISCONNECTED + ',{"CloseSyncStream":{"hide_disconnect":false}}]'),
            no_iteration(),
            start(None),
            both(tok(-5), binary, expect='[{"FetchCredentials":{"did_expire":true}},' + ST_DISCONNECTED + ',{"CloseSyncStream":{"hide_disconnect":false}}]'),
            no_iteration("connection", "established"),
        ])

vec("sync/token-expiry-bson-int-types",
    "BSON token_expires_in accepts int32 and int64 (values within i32) but rejects a double and an int64 "
    "above i32; the iteration is kept after the error.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        bline({"token_expires_in": Int32(600)}, expect=ST_CONNECTED),
        bline({"token_expires_in": Int64(20)}, expect='[{"FetchCredentials":{"did_expire":false}}]'),
        bline({"token_expires_in": Int64(120)}, expect="[]"),
        bline({"token_expires_in": Double(20.0)}),
        kept(expect="[]"),
        start(None),
        bline({"token_expires_in": Int64(2 ** 31)}),
        kept(expect=ST_CONNECTED),
    ])

vec("sync/token-expiry-json-bad-types",
    "JSON token_expires_in must be an i32 integer: a string, a float, null or a value above i32 range is a "
    "protocol error (the iteration is kept).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None), line('{"token_expires_in":"60"}'), kept(expect=ST_CONNECTED),
        start(None), line('{"token_expires_in":60.0}'), kept(expect=ST_CONNECTED),
        start(None), line('{"token_expires_in":null}'), kept(expect=ST_CONNECTED),
        start(None), line('{"token_expires_in":2147483648}'), kept(expect=ST_CONNECTED),
        start(None), line('{"token_expires_in":-2147483648}'),
    ])

vec("sync/token-expiry-keeps-state",
    "token_expires_in and refreshed_token in the middle of a download: the prefetch signal does not disturb "
    "the tracked checkpoint (complete still applies), while refreshed_token ends the iteration and discards it.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("1", [bk("b", 1, 3, 1)])),
        line(tok(10)),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(tok(100)),
        line(complete("1")),
        Q(ITEMS_Q),
        line(diff("2", [bk("b", 3, 3, 2)], [])),
        ctl("refreshed_token"),
        start(None),
        line(complete("2"), note="the restarted iteration has no tracked checkpoint"),
    ])


# =============================================================================================
# A.5 local writes, write checkpoints, completed_upload, the gate

def a5_first_sync(binary=False):
    return [
        start(None),
        both(checkpoint("1", [bk("b", 1, 3, 1)]), binary),
        both(data("b", [put("1", "items", "s1", 1, '{"name":"server","qty":0}')]), binary),
        both(complete("1"), binary),
    ]


LOCAL_INSERT = X("insert into items(id, name, qty) values ('local1', 'mine', 1)",
                 note="local write through the view: ps_crud row + target_checkpoint_request_id = MAX")
A5_DIFF = diff("3", [bk("b", 3, 3, 2), bk("hi", 5, 0, 1)], [], wc="8")
A5_DATA_B = data("b", [put("2", "items", "local1", 2, '{"name":"mine","qty":1}')])
A5_DATA_HI = data("hi", [put("3", "lists", "L", 5, '{"title":"hp"}')])


def a5(binary):
    return a5_first_sync(binary) + [
        LOCAL_INSERT,
        Q(CRUD_Q),
        Q(KV_Q),
        X("delete from ps_crud", note="the SDK uploaded the change"),
        both(A5_DIFF, binary),
        both(A5_DATA_B, binary),
        both(A5_DATA_HI, binary),
        both(partial("3", 0), binary, note="priority 0 skips the gate"),
        Q(LISTS_Q),
        Q(ITEMS_Q),
        both(complete("3"), binary, expect='[{"CheckpointDelayedDueToLocalData":{}},{"LogLine":{"severity":"INFO","line":"Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."}}]',
             note="target MAX > last_seen 8: gate closed"),
        Q(KV_Q),
        Q(ITEMS_Q),
        Q("select name, last_applied_op, last_op from ps_buckets order by id"),
        ctl("target_checkpoint_request_id", "8", note="the SDK stores the write checkpoint it obtained after the upload; returns the previous target"),
        ctl("completed_upload", None, expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Applied pending checkpoint after completed upload"}},{"LogLine":{"severity":"DEBUG","line":"Applied checkpoint request id 8"}},{"DidCompleteSync":{"applied_checkpoint_request_id":"8"}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795315205888000,"has_synced":true}],"downloading":null,"streams":[],"internal_last_applied_checkpoint_request_id":"8"}}}]')),
        Q(KV_Q),
        Q(ITEMS_Q),
        Q(SYNCSTATE_Q),
        ctl("completed_upload", None, expect="[]", note="the pending checkpoint was consumed"),
        X("insert into items(id, name, qty) values ('local2', 'mine too', 2)"),
        Q(KV_Q),
        both(diff("3", [], [], wc="8"), binary),
        both(partial("3", 1), binary, expect='[{"CheckpointDelayedDueToLocalData":{}}]', note="priority 1 partial with a closed gate: not applied, CheckpointDelayedDueToLocalData (0.5.4)"),
        Q(SYNCSTATE_Q),
        both(complete("3"), binary),
        ctl("stop"),
    ]


for binary in (False, True):
    vec(f"sync/gate-local-writes-{kind(binary)}",
        f"Appendix A.5 with {via(binary)}: a local write closes the gate (ps_crud row, target = MAX); a priority-0 "
        "partial still applies, the complete checkpoint becomes pending (INFO log, write_checkpoint recorded as "
        "last_seen; CheckpointDelayedDueToLocalData before the INFO log), and after target_checkpoint_request_id 8 "
        "completed_upload applies it (DidCompleteSync with the id as string, "
        "internal_last_applied_checkpoint_request_id); a priority-1 partial with a closed gate returns "
        "[CheckpointDelayedDueToLocalData].",
        "docs/protocol.md; docs/decisions.md",
        a5(binary))

vec("sync/gate-completed-upload-write-checkpoint-too-old",
    "Appendix A.5 second variant: completed_upload while the pending checkpoint has no write_checkpoint and "
    "the target is 7 returns [] and keeps the pending checkpoint (0.5.4); a following diff with "
    "write_checkpoint '7' applies with 'Applied checkpoint request id 7'.",
    "docs/protocol.md; docs/decisions.md",
    a5_first_sync() + [
        LOCAL_INSERT,
        line(diff("2", [bk("b", 3, 3, 2)], [])),
        line(data("b", [put("2", "items", "local1", 2, '{"name":"mine","qty":1}')])),
        line(complete("2")),
        X("delete from ps_crud"),
        ctl("target_checkpoint_request_id", 7),
        Q(KV_Q),
        ctl("completed_upload", None, expect="[]"),
        Q(ITEMS_Q),
        line(diff("2", [], [], wc="7")),
        line(complete("2"), expect=E(r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"LogLine":{"severity":"DEBUG","line":"Applied checkpoint request id 7"}},{"DidCompleteSync":{"applied_checkpoint_request_id":"7"}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1,"has_synced":true}],"downloading":null,"streams":[],"internal_last_applied_checkpoint_request_id":"7"}}}]')),
        Q(KV_Q),
        Q(ITEMS_Q),
    ])

vec("sync/gate-completed-upload-crud-remaining",
    "completed_upload with a pending checkpoint whose write_checkpoint reaches the target, while ps_crud still "
    "has rows: the retry fails with a WARNING and the pending checkpoint is kept (0.5.4), so a completed_upload "
    "after ps_crud was emptied applies it.",
    "docs/protocol.md; docs/decisions.md",
    a5_first_sync() + [
        LOCAL_INSERT,
        line(diff("2", [bk("b", 3, 3, 2)], [], wc="8")),
        line(data("b", [put("2", "items", "local1", 2, '{"name":"mine","qty":1}')])),
        line(complete("2")),
        ctl("target_checkpoint_request_id", "8"),
        ctl("completed_upload", None, expect='[{"LogLine":{"severity":"WARNING","line":"Could not apply pending checkpoint even after completed upload"}}]'),
        Q(KV_Q),
        Q(ITEMS_Q),
        X("delete from ps_crud"),
        ctl("completed_upload", None, note="the pending checkpoint was kept (0.5.4) and now applies"),
        line(diff("2", [], [], wc="8")),
        line(complete("2")),
        Q(ITEMS_Q),
    ])

vec("sync/gate-next-checkpoint-applies",
    "A pending checkpoint is retried by the next checkpoint as well: after the upload (ps_crud empty, target "
    "lowered to 8) a new diff carrying write_checkpoint 8 and checkpoint_complete apply without completed_upload.",
    "docs/protocol.md; docs/decisions.md",
    a5_first_sync() + [
        LOCAL_INSERT,
        line(diff("2", [bk("b", 3, 3, 2)], [])),
        line(data("b", [put("2", "items", "local1", 2, '{"name":"mine","qty":1}')])),
        line(complete("2")),
        Q(ITEMS_Q),
        X("delete from ps_crud"),
        ctl("target_checkpoint_request_id", "8"),
        line(complete("2"), note="the same checkpoint again: last_seen is still absent (no write_checkpoint) so the gate stays closed"),
        line(diff("3", [bk("b", 3, 3, 2)], [], wc="8")),
        line(complete("3")),
        Q(KV_Q),
        Q(ITEMS_Q),
    ])

vec("sync/gate-target-above-write-checkpoint",
    "With ps_crud empty the gate still stays closed while the target id exceeds the checkpoint's "
    "write_checkpoint; a later checkpoint whose write_checkpoint reaches it opens the gate. A checkpoint "
    "applied without write_checkpoint clears internal_last_applied_checkpoint_request_id.",
    "docs/protocol.md; docs/decisions.md",
    a5_first_sync() + [
        ctl("target_checkpoint_request_id", 9),
        line(diff("2", [bk("b", 3, 3, 2)], [], wc="8")),
        line(data("b", [put("2", "items", "s2", 2, '{"name":"two"}')])),
        line(complete("2")),
        Q(KV_Q),
        line(diff("2", [], [], wc="9")),
        line(complete("2")),
        Q(KV_Q),
        Q(ITEMS_Q),
        line(diff("3", [bk("b", 6, 3, 3)], [], wc="12")),
        line(data("b", [put("3", "items", "s3", 3, '{"name":"three"}')])),
        line(complete("3")),
        line(diff("4", [bk("b", 10, 3, 4)], [])),
        line(data("b", [put("4", "items", "s4", 4, '{"name":"four"}')])),
        line(complete("4"), note="no write_checkpoint: no DidCompleteSync id, internal id cleared"),
        Q(KV_Q),
    ])

vec("sync/gate-partial-priority0-with-crud",
    "Only a partial checkpoint at priority 0 bypasses the gate: with pending local changes a priority-0 "
    "partial applies its bucket, a priority-2 partial returns [CheckpointDelayedDueToLocalData] and changes "
    "nothing.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        LOCAL_INSERT,
        line(checkpoint("2", [bk("p0", 1, 0, 1), bk("p2", 2, 2, 1)])),
        line(data("p0", [put("1", "lists", "a", 1, '{"title":"a"}')])),
        line(data("p2", [put("2", "lists", "b", 2, '{"title":"b"}')])),
        line(partial("2", 2), expect='[{"CheckpointDelayedDueToLocalData":{}}]'),
        Q(LISTS_Q),
        Q("select name, last_applied_op, last_op from ps_buckets order by id"),
        Q(SYNCSTATE_Q),
        line(partial("2", 0)),
        Q(LISTS_Q),
        Q("select name, last_applied_op, last_op from ps_buckets order by id"),
        Q(SYNCSTATE_Q),
        Q(CRUD_Q),
    ])

vec("sync/status-internal-applied-id-lifecycle",
    "internal_last_applied_checkpoint_request_id appears after a complete checkpoint with write_checkpoint, "
    "stays on later diff statuses, is cleared by connection 'end' and absent after restart.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("1", [bk("b", 1, 3, 1)], wc="5")),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(complete("1")),
        line(diff("2", [bk("b", 3, 3, 2)], [], wc=None)),
        line(data("b", [put("2", "items", "b", 2, '{"name":"b"}')])),
        ctl("connection", "end"),
        start(None),
        Q(OFFLINE_Q),
        Q(KV_Q),
    ])


# =============================================================================================
# A.8 BSON lines and value types

A8_CHECKPOINT_HEX = ("8a00000003636865636b706f696e740079000000026c6173745f6f705f6964000200000032000a77726974655f636865636b706f696e74"
                     "00046275636b65747300470000000330003f000000026275636b6574000300000062620010636865636b73756d00ffffffff107072696f"
                     "72697479000300000012636f756e7400020000000000000000000000")
A8_CHECKPOINT = {"checkpoint": {"last_op_id": "2", "write_checkpoint": None, "buckets": [
    {"bucket": "bb", "checksum": Int32(-1), "priority": Int32(3), "count": Int64(2)}]}}
assert bson_encode(A8_CHECKPOINT).hex() == A8_CHECKPOINT_HEX

vec("sync/bson-value-types",
    "Appendix A.8: BSON checkpoint (the exact document quoted in the spec) with int32 checksum -1, int64 count; "
    "op checksums as int64 4294967294 and double 1.0 (sum 0xffffffff); token_expires_in int64; partial "
    "priority int64; stored sums unsigned, hashes signed.",
    "docs/protocol.md",
    [
        start(None),
        bline(A8_CHECKPOINT, expect='[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":2}}},"streams":[]}}}]'),
        bline(data("bb", [put("1", "items", "b1", Int64(4294967294), '{"name":"b1"}'), put("2", "items", "b2", Double(1.0), '{"name":"b2"}')])),
        bline({"token_expires_in": Int64(120)}, expect="[]"),
        bline({"partial_checkpoint_complete": {"last_op_id": "2", "priority": Int64(3)}}),
        Q(ITEMS_Q),
        bline(complete("2")),
        Q("select name, add_checksum, op_checksum from ps_buckets", expect_rows=[["bb", 0, 4294967295]]),
        Q("select op_id, hash from ps_oplog order by op_id", expect_rows=[[1, -2], [2, 1]]),
        Q(ITEMS_Q),
        Q(BUCKETS_Q, note="downloaded_size counts the BSON document bytes"),
    ])

vec("sync/bson-checksum-types",
    "BSON checksums: int32 (negative = two's complement), int64 up to 4294967295, whole doubles (also "
    "negative) are accepted; priority and count as int64.",
    "docs/protocol.md",
    [
        start(None),
        bline(checkpoint("4", [{"bucket": "c", "checksum": Double(4294967295.0), "priority": Int64(1), "count": Int64(4)}])),
        bline(data("c", [put("1", "items", "a", Int32(-2147483648), '{"name":"a"}'), put("2", "items", "b", Int64(2147483647), '{"name":"b"}'),
                         op("3", "MOVE", Double(-1.0)), op("4", "MOVE", Int64(1))])),
        Q("select name, add_checksum, op_checksum, count_since_last from ps_buckets"),
        Q("select op_id, hash from ps_oplog order by op_id"),
        bline(partial("4", 1)),
        Q(ITEMS_Q),
    ])

BSON_REJECTS = [
    ("op_id as int64", data("b", [{"op_id": Int64(5), "op": "PUT", "checksum": 1}])),
    ("op_id as int32", data("b", [{"op_id": Int32(5), "op": "PUT", "checksum": 1}])),
    ("last_op_id as int64", checkpoint(Int64(3), [])),
    ("checksum as string", data("b", [{"op_id": "1", "op": "PUT", "checksum": "5"}])),
    ("checksum int64 4294967296", data("b", [{"op_id": "1", "op": "PUT", "checksum": Int64(4294967296)}])),
    ("checksum int64 -2147483649", data("b", [{"op_id": "1", "op": "PUT", "checksum": Int64(-2147483649)}])),
    ("checksum double 1.5", data("b", [{"op_id": "1", "op": "PUT", "checksum": Double(1.5)}])),
    ("op data as embedded document", data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "checksum": 1, "data": {"name": "a"}}])),
    ("priority -1", checkpoint("1", [{"bucket": "b", "checksum": 0, "priority": Int32(-1)}])),
    ("priority 2147483647", checkpoint("1", [{"bucket": "b", "checksum": 0, "priority": Int32(2147483647)}])),
    ("priority as double", checkpoint("1", [{"bucket": "b", "checksum": 0, "priority": Double(1.0)}])),
    ("unknown op", data("b", [{"op_id": "1", "op": "UPSERT", "checksum": 1}])),
    ("checkpoint_complete payload not a document", {"checkpoint_complete": "x"}),
    ("write_checkpoint as int64", checkpoint("1", [], wc=Int64(7))),
]

steps = []
for label, doc in BSON_REJECTS:
    steps += [start(None), bline(doc, note=label), kept("line_binary", Bson(tok(60)), expect=ST_CONNECTED)]
vec("sync/bson-type-errors",
    "BSON documents with wrongly typed values (integer op ids, out-of-range / fractional / string checksums, "
    "embedded document as op data, bad priorities, unknown op, non-document payload) fail with 'Sync protocol error: "
    "invalid binary line. cause: ...' (code 4); the iteration is kept (0.5.4).",
    "docs/protocol.md; docs/reliability.md; docs/decisions.md",
    steps)

GOOD = bson_encode(tok(600))
BSON_MALFORMED = [
    ("truncated document (last byte missing)", GOOD[:-1]),
    ("truncated in the middle of an element", bson_encode(checkpoint("1", []))[:20]),
    ("length prefix larger than the data", b"\x40\x00\x00\x00" + GOOD[4:]),
    ("length prefix smaller than the data", b"\x0a\x00\x00\x00" + GOOD[4:]),
    ("unknown element type 0x99", GOOD[:4] + b"\x99" + GOOD[5:]),
    ("three bytes", b"\x01\x02\x03"),
    ("empty blob", b""),
    ("empty document", bson_encode({})),
    ("string element with bad length", bytes.fromhex("1a0000000363686563") + b"x" * 17),
]
steps = []
for label, raw in BSON_MALFORMED:
    steps += [start(None), bline(Bson(raw=raw, note=label)), kept("line_binary", Bson(tok(60)), expect=ST_CONNECTED)]
vec("sync/bson-malformed",
    "Truncated or garbled BSON (bad length prefix, unknown element type, cut strings, empty input, empty "
    "document) fails with 'invalid binary line' (code 4); the iteration is kept (0.5.4).",
    "docs/protocol.md; docs/reliability.md; docs/decisions.md",
    steps)

vec("sync/bson-unknown-line-and-extra-fields",
    "BSON: an unknown top-level key is skipped with a DEBUG 'Unknown sync line' (any payload type); unknown "
    "fields inside known payloads are ignored.",
    "docs/protocol.md",
    [
        start(None),
        bline({"some_future_line": {"x": Int64(1), "y": [1, "a", None, True]}}),
        bline({"another": "string payload"}),
        bline({"checkpoint": {"last_op_id": "1", "buckets": [{"bucket": "b", "checksum": 1, "extra": True}], "other": {"a": 1}}}),
        bline({"data": {"bucket": "b", "after": "0", "next_after": "1", "has_more": False, "data": [
            {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "checksum": 1, "data": '{"name":"a"}', "whatever": Double(2.5)}]}}),
        bline({"checkpoint_complete": {"last_op_id": "1", "extra": Int64(9)}}),
        Q(ITEMS_Q),
    ])


# =============================================================================================
# A.9 op semantics

A9 = [
    ("cp", checkpoint("5", [bk("A", 31, 3, 5)], wc=None)),
    ("d1", data("A", [put("1", "items", "r1", 1, '{"name": "one"}'), remove("2", "items", "r1", 2), op("3", "MOVE", 4),
                      put("4", "items", "r2", 8, '{"name": "two"}', subkey="sk1"),
                      put("5", "unknown_tbl", "u1", 16, '{"x": 1}')])),
    ("c1", complete("5")),
    ("diff6", diff("6", [bk("B", 32, 3, 1)], [], wc=None)),
    ("d6", data("B", [put("6", "items", "r2", 32, '{"name": "two-from-B"}')])),
    ("c6", complete("6")),
    ("diff7", diff("7", [bk("B", 96, 3, 2)], [], wc=None)),
    ("d7", data("B", [remove("7", "items", "r2", 64)])),
    ("c7", complete("7")),
    ("diff9", diff("9", [bk("A", 228, 3, 2)], [], wc=None)),
    ("d9", data("A", [op("8", "CLEAR", 100), put("9", "items", "r2", 128, '{"name": "two-again"}', subkey="sk1")])),
    ("c9", complete("9")),
]
A9_EXPECT = {
    "cp": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":5}}},"streams":[]}}}]',
    "d1": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":5,"target_count":5}}},"streams":[]}}}]',
    "c1": r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":null,"streams":[]}}}]',
    "diff6": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":1}}},"streams":[]}}}]',
    "d6": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":1,"target_count":1}}},"streams":[]}}}]',
    "c6": r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":null,"streams":[]}}}]',
    "diff7": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":1}}},"streams":[]}}}]',
    "d7": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170957000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":1,"target_count":1}}},"streams":[]}}}]',
    "c7": r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170958000,"has_synced":true}],"downloading":null,"streams":[]}}}]',
    "diff9": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170958000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":0,"target_count":2}}},"streams":[]}}}]',
    "d9": r'[{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170958000,"has_synced":true}],"downloading":{"buckets":{"prio_3":{"priority":3,"at_last":0,"since_last":2,"target_count":2}}},"streams":[]}}}]',
    "c9": r'[{"LogLine":{"severity":"DEBUG","line":"Validated and applied checkpoint"}},{"DidCompleteSync":{}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[{"priority":2147483647,"last_synced_at":1795317170958000,"has_synced":true}],"downloading":null,"streams":[]}}}]',
}
A9_BUCKETS = "select name, last_applied_op, last_op, add_checksum, op_checksum, count_at_last, count_since_last from ps_buckets order by id"
A9_DUMPS = {
    "d1": [(A9_BUCKETS, [["A", 0, 5, 7, 24, 0, 5]]),
           (OPLOG_Q, [[1, 4, "items", "r2", "items/r2/sk1", '{"name": "two"}', 8], [1, 5, "unknown_tbl", "u1", "unknown_tbl/u1/null", '{"x": 1}', 16]]),
           (UPDATED_Q, [])],
    "c1": [(A9_BUCKETS, [["A", 5, 5, 7, 24, 5, 0]]),
           (OPLOG_Q, [[1, 4, "items", "r2", "items/r2/sk1", '{"name": "two"}', 8], [1, 5, "unknown_tbl", "u1", "unknown_tbl/u1/null", '{"x": 1}', 16]]),
           (UPDATED_Q, []), (ITEMS_Q, [["r2", '{"name": "two"}']]), (UNTYPED_Q, [["unknown_tbl", "u1", '{"x": 1}']])],
    "c6": [(A9_BUCKETS, [["A", 6, 6, 7, 24, 5, 0], ["B", 6, 6, 0, 32, 1, 0]]),
           (OPLOG_Q, [[1, 4, "items", "r2", "items/r2/sk1", '{"name": "two"}', 8], [1, 5, "unknown_tbl", "u1", "unknown_tbl/u1/null", '{"x": 1}', 16],
                      [2, 6, "items", "r2", "items/r2/null", '{"name": "two-from-B"}', 32]]),
           (UPDATED_Q, []), (ITEMS_Q, [["r2", '{"name": "two-from-B"}']]), (UNTYPED_Q, [["unknown_tbl", "u1", '{"x": 1}']])],
    "d7": [(A9_BUCKETS, [["A", 6, 6, 7, 24, 5, 0], ["B", 6, 7, 96, 0, 1, 1]]),
           (OPLOG_Q, [[1, 4, "items", "r2", "items/r2/sk1", '{"name": "two"}', 8], [1, 5, "unknown_tbl", "u1", "unknown_tbl/u1/null", '{"x": 1}', 16]]),
           (UPDATED_Q, [["items", "r2"]])],
    "c7": [(A9_BUCKETS, [["A", 7, 7, 7, 24, 5, 0], ["B", 7, 7, 96, 0, 2, 0]]),
           (OPLOG_Q, [[1, 4, "items", "r2", "items/r2/sk1", '{"name": "two"}', 8], [1, 5, "unknown_tbl", "u1", "unknown_tbl/u1/null", '{"x": 1}', 16]]),
           (UPDATED_Q, []), (ITEMS_Q, [["r2", '{"name": "two"}']]), (UNTYPED_Q, [["unknown_tbl", "u1", '{"x": 1}']])],
    "d9": [(A9_BUCKETS, [["A", 0, 9, 100, 128, 0, 2], ["B", 7, 7, 96, 0, 2, 0]]),
           (OPLOG_Q, [[1, 9, "items", "r2", "items/r2/sk1", '{"name": "two-again"}', 128]]),
           (UPDATED_Q, [["items", "r2"], ["unknown_tbl", "u1"]])],
    "c9": [(A9_BUCKETS, [["A", 9, 9, 100, 128, 2, 0], ["B", 9, 9, 96, 0, 2, 0]]),
           (OPLOG_Q, [[1, 9, "items", "r2", "items/r2/sk1", '{"name": "two-again"}', 128]]),
           (UPDATED_Q, []), (ITEMS_Q, [["r2", '{"name": "two-again"}']]), (UNTYPED_Q, [])],
}


def a9(binary, keys=None):
    s = [start(None, expect=E(r'[{"UpdateSyncStatus":{"status":{"connected":false,"connecting":true,"priority_status":[],"downloading":null,"streams":[]}}},{"EstablishSyncStream":{"request":{"buckets":[],"include_checksum":true,"raw_data":true,"binary_data":true,"client_id":"client-a9","parameters":null,"streams":{"include_defaults":true,"subscriptions":[]}}}}]', "client-a9"))]
    for key, ln in A9:
        s.append(both(ln, binary, expect=E(A9_EXPECT[key], "client-a9")))
        for sql, rows in A9_DUMPS.get(key, []):
            s.append(Q(sql, expect_rows=rows))
    return s


for binary in (False, True):
    vec(f"sync/ops-transcript-{kind(binary)}",
        f"Appendix A.9 replayed with {via(binary)}: PUT/REMOVE/MOVE in an initial bucket, subkeys, a row type without "
        "table (ps_untyped), the same row in two buckets (newest op wins, falls back after REMOVE), progress reset "
        "of only the bucket that shrank (0.5.4), CLEAR.",
        "docs/protocol.md; docs/decisions.md",
        a9(binary), client_id="client-a9")

vec("sync/bson-lenient-framing",
    "Unlike JSON lines, the BSON decoder only reads the first element of the top-level document: a second key is "
    "ignored (even a known line type), a wrong final byte instead of the terminating NUL and trailing bytes "
    "after the document are accepted.",
    "docs/protocol.md",
    [
        start(None),
        bline({"token_expires_in": 5, "checkpoint_complete": {}}, note="first key wins; FetchCredentials comes before the first-line status"),
        bline({"checkpoint": {"last_op_id": "1", "buckets": [bk("b", 1)]}, "checkpoint_complete": {}}),
        Q(SYNCSTATE_Q, note="the second key was not processed"),
        bline({"unknown_kind": 1, "checkpoint_complete": {}}, note="an unknown first key: the whole line is skipped"),
        bline(Bson(raw=bson_encode(data("b", [put("1", "items", "a", 1, '{"name":"a"}')]))[:-1] + b"\x01",
                   note="data line whose terminating byte is 0x01 instead of 0x00")),
        bline(Bson(raw=bson_encode(data("b", [op("2", "MOVE", 0)])) + b"\x00\x00\x00", note="data line followed by three extra bytes")),
        Q("select name, downloaded_size from ps_buckets", note="downloaded_size counts the whole BLOB, extra bytes included"),
        bline(Bson(raw=bson_encode(complete("1")) + b"\x00\xff", note="checkpoint_complete followed by two extra bytes")),
        Q(ITEMS_Q),
        Q("select name, downloaded_size from ps_buckets"),
    ])


# ---- focused op vectors

vec("sync/ops-empty-key",
    "PUT/REMOVE ops without object_type/object_id get no key: stored with NULL key/row_type/row_id, never "
    "supersede each other, REMOVE only adds its checksum, nothing goes to ps_updated_rows; a CLEAR removes them.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("5", [bk("e", 100, 3)])),
        line(data("e", [op("1", "PUT", 1, data='{"a":1}'), op("2", "PUT", 2, otype="items", data='{"a":2}'),
                        op("3", "PUT", 4), op("4", "REMOVE", 8)])),
        Q(OPLOG_Q),
        Q(BUCKETS_Q),
        Q(UPDATED_Q),
        line(data("e", [op("5", "CLEAR", 100)])),
        Q(OPLOG_Q),
        Q(BUCKETS_Q),
        Q(UPDATED_Q),
        line(complete("5")),
        Q(ITEMS_Q),
        Q(UNTYPED_Q),
    ])

vec("sync/ops-non-initial-supersede",
    "In a bucket that was already applied (last_applied_op > 0) a PUT superseding an earlier op adds the old "
    "hash to add_checksum; a REMOVE of an existing key queues the row in ps_updated_rows; a REMOVE of a key the "
    "bucket never had only adds its checksum.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("2", [bk("b", 3, 3, 2)])),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}'), put("2", "items", "b", 2, '{"name":"b"}')])),
        line(complete("2")),
        line(diff("5", [bk("b", 3 + 10 + 20 + 40, 3, 5)], [])),
        line(data("b", [put("3", "items", "a", 10, '{"name":"a2"}')])),
        Q(BUCKETS_Q),
        Q(UPDATED_Q),
        line(data("b", [remove("4", "items", "b", 20), remove("5", "items", "zz", 40)])),
        Q(BUCKETS_Q),
        Q(OPLOG_Q),
        Q(UPDATED_Q),
        line(complete("5")),
        Q(ITEMS_Q),
        Q(UPDATED_Q),
    ])

vec("sync/ops-put-without-data",
    "A PUT whose data is null or absent is stored with NULL data and acts like a delete at sync_local "
    "(no remaining value -> the row is removed / never created).",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("2", [bk("b", 3, 3, 2)])),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}'), put("2", "lists", "l", 2, '{"title":"l"}')])),
        line(complete("2")),
        line(diff("4", [bk("b", 3 + 4 + 8, 3, 4)], [])),
        line(data("b", [put("3", "items", "a", 4, None), op("4", "PUT", 8, "lists", "l")])),
        Q(OPLOG_Q),
        line(complete("4")),
        Q(ITEMS_Q),
        Q(LISTS_Q),
        Q(UNTYPED_Q),
    ])

vec("sync/ops-subkeys",
    "Ops for the same row with different subkeys are separate oplog entries; the newest op_id wins; removing the "
    "newest subkey falls back to the other one.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("2", [bk("b", 3, 3, 2)])),
        line(data("b", [put("1", "items", "r", 1, '{"name":"from sk1"}', subkey="sk1"), put("2", "items", "r", 2, '{"name":"from sk2"}', subkey="sk2")])),
        Q(OPLOG_Q),
        line(complete("2")),
        Q(ITEMS_Q),
        line(diff("3", [bk("b", 7, 3, 3)], [])),
        line(data("b", [op("3", "REMOVE", 4, "items", "r", subkey="sk2")])),
        Q(UPDATED_Q),
        line(complete("3")),
        Q(ITEMS_Q),
        Q(OPLOG_Q),
    ])

vec("sync/ops-untyped-and-local-only",
    "Rows whose type has no synced table go to ps_untyped, including a type that only exists as a local_only "
    "table (ps_data_local__notes stays empty); a REMOVE deletes the row from ps_untyped.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [bk("b", 7, 3, 3)])),
        line(data("b", [put("1", "notes", "n1", 1, '{"body":"x"}'), put("2", "other", "o1", 2, '{"v":1}'),
                        put("3", "items", "i1", 4, '{"name":"i"}')])),
        line(complete("3")),
        Q(UNTYPED_Q),
        Q("select id, data from ps_data_local__notes"),
        Q(ITEMS_Q),
        line(diff("4", [bk("b", 15, 3, 4)], [])),
        line(data("b", [remove("4", "notes", "n1", 8)])),
        line(complete("4")),
        Q(UNTYPED_Q),
    ],
    schema={"tables": SCHEMA_TABLES + [{"name": "notes", "local_only": True, "columns": [{"name": "body", "type": "TEXT"}]}]})

vec("sync/ops-typed-view-columns",
    "Synced JSON is stored verbatim in ps_data__items and read through the view with CAST(json_extract(...)); "
    "extra keys are kept, missing columns read as NULL.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [bk("b", 6, 3, 3)])),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a","qty":"7","extra":true}'), put("2", "items", "b", 2, '{"qty":2.9}'),
                        put("3", "items", "c", 3, '{"name":null,"qty":-1}')])),
        line(complete("3")),
        Q(ITEMS_Q),
        Q("select id, name, typeof(name), qty, typeof(qty) from items order by id"),
    ])

vec("sync/ops-bucket-not-in-checkpoint",
    "A data line for a bucket the tracked checkpoint does not list is stored (and the line before any checkpoint "
    "too); since such a bucket was not known at start it survives the first checkpoint and its ops are "
    "published by checkpoint_complete; a restart requests it and the next checkpoint then deletes it.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        ctl("connection", "established"),
        line(data("x", [put("1", "items", "n", 1, None)]), note="before any checkpoint; status unchanged -> []"),
        line(data("y", [put("2", "items", "z", 1, "{}")])),
        line(checkpoint("2", [bk("x", 1)])),
        Q(BUCKETS_Q),
        Q(OPLOG_Q),
        line(complete("2")),
        Q(ITEMS_Q),
        Q(BUCKETS_Q),
        ctl("stop"),
        start(None),
        line(checkpoint("2", [bk("x", 1)])),
        Q("select name from ps_buckets order by id"),
        Q(UPDATED_Q),
        line(complete("2")),
        Q(ITEMS_Q),
    ])

vec("sync/ops-large-op-ids",
    "Op ids and last_op_id are 64-bit: values up to i64::MAX are stored as INTEGER and echoed as decimal "
    "strings in the next request; a leading '+' is accepted by the parser.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("9223372036854775807", [bk("big", 3, 3, 2)], wc="9223372036854775806")),
        line(data("big", [put("9007199254740993", "items", "a", 1, '{"name":"a"}'), put("+9223372036854775807", "items", "b", 2, '{"name":"b"}')])),
        Q(OPLOG_Q),
        line(complete("9223372036854775807")),
        Q(BUCKETS_Q),
        Q(KV_Q),
        ctl("stop"),
        start(None),
    ])

vec("sync/ops-downloaded-size",
    "downloaded_size accumulates the byte length of every data line for the bucket (UTF-8 bytes of the JSON "
    "text including multi-byte characters, or the BSON document size), and is untouched by empty data lines.",
    "docs/protocol.md",
    [
        start(None),
        line(checkpoint("3", [bk("s", 7, 3, 3)])),
        line('{"data":{"bucket":"s","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"é","checksum":1,"data":"{\\"name\\":\\"ü€\\"}"}]}}'),
        Q("select name, downloaded_size, count_since_last from ps_buckets"),
        line('{"data":{"bucket":"s","data":[]}}'),
        Q("select name, downloaded_size, count_since_last, last_op from ps_buckets"),
        bline(data("s", [put("2", "items", "b", 2, '{"name":"b"}'), op("3", "MOVE", 4)])),
        Q("select name, downloaded_size, count_since_last, last_op from ps_buckets"),
        line(complete("3")),
        Q(ITEMS_Q),
    ])


# =============================================================================================
# §6.2 commands: start

vec("sync/start-defaults",
    "start with a NULL payload on a fresh database: connecting status, request with no buckets, parameters "
    "null, include_defaults true; BLOB, INTEGER and REAL payloads are treated like NULL; '{}' is the same.",
    "docs/protocol.md",
    [
        start(None, expect=start_expect()),
        start({}, expect=start_expect()),
        Ctl("start", b"\x7b\x7d", expect=start_expect(), note="BLOB payload = defaults"),
        Ctl("start", 5, expect=start_expect(), note="INTEGER payload = defaults"),
        Ctl("start", 1.5, expect=start_expect(), note="REAL payload = defaults"),
        ctl("stop"),
    ])

vec("sync/start-client-id",
    "The request's client_id is ps_kv['client_id'] (the UUID created by powersync_init).",
    "docs/protocol.md",
    [
        Q("select powersync_client_id()"),
        start(None),
        Q(KV_Q),
    ], client_id=None)

vec("sync/start-parameters",
    "start.parameters must be a JSON object (or null); it is re-serialised compactly into the request with keys "
    "sorted (also nested), whereas app_metadata is copied verbatim (whitespace kept) and omitted when null.",
    "docs/protocol.md",
    [
        start('{"parameters": {"team": "t1", "a": {"z": 1, "b": [1, 2.50, "x"]}}, "app_metadata": {"app_version": "1.2", "n": [1, 2]}}'),
        start('{"parameters": null, "app_metadata": null}'),
        start('{"app_metadata": "just a string"}'),
        start('{"app_metadata": 12.50}'),
        start('{"parameters": {}}'),
        start('{"parameters": {"u": "\\u00e9\\n", "big": 12345678901234567890, "f": 1.0e2}}'),
        start('{"parameters":{"x":123456789012345678901234567890,"y":-0.0,"w":[{"b":1,"a":2}],"v":0.1,"u":1e-7,'
              '"t":-9223372036854775809,"s":"\\u2028\\u0001\\/"}}',
              note="serde_json re-serialisation: integers outside i64/u64 become f64 (shortest repr, e+NN), "
                   "-0.0 kept, U+2028 written raw, control characters as \\u00XX, '/' unescaped"),
        start('{"parameters":{"z":1E400}}'),
    ])

vec("sync/start-options",
    "include_defaults false is passed through; checkpoint_mode 'requests' adds checkpoint_request with the "
    "client id and id '1' on a fresh database; unknown keys, a schema without raw tables, active_streams "
    "without subscriptions and diagnostics do not change the request.",
    "docs/protocol.md",
    [
        start({"include_defaults": False}),
        start({"checkpoint_mode": "requests"}),
        start({"checkpoint_mode": "legacy", "include_defaults": True}),
        start({"bogus": 1, "schema": {"tables": []}, "active_streams": [{"name": "s"}], "diagnostics": {}}),
        ctl("stop"),
    ])

vec("sync/start-errors",
    "Invalid start payloads fail with 'invalid argument: . cause: <serde message>' (3091): bad JSON, "
    "wrong types for parameters / include_defaults / diagnostics, unknown checkpoint_mode, schema without "
    "tables, duplicate keys, a JSON array, empty text. A failing start leaves the running iteration untouched.",
    "docs/protocol.md; docs/reliability.md",
    [
        start(None),
        line(checkpoint("1", [bk("b", 1)])),
        start("not json"),
        start('{"parameters": [1]}'),
        start('{"parameters": "x"}'),
        start('{"include_defaults": 1}'),
        start('{"include_defaults": null}'),
        start('{"checkpoint_mode": "bogus"}'),
        start('{"checkpoint_mode": null}'),
        start('{"diagnostics": 1}'),
        start('{"schema": {}}'),
        start('{"parameters": {"a": 1}, "parameters": {"b": 2}}'),
        start("[]"),
        start(""),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')]), note="the iteration started first is still active"),
        line(complete("1")),
        Q(ITEMS_Q),
    ])

vec("sync/start-replaces-iteration",
    "start while an iteration is active replaces it silently (no CloseSyncStream from the old one); the old "
    "tracked checkpoint is gone (checkpoint_complete fails; the new iteration is kept), but downloaded data "
    "stays in ps_oplog.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("1", [bk("b", 1, 3, 1)])),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')])),
        start(None),
        Q(BUCKETS_Q),
        line(complete("1")),
        kept(),
    ])

vec("sync/start-request-buckets",
    "The request lists every ps_buckets row with pending_delete = 0 as {name, after: last_op as string}, in "
    "rowid order; names are JSON-escaped.",
    "docs/protocol.md",
    [
        X("insert into ps_buckets(name, last_op) values ('zeta', 7), ('alpha', 9223372036854775807), ('del', 3), ('q\"u\\\\o', -4)"),
        X("update ps_buckets set pending_delete = 1 where name = 'del'"),
        start(None),
        ctl("stop"),
    ])

vec("sync/start-diagnostics",
    "With diagnostics in start: HandleDiagnostics BucketStateChange (incremental false after checkpoint/diff, "
    "listing all buckets by name; incremental true for the bucket of a data line), and SchemaChange for the "
    "first type seen per (table, column) or a type change away from non-String; data lines for unknown buckets "
    "get no BucketStateChange.",
    "docs/protocol.md; docs/decisions.md",
    [
        start({"diagnostics": {}}),
        line(checkpoint("4", [bk("zb", 3, 1, 2), bk("ab", 4, 3, 2)])),
        line(data("zb", [put("1", "items", "x", 1, '{"id":"x","n":null,"s":"t","i":1,"r":1.5,"o":{"a":1},"arr":[1]}'),
                         put("2", "items", "y", 2, '{"s":1,"i":"str","r":2}')])),
        line(data("ab", [put("3", "lists", "l", 1, '{"b":true,"after_bool":1}'), put("4", "items", "z", 3, '{"r":3.5,"i":5,"k":-0.0}')])),
        line(data("other", [put("5", "items", "w", 1, '{"new_col":"x"}')])),
        line(data("ab", [op("6", "MOVE", 0), remove("7", "items", "z", 0)])),
        line(partial("4", 1)),
        line(diff("5", [bk("ab", 4, 3, 3)], [])),
        line(complete("5")),
        ctl("stop"),
    ])


# §6.2 commands: stop / connection / completed_upload / refreshed_token / argument errors

vec("sync/control-stop-and-connection",
    "stop while idle returns []; connection 'established' twice (second returns [] as the status is unchanged); "
    "connection 'end' closes; stop after an active iteration emits the disconnected status and "
    "CloseSyncStream; a BLOB 'end' is accepted as 'end'.",
    "docs/protocol.md",
    [
        ctl("stop", None, expect="[]"),
        ctl("stop", "ignored payload", expect="[]"),
        start(None),
        ctl("connection", "established", expect=ST_CONNECTED),
        ctl("connection", "established", expect="[]"),
        ctl("connection", "end"),
        ctl("connection", "established", expect=NO_ITERATION),
        start(None),
        Ctl("connection", b"end", note="BLOB payload with the bytes of 'end'"),
        start(None),
        ctl("stop", 123),
        ctl("stop"),
        start(None),
        Ctl("stop", None, sql="select json_object('r', powersync_control(?, ?))",
            note="instruction arrays carry the JSON subtype, so they nest as JSON"),
        Ctl("stop", None, sql="select json_object('r', powersync_control(?, ?))"),
    ])

vec("sync/control-clear-during-iteration",
    "powersync_trigger_resync and a soft powersync_clear (bit 0x02) refuse to run while an iteration is active "
    "(3091, the iteration stays alive); a hard powersync_clear(1) is allowed and wipes the bucket tables.",
    "docs/sql-functions.md; docs/reliability.md",
    a5_first_sync() + [
        X("begin"),
        Q("select powersync_trigger_resync(0)"),
        Q("select powersync_trigger_resync(1)"),
        Q("select powersync_clear(2)"),
        Q("select powersync_clear(3)"),
        X("rollback"),
        line(tok(600), expect="[]", note="still active"),
        X("begin"),
        Q("select powersync_clear(1)"),
        X("commit"),
        Q(BUCKETS_Q),
        Q(ITEMS_Q),
        Q(SYNCSTATE_Q),
        line(tok(600), expect="[]"),
        ctl("stop"),
        X("begin"),
        Q("select powersync_trigger_resync(1)"),
        Q("select powersync_clear(2)"),
        X("commit"),
    ])

vec("sync/control-argument-errors",
    "Payload type errors of line_text / line_binary / connection are 3091 and checked before the iteration: "
    "they are reported even when idle, and they leave an active iteration alive.",
    "docs/protocol.md; docs/reliability.md",
    [
        Ctl("line_text", b"{}", note="idle"),
        ctl("line_text", None),
        ctl("line_binary", "text"),
        ctl("connection", "bogus"),
        ctl("connection", None),
        start(None),
        line(checkpoint("1", [bk("b", 1)])),
        Ctl("line_text", b'{"token_expires_in":60}'),
        ctl("line_text", None),
        ctl("line_text", 5),
        ctl("line_binary", "x"),
        ctl("line_binary", None),
        ctl("line_binary", 1.5),
        ctl("connection", "bogus"),
        ctl("connection", "ESTABLISHED"),
        ctl("connection", None),
        ctl("connection", 5),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')]), note="the iteration is still alive"),
        line(complete("1")),
        Q(ITEMS_Q),
    ])

vec("sync/control-idle-events",
    "While no iteration is active, line_text, line_binary, connection, completed_upload and refreshed_token "
    "fail with 'invalid state: No iteration is active' (21); stop returns [].",
    "docs/protocol.md",
    [
        no_iteration("line_text", '{"token_expires_in":60}'),
        no_iteration("line_binary", Bson(tok(60))),
        no_iteration("connection", "established"),
        no_iteration("connection", "end"),
        no_iteration("completed_upload", None),
        no_iteration("refreshed_token", None),
        ctl("stop", None, expect="[]"),
        ctl("bogus", None),
        Ctl(1, None),
        Ctl(None, None),
        Ctl(b"stop", None),
    ])

vec("sync/control-requires-transaction",
    "powersync_control outside a transaction fails with 'This function may only be called in transactions.' "
    "(21) for every op, and does not affect an active iteration.",
    "docs/protocol.md; docs/reliability.md",
    [
        Ctl("start", None, tx=False),
        start(None),
        Ctl("line_text", '{"token_expires_in":60}', tx=False),
        Ctl("stop", None, tx=False),
        Ctl("connection", "established", tx=False),
        ctl("connection", "established"),
    ])

vec("sync/control-error-keeps-iteration",
    "0.5.4 keeps the iteration after an event error (0.5.3 ended it): after a malformed line, line_text, "
    "line_binary, connection, completed_upload and refreshed_token are still handled; the same holds after a "
    "truncated BSON line, a checkpoint_diff or a partial_checkpoint_complete without checkpoint; stop after "
    "an error closes normally (disconnected status, then CloseSyncStream); a second stop returns [].",
    "docs/decisions.md; docs/protocol.md",
    [
        start(None),
        line("garbage"),
        kept("line_text", '{"token_expires_in":60}', expect=ST_CONNECTED),
        kept("line_binary", Bson(tok(60)), expect="[]"),
        kept("connection", "established", expect="[]"),
        kept("completed_upload", None, expect="[]"),
        kept("refreshed_token", None, expect='[' + ST_DISCONNECTED + ',{"CloseSyncStream":{"hide_disconnect":true}}]'),
        ctl("stop", None, expect="[]"),
        start(None),
        bline(Bson(raw=b"\x05\x00\x00"), note="truncated BSON"),
        kept("line_text", '{"token_expires_in":60}', expect=ST_CONNECTED),
        start(None),
        line(diff("1", [], [])),
        kept("completed_upload", None, expect="[]"),
        start(None),
        line(partial("1", 0)),
        kept("refreshed_token", None),
        start(None),
        line("garbage"),
        ctl("stop", None, expect='[' + ST_DISCONNECTED.replace('"connecting":false', '"connecting":false') + ',' + CLOSE + ']', note="0.5.4: stop after an error closes normally"),
        ctl("stop", None, expect="[]"),
    ])

vec("sync/gate-completed-upload-nothing-pending",
    "completed_upload with nothing pending returns [] (also before any checkpoint and after an applied one).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        ctl("completed_upload", None, expect="[]"),
        line(checkpoint("1", [bk("b", 1)])),
        ctl("completed_upload", None, expect="[]"),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(complete("1")),
        ctl("completed_upload", None, expect="[]"),
        ctl("refreshed_token", None),
    ])

vec("sync/gate-checkpoint-drops-pending",
    "A new checkpoint line drops a pending (gate-blocked) checkpoint: completed_upload afterwards has nothing to "
    "apply.",
    "docs/protocol.md; docs/decisions.md",
    a5_first_sync() + [
        LOCAL_INSERT,
        line(diff("2", [bk("b", 3, 3, 2)], [], wc="3")),
        line(data("b", [put("2", "items", "s2", 2, '{"name":"two"}')])),
        line(complete("2")),
        X("delete from ps_crud"),
        ctl("target_checkpoint_request_id", "3"),
        line(checkpoint("2", [bk("b", 3, 3, 2)], wc="3")),
        ctl("completed_upload", None, expect="[]"),
        Q(ITEMS_Q),
        line(complete("2")),
        Q(ITEMS_Q),
    ])


# =============================================================================================
# §2 line types, value typing, malformed lines (JSON)

def reject_each(lines, label_fn=None):
    """start + failing line + the next event, for each line: 0.5.4 keeps the iteration after the error
    (0.5.4), so token_expires_in still marks it connected."""
    s = []
    for ln in lines:
        note = label_fn(ln) if label_fn else None
        s += [start(None), line(ln, note=note), kept()]
    return s


vec("sync/line-malformed-json",
    "Text lines that are not a JSON object with exactly one key fail with 'Sync protocol error: invalid text "
    "line. cause: <serde message>' (code 4); the iteration is kept (0.5.4): invalid JSON, trailing characters, "
    "empty text, {}, arrays, numbers, strings, null, two keys (also a known + an unknown key).",
    "docs/protocol.md; docs/reliability.md; docs/decisions.md",
    reject_each(["not json", '{"token_expires_in":60} x', "", "{}", "[]", "5", '"checkpoint"', "null",
                 '{"token_expires_in":5,"checkpoint_complete":{}}', '{"unknown":1,"token_expires_in":5}',
                 '{"checkpoint_complete":{},"unknown":1}', '{"token_expires_in":60']))

vec("sync/line-whitespace-and-unknown",
    "Whitespace around a JSON line (including a trailing newline) is accepted; an unknown line type is skipped "
    "with a DEBUG LogLine whatever its payload; when the first line of an iteration produces its own "
    "instructions they come before the first 'connected' UpdateSyncStatus.",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line('{"some_future_line":{"x":1}}', expect='[{"LogLine":{"severity":"DEBUG","line":"Unknown sync line"}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}]'),
        line('  {"token_expires_in":600}\n', expect="[]"),
        line('{"other":null}'),
        line('{"other":[1,2,{"a":"b"}]}'),
        line('{"":"empty key"}'),
        start(None),
        line('{"token_expires_in":30}', expect='[{"FetchCredentials":{"did_expire":false}},{"UpdateSyncStatus":{"status":{"connected":true,"connecting":false,"priority_status":[],"downloading":null,"streams":[]}}}]'),
        start(None),
        line('{"token_expires_in":0}', note="the iteration ends before the connected status is emitted"),
    ])

for binary in (False, True):
    k = kind(binary)
    vec(f"sync/line-without-checkpoint-{k}",
        f"checkpoint_diff, checkpoint_complete and partial_checkpoint_complete before any checkpoint ({via(binary)}): "
        "the first two are sync protocol errors (4), the partial variant an invalid state error (21); the "
        "iteration is kept (0.5.4).",
        "docs/protocol.md; docs/reliability.md; docs/decisions.md",
        [
            start(None), both(diff("1", [bk("b", 1)], []), binary), kept(expect=ST_CONNECTED),
            start(None), both(complete("1"), binary), kept(expect=ST_CONNECTED),
            start(None), both(partial("1", 0), binary), kept(expect=ST_CONNECTED),
            start(None), both(data("b", [put("1", "items", "a", 1, '{"name":"a"}')]), binary),
            both(complete("1"), binary, note="a data line does not create a tracked checkpoint"),
            kept(expect=ST_CONNECTED, note=KEPT_NOTE + "; a data line does not mark the status connected (0.5.4)"),
            Q(BUCKETS_Q),
        ])

vec("sync/line-checkpoint-complete-payload",
    "checkpoint_complete's payload must deserialize as a struct with only ignored fields: any object (fields "
    "ignored) or even an array works, null / numbers / strings fail; partial_checkpoint_complete requires "
    "priority; the iteration is kept after each error (0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("1", [bk("b", 1)])),
        line(data("b", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line('{"checkpoint_complete":[]}'),
        line(diff("1", [], [])),
        line('{"checkpoint_complete":{"last_op_id":5,"anything":[1]}}'),
        line('{"partial_checkpoint_complete":{"priority":0,"last_op_id":null,"x":1}}'),
        line('{"checkpoint_complete":null}'),
        kept(expect="[]"),
        start(None), line('{"checkpoint_complete":"x"}'),
        start(None), line('{"partial_checkpoint_complete":{"last_op_id":"1"}}'),
        start(None), line('{"partial_checkpoint_complete":{"priority":null}}'),
    ])

vec("sync/typing-op-ids",
    "Op ids, last_op_id and write_checkpoint must be strings holding a decimal i64: numbers, empty / non-numeric "
    "/ space-prefixed / overflowing strings are protocol errors; '+5' and '-5' parse; write_checkpoint may "
    "be null or absent. The iteration is kept after each error (0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    reject_each([
        checkpoint(5, []), checkpoint("abc", []), checkpoint("", []), checkpoint(" 5", []), checkpoint("5 ", []),
        checkpoint("9223372036854775808", []), checkpoint("1.0", []), checkpoint("1", [], wc=7), checkpoint(None, []),
        data("b", [{"op_id": 5, "op": "PUT", "checksum": 1}]), data("b", [{"op_id": "0x10", "op": "PUT", "checksum": 1}]),
        diff("2", [], [], wc=3),
    ]) + [
        start(None),
        line(checkpoint("-5", [], wc="+7")),
        line(complete("-5")),
        line(checkpoint("+8", [], wc=None)),
        line(complete("8")),
        line(checkpoint("9", [])),
        line(complete("9")),
        Q(KV_Q),
    ])

vec("sync/typing-checksums",
    "Checksums accept integers and whole floats in [-2^31, 2^32-1] (1e3, -1.0, 4294967295.0 included); "
    "4294967296, -2147483649, 1.5, strings, null and booleans are protocol errors (iteration kept, 0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line('{"checkpoint":{"last_op_id":"4","buckets":[{"bucket":"c","checksum":4294967295.0,"count":4}]}}'),
        line('{"data":{"bucket":"c","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"a","checksum":-2147483648,"data":"{}"},'
             '{"op_id":"2","op":"PUT","object_type":"items","object_id":"b","checksum":2147483647.0,"data":"{}"},'
             '{"op_id":"3","op":"MOVE","checksum":-1.0},{"op_id":"4","op":"MOVE","checksum":1e0}]}}'),
        Q("select name, add_checksum, op_checksum from ps_buckets"),
        Q("select op_id, hash from ps_oplog order by op_id"),
        line(complete("4")),
        line('{"checkpoint":{"last_op_id":"4","buckets":[{"bucket":"c","checksum":-1}]}}', note="-1 == 4294967295"),
        line(complete("4")),
        line('{"checkpoint":{"last_op_id":"4","buckets":[{"bucket":"c","checksum":1e3}]}}'),
    ] + reject_each([
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":4294967296}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":-2147483649}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":4294967296.0}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":1.5}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":"5"}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":null}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"c","checksum":true}]}}',
        '{"data":{"bucket":"c","data":[{"op_id":"1","op":"MOVE","checksum":18446744073709551615}]}}',
        '{"data":{"bucket":"c","data":[{"op_id":"1","op":"MOVE","checksum":-0.5}]}}',
    ]))

vec("sync/typing-priorities",
    "priority: integers 0 <= p < 2147483647 (null = default 3; 2147483646 accepted); -1 and 2147483647 fail with "
    "'invalid argument: Invalid bucket priority value' nested in the protocol error; floats and strings fail; "
    "count is an optional i64 (null ok, negative passed through to target_count). The iteration is kept after "
    "each error (0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line('{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"priority":null,"count":null},{"bucket":"b","checksum":0,"priority":2147483646,"count":-5},{"bucket":"c","checksum":0,"priority":0,"count":9007199254740993}]}}'),
    ] + reject_each([
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"priority":-1}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"priority":2147483647}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"priority":1.0}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"priority":"1"}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"count":"1"}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0,"count":1.5}]}}',
        '{"checkpoint_diff":{"last_op_id":"1","updated_buckets":[{"bucket":"a","checksum":0,"priority":-1}],"removed_buckets":[]}}',
        '{"partial_checkpoint_complete":{"last_op_id":"1","priority":-1}}',
        '{"partial_checkpoint_complete":{"last_op_id":"1","priority":2147483647}}',
    ]))

vec("sync/typing-op-fields",
    "Op fields: object_type / object_id / subkey / data must be strings or null; op data holding a JSON object "
    "(not a string) is rejected; op must be one of PUT, REMOVE, MOVE, CLEAR (case-sensitive); op_id, op and "
    "checksum are required. The iteration is kept after each error (0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    reject_each([
        data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "checksum": 1, "data": {"name": "a"}}]),
        data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "checksum": 1, "data": 5}]),
        data("b", [{"op_id": "1", "op": "PUT", "object_type": 1, "object_id": "a", "checksum": 1}]),
        data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": 7, "checksum": 1}]),
        data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "subkey": 5, "checksum": 1}]),
        data("b", [{"op_id": "1", "op": "UPSERT", "checksum": 1}]),
        data("b", [{"op_id": "1", "op": "put", "checksum": 1}]),
        data("b", [{"op_id": "1", "op": None, "checksum": 1}]),
        data("b", [{"op_id": "1", "checksum": 1}]),
        data("b", [{"op_id": "1", "op": "MOVE"}]),
        data("b", [{"op": "MOVE", "checksum": 1}]),
        {"data": {"bucket": "b"}},
        {"data": {"data": []}},
        {"data": {"bucket": 5, "data": []}},
        {"data": {"bucket": "b", "data": {}}},
        {"data": []},
    ]) + [
        start(None),
        line(checkpoint("1", [bk("b", 1)])),
        line(data("b", [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "a", "subkey": None, "checksum": 1,
                         "data": '{"name":"a"}', "unknown_field": {"x": 1}}]), note="null subkey and unknown fields are fine"),
        line(complete("1")),
        Q(OPLOG_Q),
    ])

vec("sync/typing-checkpoint-fields",
    "Checkpoint / diff shapes: buckets, updated_buckets and removed_buckets are required; bucket entries need "
    "bucket and checksum; removed_buckets are strings; unknown fields (also 'streams': []) are fine. The "
    "iteration is kept after each error (0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    reject_each([
        '{"checkpoint":{"last_op_id":"1"}}',
        '{"checkpoint":{"last_op_id":"1","buckets":{}}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"checksum":1}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a"}]}}',
        '{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":null,"checksum":1}]}}',
        '{"checkpoint":null}',
        '{"checkpoint":{"last_op_id":"1","buckets":[],"last_op_id":"2"}}',
    ]) + [
        start(None),
        line('{"checkpoint":{"last_op_id":"1","buckets":[],"streams":[],"extra":{"a":1}}}'),
        line('{"checkpoint_diff":{"last_op_id":"2","updated_buckets":[]}}'),
        kept(expect="[]"),
        start(None),
        line('{"checkpoint":{"last_op_id":"1","buckets":[]}}'),
        line('{"checkpoint_diff":{"last_op_id":"2","removed_buckets":[]}}'),
        start(None),
        line('{"checkpoint":{"last_op_id":"1","buckets":[]}}'),
        line('{"checkpoint_diff":{"last_op_id":"2","updated_buckets":[],"removed_buckets":[1]}}'),
        start(None),
        line('{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":0}]}}'),
        line('{"checkpoint_diff":{"last_op_id":"2","updated_buckets":[],"removed_buckets":["a","never-existed"],"extra":1}}'),
        line(complete("2")),
    ])


# =============================================================================================
# Status and powersync_offline_sync_status()

vec("sync/status-offline",
    "powersync_offline_sync_status() (no transaction needed): is the empty "
    "disconnected status on a fresh database, ignores an active iteration (always connected/connecting false, "
    "downloading null) and lists ps_sync_state rows sorted by priority with has_synced true.",
    "docs/protocol.md; docs/sql-functions.md",
    [
        Q(OFFLINE_Q),
        start(None),
        line(checkpoint("2", [bk("p1", 1, 1, 1), bk("p3", 2, 3, 1)])),
        Q(OFFLINE_Q, note="while downloading"),
        line(data("p1", [put("1", "items", "a", 1, '{"name":"a"}')])),
        line(partial("2", 1)),
        Q(OFFLINE_Q),
        line(data("p3", [put("2", "items", "b", 2, '{"name":"b"}')])),
        line(complete("2")),
        Q(OFFLINE_Q),
        ctl("stop"),
        Q(OFFLINE_Q),
        X("insert into ps_sync_state(priority, last_synced_at) values (1, 1700000000000000), (0, 1690000000000000)"),
        Q(OFFLINE_Q),
    ])

vec("sync/status-offline-before-init",
    "powersync_offline_sync_status() before powersync_init() fails because ps_buckets does not exist.",
    "docs/sql-functions.md",
    [
        Q(OFFLINE_Q, err_prefix="powersync_offline_sync_status: ", note="wrapped SQLite error; the quoted internal SQL may differ"),
        X("begin; select powersync_init(); commit"),
        Q(OFFLINE_Q),
    ],
    init=False)

vec("sync/status-progress-across-sessions",
    "Progress counters: count_at_last is set from the checkpoint counts at a complete apply, so a later session's "
    "target_count is count - at_last; counts_since_last of an interrupted session carry over; a checkpoint "
    "whose count is below at_last + since_last resets all counters (ps_buckets too).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line(checkpoint("2", [bk("a", 3, 3, 2), bk("b", 0, 1, 0)])),
        line(data("a", [put("1", "items", "a1", 1, "{}"), put("2", "items", "a2", 2, "{}")])),
        line(complete("2")),
        Q("select name, count_at_last, count_since_last from ps_buckets order by id"),
        line(diff("4", [bk("a", 10, 3, 4)], [])),
        line(data("a", [put("3", "items", "a3", 3, "{}")])),
        ctl("connection", "end"),
        Q("select name, count_at_last, count_since_last from ps_buckets order by id"),
        start(None),
        line(checkpoint("4", [bk("a", 10, 3, 4), bk("b", 0, 1, 0)])),
        line(data("a", [put("4", "items", "a4", 4, "{}")])),
        line(checkpoint("4", [bk("a", 10, 3, 3), bk("b", 0, 1, 0)]), note="count 3 < at_last 2 + since_last 2: reset"),
        Q("select name, count_at_last, count_since_last from ps_buckets order by id"),
        line(complete("4")),
        Q("select name, count_at_last, count_since_last from ps_buckets order by id"),
    ])

vec("sync/start-diagnostics-presence",
    "Diagnostics are enabled by any object under 'diagnostics' (unknown fields ignored) and disabled by null "
    "or absence.",
    "docs/protocol.md",
    [
        start('{"diagnostics": null}'),
        line(checkpoint("1", [bk("a", 0)])),
        start('{"diagnostics": {"x": 1}}'),
        line(checkpoint("1", [bk("a", 0)])),
    ])

vec("sync/line-struct-as-array",
    "Line payloads are deserialised like serde structs, which also accept a JSON array with the fields in "
    "declaration order: DataLine [bucket, data], Checkpoint [last_op_id, write_checkpoint, buckets, ...], "
    "checkpoint_complete []; a too short or too long array is an error (iteration kept, 0.5.4).",
    "docs/protocol.md; docs/decisions.md",
    [
        start(None),
        line('{"checkpoint":["2",null,[{"bucket":"b","checksum":1}]]}'),
        line('{"data":["b",[{"op_id":"1","op":"PUT","object_type":"items","object_id":"a","checksum":1,"data":"{}"}]]}'),
        line('{"checkpoint_complete":[]}'),
        Q(ITEMS_Q),
        line('{"data":["b"]}'),
        kept(expect="[]"),
        start(None),
        line(checkpoint("1", [])),
        line('{"checkpoint_complete":["ignored"]}', note="a struct without known fields only accepts an empty array"),
    ])
