#!/usr/bin/env bash
# Gradescope runs this once, as root, from /autograder/source, when it builds the autograder image.
# It installs the grader into its own virtual environment (the system python3 is left alone),
# creates the unprivileged user that students' kernels run as, and locks this folder away from it.
# Overrides, for testing outside Gradescope: GRADER_VENV (default /opt/grader-venv),
# GRADER_PYTHON (default python3), GRADER_PIP_ARGS (extra pip options, e.g. --find-links DIR),
# GRADER_KERNEL_USER (default grader-kernel).
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${GRADER_VENV:-/opt/grader-venv}"
PYTHON="${GRADER_PYTHON:-python3}"
KERNEL_USER="${GRADER_KERNEL_USER:-grader-kernel}"

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Ubuntu ships venv support in a separate package.
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
fi

umask 022
"$PYTHON" -m venv --clear "$VENV"
# shellcheck disable=SC2086  # GRADER_PIP_ARGS is a list of options, split on purpose
"$VENV/bin/python" -m pip install --no-input --disable-pip-version-check ${GRADER_PIP_ARGS:-} \
    "$SOURCE"/grader-*.whl
# The kernel runs as $KERNEL_USER with this environment's python: it must be able to read it.
chmod -R a+rX,go-w "$VENV"

"$VENV/bin/python" -I -m grader.gradescope setup --source "$SOURCE" --kernel-user "$KERNEL_USER"
