"""Print the reliability table from a run of the reliability tests (`make reliability`)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

AFTER_FAULT = "history rows = tables created; advisory locks held: 0; next migrate completes; rows lost: 0"
NOTHING_WRITTEN = "exit code as documented; message names the location; nothing written; no traceback"

# (pattern on the test id, family, what each case verified afterwards)
FAMILIES: list[tuple[str, str, str]] = [
    (r"test_faults.py::test_sigkill", "SIGKILL mid-migration", AFTER_FAULT),
    (
        r"test_faults.py::test_server_terminates",
        "server terminates the connection",
        "exit 4, clear message; " + AFTER_FAULT,
    ),
    (
        r"test_faults.py::test_server_restarted",
        "server restart between migrations",
        "run fails cleanly (exit 4); " + AFTER_FAULT,
    ),
    (r"test_faults.py::test_sigint", "SIGINT (Ctrl-C) during a run", "exit 130 naming the migration; " + AFTER_FAULT),
    (
        r"test_faults.py::test_(sixteen|concurrent)",
        "16+ concurrent migrate/down/status",
        "each migration applied once; all exit 0; " + AFTER_FAULT,
    ),
    (
        r"test_faults.py::test_(waiting_runner|sixteen_replicas)",
        "runners waiting while CREATE INDEX CONCURRENTLY runs",
        "no deadlock; index valid; each migration applied once; " + AFTER_FAULT,
    ),
    (
        r"test_faults.py::test_(ctrl_c_after|terminated_backend)",
        "Ctrl-C / terminated backend in a no-transaction file",
        "history says failed with the statement reached; history = catalog; lock free; rerun refuses clearly",
    ),
    (
        r"test_faults.py::test_ctrl_c_while_a_no_transaction",
        "Ctrl-C while a no-transaction file's history row is written",
        "exit 130; the row says applied; history = catalog; lock free",
    ),
    (
        r"test_executor.py::test_(run_stops_when_the_lock|idle_session_timeout)",
        "the lock's connection ended from outside",
        "the run stops before the next file (exit 4); idle_session_timeout cannot end it",
    ),
    (
        r"test_executor.py::test_(a_role_without_superuser|a_logins_default_role|client_encoding_set)",
        "least-privilege and default roles, a file's client_encoding",
        "files run as the login would; history row written as a new session would, text intact",
    ),
    (
        r"test_executor.py::test_(commit_and_chain|rolled_back_block|do_block_that_commits|a_timeout_the_server)",
        "COMMIT AND CHAIN, ROLLBACK, a DO block that commits, a refused timeout",
        "what took effect is counted; never retried after an effect; no traceback",
    ),
    (
        r"test_executor.py::test_(a_file_cannot_reach|lock_timeout_retry_inside|deferred_constraint)",
        "--single-transaction: savepoint games, retries, deferred constraints",
        "no replay; nothing stays on failure; COMMIT failures reported, not a traceback",
    ),
    (
        r"test_executor.py::test_(do_block_with_a_language|one_migration_stays|psql_command_after)",
        "messages: DO LANGUAGE bodies, wording, psql commands after SQL",
        "right line; right number; refused before anything runs",
    ),
    (
        r"test_faults.py::test_ctrl_c_under_single",
        "Ctrl-C under --single-transaction",
        "exit 130, says nothing stays; nothing printed as applied; " + AFTER_FAULT,
    ),
    (
        r"test_executor.py::test_(temp_table|session_replication|search_path|role_set|prepared|a_file_cannot)",
        "session state a file leaves (SET, role, temp table, cursor, LISTEN, unlock)",
        "the next file, the history row and the next run start clean",
    ),
    (
        r"test_executor.py::test_(runtime_error|cancelled|failing_statement|error_inside|lock_timeout_retry)",
        "runtime error, cancel, lock timeout",
        "file runs once (sequence counts 1); file:line:col, whole statement, DO-block line",
    ),
    (
        r"test_executor.py::test_(commit_hidden|rollback_to|transaction_ended)",
        "a file that ends sqlmig's transaction",
        "detected at the file's end; history says failed or nothing stays",
    ),
    (
        r"test_executor.py::test_(leading_set|failed_single|lock_retries_|begin_without|transaction_left|history_write)",
        "no-transaction files stopped part-way",
        "history says failed/applied as the catalog shows; INVALID index named with its DROP; no re-run",
    ),
    (
        r"test_executor.py::test_(single_transaction_failure|json_error|copy_to)",
        "what the output claims",
        "nothing shown as applied unless committed; JSON lists ran/stayed; COPY TO STDOUT refused",
    ),
    (
        r"test_faults.py::test_new_",
        "`new` on full disk / no permission / failed write",
        "exit 3, no partial pair left behind",
    ),
    (r"test_hostile.py::test_(binary|nul)", "binary / non-UTF-8 content", NOTHING_WRITTEN),
    (r"test_hostile.py::test_(bad_names|symlink)", "names with spaces, unicode, `..`, symlinks", NOTHING_WRITTEN),
    (r"test_hostile.py::test_version_overflow", "versions that overflow bigint", NOTHING_WRITTEN),
    (r"test_hostile.py::test_fifty", "a 50 MB file", "applied and reverted; an error on its last line located"),
    (r"test_hostile.py::test_thousands", "thousands of files", "all applied once; status and down agree"),
    (r"test_hostile.py::test_empty", "empty and comment-only files", "valid no-ops: applied and recorded"),
    (r"test_hostile.py::test_bad_database_urls", "malformed URL / closed port", "exit 2 or 4; password never shown"),
    (
        r"test_hostile.py::test_(unreadable_history|directory_that|unreadable_file)",
        "quotes, semicolons, odd paths",
        NOTHING_WRITTEN,
    ),
    (
        r"test_hostile_discovery.py::",
        "hostile directories: link loops, FIFOs, unreadable, repeated, odd bytes, markers not read",
        NOTHING_WRITTEN,
    ),
    (
        r"test_hostile_seed.py::|test_seed.py::test_names_and_values_can_never_inject",
        "hostile seed.json (deep, duplicate keys, NaN, huge numbers, quotes)",
        NOTHING_WRITTEN,
    ),
    (
        r"test_server_surface.py::test_(a_role|another|a_view|status_without|history_write|advisory|a_read_only)",
        "locked-down roles, a history name taken, a read-only database",
        "exit 0 with minimal grants; else exit 1/3 naming the GRANT or the table; nothing altered",
    ),
    (
        r"test_server_surface.py::test_(a_system_schema|a_role_statement|backend_terminated|a_deadlock|a_file_that)",
        "system schemas, role timeouts, termination while waiting, deadlocks",
        "exit 1, 2 or 4 as documented; history = catalog; no traceback",
    ),
    (
        r"test_server_surface.py::test_(a_euro|latin1)",
        "LATIN1 and SQL_ASCII databases",
        "characters the encoding lacks refused at file:line:col before anything runs; the rest applies",
    ),
    (
        r"test_server_surface.py::test_waiting|test_executor.py::test_lock_timeout_retry_runs",
        "waits that say what they wait for",
        "the server or the lock's holder named once; lock-retry lines name the blocking session",
    ),
    (
        r"test_hostile_settings.py::test_(bad_numbers|wait_nan|an_infinite|infinite|every_duration|a_marker|lock_retries)"
        r"|test_config.py::test_(numbers|an_infinite)",
        "nan, inf, huge and octal waits, timeouts and retries",
        "exit 2 naming setting and source before connecting; inf waits; durations = the server's ms",
    ),
    (
        r"test_hostile_settings.py::test_down_to",
        "--to a version that is none (migrate and down alike)",
        "exit 2 naming the version; nothing reverted",
    ),
    (
        r"test_hostile_settings.py::test_(a_checked|an_unencoded|the_library|config_file)"
        r"|test_config.py::test_(redaction_of|a_url_libpq|urls_libpq|no_password)",
        "passwords with / # ? @ in URLs, queries and key=value (checked by the server)",
        "never shown in errors, config, --json or -v logs; unreadable URLs refused before connecting",
    ),
    (
        r"test_hostile_corpus.py::",
        "hostile corpus: options, env, URLs, bytes, seed JSON (table below)",
        "documented exit code; no traceback; no password; a failed run wrote nothing",
    ),
    (
        r"test_properties.py::test_filename|test_properties.py::test_parse",
        "file-name parsing (hypothesis)",
        "round trip; never crashes",
    ),
    (r"test_properties.py::test_discovery", "version ordering (hypothesis)", "numeric order whatever the padding"),
    (
        r"test_properties.py::test_plan",
        "plan from files + history (hypothesis)",
        "each version once; states and down order",
    ),
    (
        r"test_scanner.py::test_(matches_reference|split_loses|no_split_inside|pglast_.*_oracle)",
        "statement splitter (hypothesis, pglast oracle)",
        "split+join loses nothing; no split inside quotes",
    ),
]


def main(path: str) -> int:
    data = json.loads(Path(path).read_text())
    outcomes: dict[str, str] = data["outcomes"]
    cases: dict[str, int] = data.get("cases", {})
    rows: list[tuple[str, int, int, str]] = []
    failed = 0
    for pattern, family, verified in FAMILIES:
        ids = [n for n in outcomes if re.search(pattern, n)]
        if not ids:
            continue
        tried = passed = 0
        for nodeid in ids:
            name = nodeid.split("::")[-1].split("[")[0]
            n = cases.get(name, 1)
            tried += n
            passed += n if outcomes[nodeid] == "passed" else 0
            failed += outcomes[nodeid] == "failed"
        rows.append((family, tried, passed, verified))
    width = max(len(r[0]) for r in rows)
    print(f"| {'family':<{width}} | tried | passed | verified afterwards |")
    print(f"|{'-' * (width + 2)}|------:|-------:|---------------------|")
    for family, tried, passed, verified in rows:
        print(f"| {family:<{width}} | {tried:>5} | {passed:>6} | {verified} |")
    tried = cases.get("corpus:tried", 0)
    if tried:
        print("\nhostile corpus (fixed cases and hypothesis-generated files, options, URLs, seed JSON):\n")
        print("| runs | clear error, no traceback | exit code documented | no password shown | nothing written |")
        print("|-----:|------:|------:|------:|------:|")
        counts = [cases.get(f"corpus:{k}", 0) for k in ("clear", "documented", "secret", "unchanged")]
        print(f"| {tried} | " + " | ".join(str(c) for c in counts) + " |")
    skipped = [n for n, o in outcomes.items() if o == "skipped"]
    if skipped:
        print(f"\nskipped here: {', '.join(skipped)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".reliability.json"))
