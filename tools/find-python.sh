#!/usr/bin/env sh
# Print the path of a working Python 3.12 interpreter, or explain how to get one and fail.
# Order: $PYTHON, python3.12 on PATH, pyenv's installed 3.12.x. A pyenv shim named
# python3.12 is on PATH on many machines but only answers when PYENV_VERSION names a 3.12,
# so every candidate is run, not just found.
works() {
    "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' >/dev/null 2>&1
}

if [ -n "${PYTHON:-}" ]; then
    if works "$PYTHON"; then echo "$PYTHON"; exit 0; fi
    echo "error: PYTHON=$PYTHON is not a working Python 3.12 with venv; unset it or point it to one" >&2
    exit 1
fi

if command -v python3.12 >/dev/null 2>&1 && works python3.12; then
    command -v python3.12
    exit 0
fi

if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root 2>/dev/null)
    for candidate in $(ls -d "$root"/versions/3.12* 2>/dev/null | sort -r); do
        if works "$candidate/bin/python3.12"; then echo "$candidate/bin/python3.12"; exit 0; fi
    done
fi

for candidate in /usr/bin/python3.12 /usr/local/bin/python3.12 /opt/homebrew/bin/python3.12; do
    if works "$candidate"; then echo "$candidate"; exit 0; fi
done

cat >&2 <<'MSG'
error: no Python 3.12 found (slicer-core 5.13 and vmtk 1.5.2 need exactly 3.12).
Install one, e.g. `pyenv install 3.12` or your OS package `python3.12` (with venv),
or run `make test PYTHON=/path/to/python3.12`.
MSG
exit 1
