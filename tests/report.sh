# shellcheck shell=bash
# Step and check reporting for the shell tests: each check prints "ok" or
# "not ok"; the first failure ends the run; the last line counts them. A
# test this machine cannot run ends as skipped, with the reason, never as
# passed.
PASSED=0
FAILED=0

step() {
    printf '\n== %s\n' "$*"
}

# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        echo "ok - $what"
    else
        FAILED=$((FAILED + 1))
        echo "not ok - $what"
        finish
    fi
}

finish() {
    echo
    echo "$(basename "$0"): $PASSED passed, $FAILED failed"
    exit $((FAILED > 0))
}

# skip REASON: this machine lacks what the test needs; say so and end the
# run, counted as skipped.
skip() {
    echo "$(basename "$0"): skipped: $1"
    echo "$(basename "$0"): $PASSED passed, $FAILED failed, 1 skipped"
    exit 0
}
