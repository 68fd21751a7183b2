"""Output folders written all at once: a run's files appear together, or not at all.

:class:`OutputSet` is how every writer of an output folder writes (``ivc-plan plan``, ``demo``,
``phantom`` and the Slicer module's *Write report*, through ``folder.write_output_folder``):

1. :func:`check_output_folder` first, before any work: the folder is a folder (or can be made)
   and can be written to (a file is made and removed again; permission bits alone do not say,
   e.g. for root or on a read-only mount). :class:`OutputFolderError` (a ValueError) otherwise.
2. A lock (``DIR/.ivc-plan.lock``, an exclusive ``flock``): a second run into the same folder is
   refused at once with :class:`FolderBusyError`, naming the run that holds it. The kernel drops
   the lock of a run that dies, so a crashed run blocks nothing.
3. The files are written into a temporary folder beside ``DIR`` (``.DIR.ivc-plan-<pid>-...``;
   inside ``DIR`` when its parent cannot be written or is another file system).
4. Only when everything succeeded, the set is moved into ``DIR`` with a manifest
   (``ivc-plan-manifest.json``: version, command, inputs with their SHA-256, the files written
   with theirs). The files of the previous set (the previous manifest's) that the new run does
   not write are removed, so the folder never mixes two runs; files ivc-plan did not write are
   never touched (they are reported through ``note``), and a file that is an input of the run is
   never removed. These renames run with signals deferred (``interrupts.critical``).
5. On any error or interrupt the temporary folder is removed: ``DIR`` is as it was (a ``DIR``
   this run created is removed again if it is still empty).

A folder written before manifests existed has no previous set: its files are left alone, except
those the new run writes, which are replaced as an earlier version replaced them.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

MANIFEST_NAME = "ivc-plan-manifest.json"
# A set's files may lie in sub-folders this deep (DIR/dicom/: the DICOM outputs of a DICOM input).
SUBFOLDER_DEPTH = 1
LOCK_NAME = ".ivc-plan.lock"
_TEMP_TAG = ".ivc-plan-"  # temporary folders: ".<DIR name>.ivc-plan-<pid>-<random>" or inside DIR


class OutputFolderError(ValueError):
    """The output folder cannot be used (not a folder, not writable, an input in the way)."""


class FolderBusyError(OutputFolderError):
    """Another run is writing into the same output folder."""


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def check_output_folder(out: str | Path) -> Path:
    """Refuse an output folder that cannot be written, before any work: ``out`` is a file, lies
    under a file, or it (or, when it does not exist yet, the folder it would be made in) does not
    take a new file. Nothing is left behind. Returns ``out`` as a Path.

    :raises OutputFolderError: "cannot write into DIR: ..." with the reason and what to do.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputFolderError(
            f"cannot write into {out}: it is a file, not a folder: give a folder (new or existing) "
            "for the output"
        )
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputFolderError(
            f"cannot write into {out}: {existing} is a file, not a folder: choose another output folder"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=".ivc-plan-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        where = "" if existing == out else f" (in {existing}, where it would be made)"
        raise OutputFolderError(
            f"cannot write into {out}{where}: {_reason(exc)}: choose an output folder you can write to"
        ) from None
    return out


def sha256_of(path: Path) -> str:
    """SHA-256 of a file; of a folder, over its files' names and contents (sorted, not recursive:
    a DICOM series folder)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            digest.update(child.name.encode() + b"\0" + sha256_of(child).encode() + b"\n")
        return digest.hexdigest()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def describe_input(role: str, path: Path) -> dict[str, Any]:
    """A manifest entry of an input: what it is and its checksum, not its name or folder (which
    may name a patient; the checksum identifies the file)."""
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file()]
        return {
            "role": role,
            "kind": "folder",
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "sha256": sha256_of(path),
        }
    return {"role": role, "kind": "file", "bytes": path.stat().st_size, "sha256": sha256_of(path)}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The ivc-plan manifest of a folder, or None when there is none (or it is not one)."""
    try:
        data = json.loads((Path(folder) / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(data, dict)
        or data.get("tool") != "ivc-plan"
        or not isinstance(data.get("files"), list)
    ):
        return None
    return data


def _is_set_name(name: Any) -> bool:
    """Whether a manifest's file name is one a set may hold: a plain file name, or one in a
    sub-folder of the output folder ("dicom/veins_seg.dcm"; ``SUBFOLDER_DEPTH`` levels at most),
    never leaving it (no "..", no absolute path, no backslash)."""
    if not isinstance(name, str) or not name or "\\" in name or name.startswith("/"):
        return False
    parts = name.split("/")
    return (
        len(parts) <= SUBFOLDER_DEPTH + 1
        and all(part not in ("", ".", "..") for part in parts)
        and not _is_ours(parts[0])
    )


def _manifest_names(manifest: dict[str, Any] | None) -> set[str]:
    """The file names a manifest lists, relative to its folder ("plan.json", "dicom/plan_sr.dcm");
    anything else is ignored: a manifest never makes ivc-plan remove a file outside its folder."""
    out = set()
    for entry in (manifest or {}).get("files", []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if _is_set_name(name):
            out.add(name)
    return out


def _is_ours(name: str) -> bool:
    return name in (MANIFEST_NAME, LOCK_NAME) or name.startswith((_TEMP_TAG, ".ivc-plan-probe-"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class OutputSet:
    """One run's set of output files, put into ``out`` all at once (see the module's docstring).

    ``with OutputSet(out, command="plan", inputs={"volume": path}) as output:`` write into
    ``output.folder`` (or ``output.path(name)``); leaving the block without an exception moves
    the set into ``out`` and writes the manifest; an exception (or ``interrupts.Interrupted``)
    discards it. ``inputs`` (role -> path, or (role, path) pairs) are checksummed in the manifest
    and protected. ``expected`` names the files the run will write: an input among them, in
    ``out``, is refused at once (the run would replace its own input). ``note`` receives one line
    about files in ``out`` that ivc-plan did not write (they stay). After the block, ``files``
    lists the final paths, ``manifest`` the manifest written.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        command: str,
        inputs: dict[str, Any] | Iterable[tuple[str, Any]] = (),
        expected: Iterable[str] = (),
        note: Callable[[str], None] | None = None,
    ):
        self.out = Path(out)
        self.command = command
        pairs = inputs.items() if isinstance(inputs, dict) else inputs
        self.inputs = [(str(role), Path(p)) for role, p in pairs if p is not None]
        self.expected = set(expected)
        self.note = note
        self.folder: Path | None = None
        self.files: list[Path] = []
        self.manifest: dict[str, Any] | None = None
        self._lock_fd: int | None = None
        self._created: list[Path] = []

    # -- paths

    def path(self, name: str) -> Path:
        """Where to write the file ``name`` of the set now (in the temporary folder)."""
        if self.folder is None:
            raise RuntimeError("OutputSet.path() outside its with-block")
        return self.folder / name

    def final(self, path: str | Path) -> Path:
        """The path a file of the temporary folder will have in ``out`` (a file in a sub-folder
        of it keeps its sub-folder: ``dicom/plan_sr.dcm``)."""
        path = Path(path)
        if self.folder is not None and path.is_relative_to(self.folder):
            return self.out / path.relative_to(self.folder)
        return self.out / path.name

    # -- the with-block

    def __enter__(self) -> OutputSet:
        check_output_folder(self.out)
        self._check_inputs()
        missing = []
        p = self.out
        while not p.exists():
            missing.append(p)
            p = p.parent
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputFolderError(f"cannot write into {self.out}: {_reason(exc)}") from None
        self._created = missing  # innermost first
        try:
            self._lock()
            self._remove_stale()
            self.folder = self._make_temp()
        except BaseException:
            self._unlock()
            self._remove_created()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
        finally:
            try:
                if self.folder is not None and self.folder.exists():
                    shutil.rmtree(self.folder, ignore_errors=True)
            finally:
                self._unlock()
                if exc_type is not None or not self.files:
                    self._remove_created()

    # -- steps

    def _check_inputs(self) -> None:
        out = self.out.resolve() if self.out.exists() else None
        for role, path in self.inputs:
            if (
                out is not None
                and path.exists()
                and path.resolve().parent == out
                and path.name in self.expected
            ):
                raise OutputFolderError(
                    f"the {role} {path} is an input of this run, and the run writes a new {path.name} into "
                    f"{self.out}: choose another output folder (or move the input out of it)"
                )

    def _lock(self) -> None:
        import fcntl

        path = self.out / LOCK_NAME
        for _ in range(20):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = ""
                with contextlib.suppress(OSError, ValueError):
                    holder = os.read(fd, 200).decode().strip()
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OutputFolderError(f"cannot lock {self.out}: {_reason(exc)}") from None
                raise FolderBusyError(
                    f"another run is writing into {self.out} ({holder or 'lock held'}): wait until it has "
                    "finished, or choose another output folder"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file its previous holder removed meanwhile
                break
            os.close(fd)
        else:
            raise FolderBusyError(f"cannot lock {self.out}: the lock keeps changing; try again")
        started = datetime.datetime.now().astimezone().strftime("%H:%M:%S")
        os.ftruncate(fd, 0)
        os.write(fd, f"ivc-plan {self.command}, pid {os.getpid()}, since {started}\n".encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.out / LOCK_NAME)  # removed while held: the next run locks a new file
        os.close(self._lock_fd)
        self._lock_fd = None

    def _temp_parents(self) -> list[Path]:
        return [self.out.parent, self.out]

    def _remove_stale(self) -> None:
        """Temporary folders of runs into this folder that were killed (we hold the lock, so no
        run that is alive owns one)."""
        prefixes = (f".{self.out.name}{_TEMP_TAG}", _TEMP_TAG)
        for parent, prefix in zip(self._temp_parents(), prefixes, strict=True):
            with contextlib.suppress(OSError):
                for child in parent.iterdir():
                    if child.name.startswith(prefix) and child.is_dir() and not child.is_symlink():
                        pid = child.name[len(prefix) :].split("-")[0]
                        if not pid.isdigit() or not _pid_alive(int(pid)) or int(pid) == os.getpid():
                            shutil.rmtree(child, ignore_errors=True)

    def _make_temp(self) -> Path:
        parent = self.out.parent
        try:
            if os.stat(parent).st_dev == os.stat(self.out).st_dev:
                return Path(tempfile.mkdtemp(prefix=f".{self.out.name}{_TEMP_TAG}{os.getpid()}-", dir=parent))
        except OSError:
            pass  # the parent cannot be written: inside the folder itself
        try:
            return Path(tempfile.mkdtemp(prefix=f"{_TEMP_TAG}{os.getpid()}-", dir=self.out))
        except OSError as exc:
            raise OutputFolderError(f"cannot write into {self.out}: {_reason(exc)}") from None

    def _remove_created(self) -> None:
        for folder in self._created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
        self._created = []

    def _protected(self, path: Path) -> bool:
        resolved = path.resolve()
        for _, p in self.inputs:
            q = p.resolve()
            if resolved == q or (p.is_dir() and q in resolved.parents):
                return True
        return False

    def _write_manifest(self, names: Sequence[str]) -> dict[str, Any]:
        from .. import __version__

        manifest = {
            "tool": "ivc-plan",
            "version": __version__,
            "command": self.command,
            "written": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "inputs": [describe_input(role, p) for role, p in self.inputs if p.exists()],
            "files": [
                {"name": n, "bytes": (self.folder / n).stat().st_size, "sha256": sha256_of(self.folder / n)}
                for n in names
            ],
        }
        (self.folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        return manifest

    def _commit(self) -> None:
        from .. import interrupts

        assert self.folder is not None
        names = sorted(
            p.relative_to(self.folder).as_posix()
            for p in self.folder.rglob("*")
            if p.is_file() and p.relative_to(self.folder).as_posix() != MANIFEST_NAME
        )
        bad = [n for n in names if not _is_set_name(n)]
        if bad or any(p.is_symlink() for p in self.folder.rglob("*")):
            raise RuntimeError(
                f"the output set holds {', '.join(bad) or 'links'}: write files (in sub-folders "
                f"{SUBFOLDER_DEPTH} deep at most)"
            )
        manifest = self._write_manifest(names)
        previous = _manifest_names(read_manifest(self.out))
        for name in names:
            if self._protected(self.out / name):
                raise OutputFolderError(f"{self.out / name} is an input of this run: it is not replaced")
        for folder in {n.split("/")[0] for n in names if "/" in n}:
            if (self.out / folder).exists() and not (self.out / folder).is_dir():
                raise OutputFolderError(f"{self.out / folder} is a file: the output needs a folder there")
        ours = {n.split("/")[0] for n in [*names, *previous]}  # files and sub-folders of the sets
        present = {p.name for p in self.out.iterdir() if not _is_ours(p.name)}
        remove = sorted(
            n for n in previous - set(names) if (self.out / n).is_file() and not self._protected(self.out / n)
        )
        foreign = sorted(present - previous - set(names) - ours)
        backup = Path(tempfile.mkdtemp(prefix=f"{_TEMP_TAG}old-", dir=self.folder))
        moved_away: list[str] = []
        moved_in: list[str] = []
        made: list[Path] = []  # sub-folders made in out
        away = [*remove, *(n for n in [*names, MANIFEST_NAME] if (self.out / n).is_file())]

        def parent_of(path: Path, record: list[Path] | None = None) -> None:
            if not path.parent.is_dir():
                path.parent.mkdir(parents=True)
                if record is not None:
                    record.append(path.parent)

        with interrupts.critical():
            try:
                for n in away:
                    parent_of(backup / n)
                    os.replace(self.out / n, backup / n)
                    moved_away.append(n)
                for n in [*names, MANIFEST_NAME]:  # the manifest last: it says the set is complete
                    parent_of(self.out / n, made)
                    os.replace(self.folder / n, self.out / n)
                    moved_in.append(n)
            except BaseException:
                for n in moved_in:  # put the previous set back as it was
                    with contextlib.suppress(OSError):
                        os.replace(self.out / n, self.folder / n)
                for folder in reversed(made):
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                for n in moved_away:
                    with contextlib.suppress(OSError):
                        parent_of(self.out / n)
                        os.replace(backup / n, self.out / n)
                raise
        # A sub-folder the previous set had and this one does not is removed when it is empty.
        kept = {n.split("/")[0] for n in names if "/" in n}
        for folder in sorted({n.split("/")[0] for n in previous if "/" in n} - kept):
            with contextlib.suppress(OSError):
                (self.out / folder).rmdir()
        self.files = [self.out / n for n in names]
        self.manifest = manifest
        if foreign and self.note is not None:
            shown = ", ".join(foreign[:4]) + (", ..." if len(foreign) > 4 else "")
            self.note(
                f"{self.out} also holds {len(foreign)} file{'s' if len(foreign) > 1 else ''} ivc-plan did "
                f"not write ({shown}): left as they are"
            )
