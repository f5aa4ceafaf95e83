"""Find the files a scan must account for, in a deterministic order.

Rules (documented in docs/scanning.md):
- Paths named on the command line are always reported: a named file that is not an image gets a
  ``skipped`` record; a named path that does not exist is refused before scanning (exit 2).
- Inside folders (recursive unless ``recursive=False``), entries are visited in byte order of their
  names, depth first. A file is an image when its extension is a known image extension OR its first
  bytes carry an image signature (a PNG named ``.dat`` is scanned; a text file named ``.jpg`` is
  tried and gets an error record). Other files are ignored, or get a ``skipped`` record with
  ``all_files=True``; so are ``.c2pa`` sidecar manifest stores, which the provenance reader reads
  with the image of the same name, and which are counted apart. Fifos, sockets and devices are never opened.
- Symbolic links inside folders are not followed unless ``follow_symlinks=True``: each gets a
  ``skipped`` record saying so. When following, every file and folder is visited once (keyed by
  device and inode); a link to an already visited folder (a loop) or file gets a ``skipped`` record.
  Links named on the command line are followed (as ``find -H`` does).
- An unreadable folder or a dangling/looping link gets an ``error`` record; nothing here is fatal.
- What gets no record is counted (:attr:`Walker.unrecorded`): files that are not images (without
  ``all_files``), entries left out by ``exclude`` or not matching ``include``, special files inside
  folders, sub-folders not entered with ``recursive=False``. A scan's summary and manifest show them,
  so every walked file is accounted for.
- Paths are ``str`` holding any bytes: Python decodes file names with ``surrogateescape``, and
  ``os.fsencode`` gives the exact bytes back.
- With a :class:`~synthsight.reports.shard.Shard`, only the entries of that shard are yielded and counted;
  every shard still lists every folder (and registers every file reached through links), so the first
  visit of a file is the same in every shard and the shards together equal the unsharded walk.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from synthsight.errors import UsageError
from synthsight.image.formats import IMAGE_EXTENSIONS, SNIFF_BYTES, sniff_format
from synthsight.provenance.reader import SIDECAR_SUFFIX
from synthsight.reports.shard import Shard, relative_key

SIDECAR_RECORD = "C2PA sidecar manifest store: read as the provenance of the image with the same name, if any"


@dataclass
class Entry:
    """One path found by the walk. ``kind`` is ``image``, ``skipped`` (a record, no decode) or ``error``."""

    path: str
    kind: str
    message: str = ""
    size: int | None = None
    mtime_ns: int | None = None

    @property
    def is_regular(self) -> bool:
        return self.size is not None


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def sniff(path: str) -> bool:
    """True when the file starts with a known image signature (never raises)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    return sniff_format(head) is not None


def check_roots(paths: Iterable[str]) -> list[str]:
    """Absolute paths of the scan roots; refuses missing ones before any work starts."""
    roots = []
    for raw in paths:
        path = os.fsdecode(raw)
        if not os.path.lexists(path):
            raise UsageError(f"no such file or folder: {path!r}")
        roots.append(os.path.abspath(path))
    return roots


