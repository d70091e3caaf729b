#!/usr/bin/env bash
# Gradescope runs this once, as root, from /autograder/source, when it builds the autograder image.
# It installs the grader into its own virtual environment (the system python3 is left alone),
# finds the strongest isolation the container allows for students' kernels (a bubblewrap sandbox,
# else a uid of their own per kernel) and locks this folder away from them.
# Overrides, for testing outside Gradescope: GRADER_VENV (default /opt/grader-venv),
# GRADER_PYTHON (default python3), GRADER_PIP_ARGS (extra pip options, e.g. --find-links DIR),
# GRADER_KERNEL_USER (default: none, each kernel gets a uid of its own).
set -euo pipefail

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${GRADER_VENV:-/opt/grader-venv}"
PYTHON="${GRADER_PYTHON:-python3}"
KERNEL_USER="${GRADER_KERNEL_USER:-}"

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    # Ubuntu ships venv support in a separate package.
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
fi

umask 022
"$PYTHON" -m venv --clear "$VENV"
# shellcheck disable=SC2086  # GRADER_PIP_ARGS is a list of options, split on purpose
"$VENV/bin/python" -m pip install --no-input --disable-pip-version-check ${GRADER_PIP_ARGS:-} \
    "$SOURCE"/*.whl
# Kernels run unprivileged with this environment's python: they must be able to read it.
chmod -R a+rX,go-w "$VENV"

"$VENV/bin/python" -I -m grader.gradescope setup --source "$SOURCE" \
    ${KERNEL_USER:+--kernel-user "$KERNEL_USER"}