class Walker:
    """Iterates :class:`Entry` objects for the given roots (see the module docstring for the rules)."""

    def __init__(
        self,
        roots: Iterable[str],
        recursive: bool = True,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        follow_symlinks: bool = False,
        all_files: bool = False,
        shard: Shard | None = None,
    ):
        self.roots = check_roots(roots)
        self.shard = shard
        self._root_now = ""
        self.recursive = recursive
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.follow = follow_symlinks
        self.all_files = all_files
        self._seen_dirs: set[tuple[int, int]] = set()
        self._seen_files: dict[tuple[int, int], str] = {}
        self.unrecorded: Counter[str] = Counter()  # what was walked but gets no record, by UNRECORDED key

    def __iter__(self) -> Iterator[Entry]:
        for root in self.roots:
            self._root_now = root
            for entry in self._root(root):
                if self._owns(entry.path):
                    yield entry

    def describe(self) -> dict[str, object]:
        """What was walked, for the run manifest (``synthsight merge`` checks that shards agree on it)."""
        return {"roots": list(self.roots)}

    def shard_keys(self) -> dict[str, str] | None:
        """What `merge` needs besides the roots to tell a record's shard (nothing: the roots say it)."""
        return None

    def _owns(self, path: str) -> bool:
        return self.shard is None or self.shard.owns(relative_key(self._root_now, path))

    def _count(self, reason: str, path: str) -> None:
        if self._owns(path):
            self.unrecorded[reason] += 1

    def _root(self, root: str) -> Iterator[Entry]:
        try:
            st = os.stat(root)  # named paths are followed, links included
        except OSError as exc:
            yield Entry(root, "error", f"cannot read: {_why(exc)}")
            return
        if stat.S_ISDIR(st.st_mode):
            yield from self._tree(root, st)
        else:
            yield from self._file(root, st, named=True)

    def _file(self, path: str, st: os.stat_result, named: bool) -> Iterator[Entry]:
        if not stat.S_ISREG(st.st_mode):
            if named or self.all_files:
                yield Entry(path, "skipped", "not a regular file (fifo, socket or device)")
            else:
                self._count("special", path)
            return
        key = (st.st_dev, st.st_ino)
        if self.follow and key in self._seen_files:
            yield Entry(path, "skipped", f"same file as {self._seen_files[key]!r} (reached again through a link)")
            return
        if self.follow:
            self._seen_files[key] = path
        if not self._owns(path):  # another shard's file: not even sniffed here
            return
        entry = Entry(path, "image", size=st.st_size, mtime_ns=st.st_mtime_ns)
        sidecar = path.lower().endswith(SIDECAR_SUFFIX)
        if not sidecar and (is_image_name(path) or sniff(path)):
            yield entry
        elif named or self.all_files:
            entry.kind = "skipped"
            entry.message = SIDECAR_RECORD if sidecar else "not an image (unknown extension, no image signature)"
            yield entry
        else:
            self._count("c2pa_sidecar" if sidecar else "not_image", path)

    def _tree(self, top: str, st: os.stat_result) -> Iterator[Entry]:
        self._seen_dirs.add((st.st_dev, st.st_ino))
        # An explicit stack of iterators: a very deep tree must not hit Python's recursion limit.
        stack = [self._listing(top)]
        while stack:
            item = next(stack[-1], None)
            if item is None:
                stack.pop()
                continue
            if isinstance(item, Entry):
                yield item
                continue
            path, is_dir, st = item
            if is_dir:
                stack.append(self._listing(path))
            else:
                yield from self._file(path, st, named=False)

    def _listing(self, folder: str) -> Iterator[Entry | tuple[str, bool, os.stat_result]]:
        try:
            with os.scandir(folder) as it:
                kinds = {e.name: self.shard is not None and _plain_file(e) for e in it}
        except OSError as exc:
            yield Entry(folder, "error", f"folder unreadable: {_why(exc)}")
            return
        for name in sorted(kinds, key=os.fsencode):
            path = os.path.join(folder, name)
            if self._excluded(path, name):
                self._count("excluded", path)
                continue
            # Another shard's plain file (its type known from the folder listing): no lstat, so N shards do not
            # put N times one walk's metadata load on a shared file system. Without --follow-symlinks it cannot
            # be the target of a link this shard records, and its record, if any, is another shard's.
            if kinds[name] and not self.follow and not self._owns(path):
                continue
            yield from self._classify(path, name)

    def _classify(self, path: str, name: str) -> Iterator[Entry | tuple[str, bool, os.stat_result]]:
        try:
            lst = os.lstat(path)
        except OSError as exc:
            yield Entry(path, "error", f"cannot read: {_why(exc)}")
            return
        st = lst
        if stat.S_ISLNK(lst.st_mode):
            if not self.follow:
                yield Entry(path, "skipped", "symbolic link not followed (use --follow-symlinks)")
                return
            try:
                st = os.stat(path)
            except OSError as exc:
                yield Entry(path, "error", f"broken symbolic link: {_why(exc)}")
                return
        if stat.S_ISDIR(st.st_mode):
            if not self.recursive:
                self._count("not_descended", path)
                return
            key = (st.st_dev, st.st_ino)
            if key in self._seen_dirs:
                yield Entry(path, "skipped", "symbolic link loop: this folder is already being scanned")
                return
            self._seen_dirs.add(key)
            yield (path, True, st)
            return
        if self.include and not self._matches(path, name, self.include):
            self._count("not_included", path)
            return
        yield (path, False, st)

    def _excluded(self, path: str, name: str) -> bool:
        return bool(self.exclude) and self._matches(path, name, self.exclude)

    @staticmethod
    def _matches(path: str, name: str, patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns)


# Walker.unrecorded keys, in the words the summary line uses.
UNRECORDED = {
    "already_in_report": "already in the report (--resume)",
    "not_image": "not images (--all-files lists them)",
    "c2pa_sidecar": "C2PA sidecar manifests (read with the image of the same name)",
    "excluded": "left out by --exclude",
    "not_included": "not matching --include",
    "special": "fifos, sockets or devices",
    "not_descended": "sub-folders not entered (--no-recursive)",
    "listed_folder": "folders named in --files-from (not entered: the list names files)",
}


class Lookahead:
    """Runs a walk in its own thread, up to ``ahead`` entries ahead of the scan, counting what it finds.

    The tree is listed once: the progress bar reads :attr:`found` (and, once :attr:`done`, knows the
    total) instead of walking the tree a second time. Entries for which ``skip`` is true (already in
    a resumed report) are counted in :attr:`resumed` and not passed on.
    """

    def __init__(self, walker: Walker, skip: Callable[[Entry], bool] | None = None, ahead: int = 100_000):
        self.walker, self.skip = walker, skip
        self.found = self.resumed = 0
        self.done = False
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthsight-walk", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for entry in self.walker:
                if self.skip is not None and self.skip(entry):
                    self.resumed += 1
                    continue
                self.found += 1
                if not self._put(entry):
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self.done = True
            self._put(exc)
            return
        self.done = True
        self._put(None)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Entry]:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def walk(paths: Iterable[str], **options) -> Iterator[Entry]:
    """Entries for ``paths`` (files and folders); options as :class:`Walker`."""
    return iter(Walker(paths, **options))


def _plain_file(entry: os.DirEntry) -> bool:
    """A regular file by the folder listing's own type field (no syscall where the file system fills it in)."""
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _why(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else type(exc).__name__
