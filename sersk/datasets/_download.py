"""Downloading corpus archives: checksum, progress bar, atomic extraction.

An archive is streamed into a hidden ``.part`` file next to its target
folder, its checksum verified, then extracted into a hidden temporary folder
beside the target, which is renamed into place only once extraction has
finished. Loaders skip hidden entries, so an interrupted download never
leaves a half corpus that a later call would load silently, and the next
call removes what an interrupted one left behind (see
:func:`download_archive`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DatasetNotFoundError

try:  # POSIX: a running download holds an advisory lock on its .part file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["RemoteArchive", "ARCHIVES", "download_archive"]

_CHUNK = 1 << 16

#: Without a per-archive limit, an archive may expand to at most this many
#: times its own size (speech WAV archives expand about 2.5 times; a zip
#: bomb expands a thousand times and more) ...
_MAX_EXPANSION = 10
#: ... and never less than this, so that tiny archives are not refused.
_MIN_EXTRACTED_CAP = 1 << 20

#: A ``.part`` file that no running download holds (POSIX lock) is stale once
#: it was last modified this many seconds ago. The delay covers the instant
#: between creating the file and locking it.
_STALE_AFTER = 60.0
#: Where file locks are not available (Windows), a ``.part`` file is stale
#: only once it was left untouched this long.
_STALE_AFTER_UNLOCKED = 24 * 3600.0


class _IncompleteDownload(OSError):
    """The server closed the connection before sending the whole file."""


@dataclass(frozen=True)
class RemoteArchive:
    """A downloadable zip archive of (part of) a corpus.

    Parameters
    ----------
    url : str
        Where to download it from.
    folder : str
        Name of the folder, inside the corpus root, that the archive is
        extracted into.
    checksum : str or None
        ``"md5:<hex>"`` or ``"sha256:<hex>"``; None skips verification (only
        for sources that publish no checksum).
    page : str
        Human-readable page to download it from by hand.
    size : int or None
        Size of the archive in bytes as published by its host (None when
        unknown); documents what the download costs.
    max_extracted_bytes : int or None
        Refuse to extract more than this many bytes (see
        :func:`download_archive`); None allows ten times the archive's size.
    max_download_bytes : int or None
        Stop a download that exceeds this many bytes (see
        :func:`download_archive`); None sets no limit.
    """

    url: str
    folder: str
    checksum: str | None = None
    page: str = ""
    size: int | None = None
    max_extracted_bytes: int | None = None
    max_download_bytes: int | None = None


#: Archives sersk can download, by name. ``checksum`` is the one published
#: by the data's host (Zenodo lists an MD5 for every file of record 1188976).
ARCHIVES = {
    "ravdess_speech": RemoteArchive(
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        folder="Audio_Speech_Actors_01-24",
        # 208,468,073 bytes; MD5 as listed on the Zenodo record.
        checksum="md5:bc696df654c87fed845eb13823edef8a",
        page="https://zenodo.org/records/1188976 (file Audio_Speech_Actors_01-24.zip)",
        size=208_468_073,
        max_download_bytes=208_468_073,
        # 1,440 clips of at most 253,053 frames (5.27 s) of 16-bit 48 kHz
        # audio, five of them stereo: at most about 0.73 GB once extracted.
        max_extracted_bytes=1 << 30,
    ),
    "ravdess_song": RemoteArchive(
        url="https://zenodo.org/records/1188976/files/Audio_Song_Actors_01-24.zip?download=1",
        folder="Audio_Song_Actors_01-24",
        # MD5 of the Zenodo record's file table, as pinned for this file by
        # PaddleSpeech (github.com/PaddlePaddle/PaddleSpeech,
        # paddleaudio/paddleaudio/datasets/ravdess.py at commit
        # d9a1d4179a21c5079149f34e0bfc011a52d409d1) next to the speech
        # archive's MD5 above; size as quoted from the same file table.
        checksum="md5:5411230427d67a21e18aa4d466e6d1b9",
        page="https://zenodo.org/records/1188976 (file Audio_Song_Actors_01-24.zip)",
        size=225_505_317,
        max_download_bytes=225_505_317,
        # 1,012 clips of at most 305,906 frames (6.37 s) of 16-bit 48 kHz
        # audio, one of them stereo: at most about 0.62 GB once extracted.
        max_extracted_bytes=1 << 30,
    ),
    "emodb": RemoteArchive(
        # The host publishes no checksum, and no public source was found
        # that pins one; served over plain HTTP (an HTTPS copy of the host
        # could not be confirmed), so the size cap below is the only guard.
        url="http://emodb.bilderbar.info/download/download.zip",
        folder="download",
        checksum=None,
        page="http://emodb.bilderbar.info/download/",
        # About 40 MB; its 535 WAV files take about 47 MB once extracted.
        max_extracted_bytes=256 << 20,
        max_download_bytes=128 << 20,
    ),
}


def _file_digest(path: str, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _parse_checksum(checksum: str | None) -> tuple[str, str] | None:
    if checksum is None:
        return None
    algo, sep, digest = str(checksum).partition(":")
    algo = algo.lower()
    if not sep or algo not in ("md5", "sha256") or not digest:
        raise ValueError(
            f"checksum must look like 'md5:<hex>' or 'sha256:<hex>'; got {checksum!r}."
        )
    return algo, digest.lower()


def _check_max_extracted_bytes(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "max_extracted_bytes must be a positive int (a number of bytes) or "
            f"None; got {value!r}."
        )
    return value


class _TooLarge(ValueError):
    """The server sends more than the archive can be."""


def _stream(
    url: str, dest: str, *, progress: bool, timeout: float, max_bytes=None
) -> None:
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "sersk"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        if max_bytes is not None and total is not None and total > max_bytes:
            raise _TooLarge(
                f"{url} announces {total:,} bytes, more than the {max_bytes:,} "
                "bytes this archive can be; nothing was downloaded."
            )
        received = 0
        with (
            open(dest, "wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=os.path.basename(url.split("?")[0]) or "download",
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            while True:
                try:
                    chunk = resp.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    received += len(exc.partial)
                    chunk = b""
                if not chunk:
                    break
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise _TooLarge(
                        f"{url} sent more than the {max_bytes:,} bytes this "
                        "archive can be; the download was stopped and removed."
                    )
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise _IncompleteDownload(
            f"incomplete download: received {received} of {total} bytes from {url}"
        )


def _part_in_use(path: str, now: float) -> bool:
    """Whether the ``.part`` file ``path`` may belong to a running download."""
    try:
        age = now - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    except OSError:  # cannot tell: keep it
        return True
    if fcntl is None:
        return age < _STALE_AFTER_UNLOCKED
    if age < _STALE_AFTER:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True  # a running download holds it
    finally:
        os.close(fd)  # also releases the lock taken just above
    return False


def _remove_stale(parent: Path, name: str) -> None:
    """Remove what interrupted downloads of ``parent / name`` left behind."""
    pattern = re.compile(rf"\.{re.escape(name)}-([a-z0-9_]+)\.(part|extracting)")
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    stems: dict[str, set] = {}
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match:
            stems.setdefault(match.group(1), set()).add(match.group(2))
    now = time.time()
    for stem, kinds in stems.items():
        base = os.path.join(parent, f".{name}-{stem}")
        if _part_in_use(base + ".part", now):
            continue
        if "extracting" in kinds:
            shutil.rmtree(base + ".extracting", ignore_errors=True)
        if "part" in kinds:
            try:
                os.remove(base + ".part")
            except OSError:
                pass


def _too_big(url: str, what: str, cap: int, why: str) -> ValueError:
    return ValueError(
        f"Refusing to extract the archive downloaded from {url}: {what}, more than "
        f"the limit of {cap:,} bytes ({why}). It is not the expected corpus (a zip "
        "bomb or a wrong file); nothing was kept. Pass a larger "
        "max_extracted_bytes only if you trust this archive."
    )


def _extract(archive: str, dest: str, *, cap: int, why: str, url: str) -> None:
    """Extract ``archive`` into the existing folder ``dest``, at most ``cap`` bytes.

    Folders and files are created with the user's umask applied. The sizes
    the zip's central directory declares are checked before anything is
    written, and the bytes actually decompressed are counted while writing.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise OSError(
            f"the downloaded file is not a valid zip archive ({exc})"
        ) from exc
    dest_real = os.path.realpath(dest)
    with zf:
        members, declared = [], 0
        for info in zf.infolist():
            target = os.path.realpath(os.path.join(dest_real, info.filename))
            if os.path.isabs(info.filename) or not (
                target == dest_real or target.startswith(dest_real + os.sep)
            ):
                raise OSError(
                    f"refusing to extract {info.filename!r}: it would land outside "
                    f"{dest!r}"
                )
            members.append((info, target))
            declared += info.file_size
        if declared > cap:
            raise _too_big(
                url,
                f"its members would take {declared:,} bytes once extracted",
                cap,
                why,
            )
        written = 0
        try:
            for info, target in members:
                if info.is_dir():
                    os.makedirs(target, exist_ok=True)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > cap:
                            raise _too_big(
                                url,
                                f"its members decompress to more than {cap:,} bytes "
                                f"although they declare {declared:,}",
                                cap,
                                why,
                            )
                        out.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
            raise OSError(f"the downloaded archive is corrupt ({exc})") from exc


def _is_empty_dir(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except OSError:
        return False


def download_archive(
    url,
    target,
    *,
    checksum=None,
    max_extracted_bytes=None,
    max_download_bytes=None,
    progress=True,
    n_retries=3,
    delay=1.0,
    timeout=60.0,
    manual_instructions="",
):
    """Download a zip archive and extract it atomically into ``target``.

    The archive is streamed into a hidden ``.part`` file in the parent of
    ``target``, verified against ``checksum``, extracted into a hidden
    temporary folder beside ``target`` and renamed to ``target`` only when
    everything succeeded. On any failure the temporary files are removed and
    ``target`` does not exist. When ``target`` already exists and is not
    empty nothing is downloaded; an empty ``target`` folder is filled.

    Extracted files and folders get the user's usual permissions (``0o666``
    and ``0o777`` less the umask), like any file the user creates.

    A download killed by SIGKILL, SIGTERM or a power cut cannot clean up:
    it leaves ``.<name>-<random>.part`` and ``.<name>-<random>.extracting``
    beside ``target``. Every call removes those of ``target`` that no running
    download uses: a ``.part`` file is stale when no process holds its lock
    (a running download keeps an advisory ``flock`` on it; where the system
    has no ``fcntl``, when it was last modified more than a day ago) and it
    was last modified more than a minute ago; an ``.extracting`` folder is
    stale when its ``.part`` file is stale or gone.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` address of a zip archive.
    target : str or os.PathLike
        Folder to create with the archive's content.
    checksum : str or None, default=None
        ``"md5:<hex>"`` or ``"sha256:<hex>"`` of the archive. None skips the
        check (use only for sources that publish no checksum).
    max_extracted_bytes : int or None, default=None
        Refuse archives whose content takes more than this many bytes once
        extracted (the sizes the archive declares are checked before
        extracting, the bytes actually written while extracting). None
        allows ten times the downloaded archive's size (at least 1 MiB).
    max_download_bytes : int or None, default=None
        Stop, and remove, a download whose announced ``Content-Length`` or
        received bytes exceed this many bytes (a server that sends without
        end must not fill the disk); not retried. None sets no limit.
    progress : bool, default=True
        Show a :mod:`tqdm` progress bar.
    n_retries : int, default=3
        Extra attempts after a network error.
    delay : float, default=1.0
        Seconds to wait between attempts.
    timeout : float, default=60.0
        Socket timeout in seconds.
    manual_instructions : str, default=""
        Appended to the error raised when the download fails.

    Returns
    -------
    target : pathlib.Path
        The extracted folder.

    Raises
    ------
    DatasetNotFoundError
        The archive could not be downloaded (offline, host down, HTTP error).
    OSError
        The download was incomplete, the checksum differs or the archive is
        corrupt; nothing is left behind.
    ValueError
        The archive would expand beyond ``max_extracted_bytes`` (a zip bomb
        or not the expected corpus); nothing is left behind.

    Examples
    --------
    >>> import tempfile, zipfile, pathlib
    >>> from sersk.datasets import download_archive
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(tmp / "a.zip", "w") as zf:
    ...     zf.writestr("Actor_01/readme.txt", "hello")
    >>> out = download_archive((tmp / "a.zip").as_uri(), tmp / "corpus", progress=False)
    >>> (out / "Actor_01" / "readme.txt").read_text()
    'hello'
    """
    target = Path(target)
    parent = target.parent
    if parent.is_dir():
        _remove_stale(parent, target.name)
    if target.is_dir() and not _is_empty_dir(target):
        return target
    parsed = _parse_checksum(checksum)
    max_extracted_bytes = _check_max_extracted_bytes(max_extracted_bytes)
    parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=parent, prefix=f".{target.name}-", suffix=".part")
    if fcntl is None:  # pragma: no cover - Windows: no lock, stale by age only
        os.close(fd)
        fd = None
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    tmp_dir = None
    try:
        last_exc = None
        for attempt in range(int(n_retries) + 1):
            try:
                _stream(
                    str(url),
                    part,
                    progress=progress,
                    timeout=timeout,
                    max_bytes=max_download_bytes,
                )
                last_exc = None
                break
            except _TooLarge:
                raise
            except urllib.error.HTTPError as exc:
                last_exc = exc
                if exc.code < 500:  # 4xx will not get better by retrying
                    break
            except (OSError, http.client.HTTPException) as exc:
                last_exc = exc
            if attempt < n_retries:
                time.sleep(delay)
        if last_exc is not None:
            if not isinstance(last_exc, _IncompleteDownload):
                raise DatasetNotFoundError(
                    f"Could not download {url} ({last_exc}). Check your internet "
                    "connection or proxy. " + manual_instructions
                ) from last_exc
            raise OSError(
                f"Download of {url} failed: {last_exc}. Nothing was kept; try "
                "again. " + manual_instructions
            ) from last_exc
        if parsed is not None:
            algo, expected = parsed
            got = _file_digest(part, algo)
            if got != expected:
                raise OSError(
                    f"Checksum mismatch for {url}: expected {algo} {expected}, got "
                    f"{got}. The file was deleted; the download was corrupted or "
                    "the archive changed upstream. " + manual_instructions
                )
        if max_extracted_bytes is None:
            size = os.path.getsize(part)
            cap = max(_MAX_EXPANSION * size, _MIN_EXTRACTED_CAP)
            why = f"{_MAX_EXPANSION} times the archive's {size:,} bytes"
        else:
            cap, why = max_extracted_bytes, "max_extracted_bytes"
        # Named after the .part file, whose lock marks both as in use; made
        # with os.mkdir (not mkdtemp's 0o700) so that the umask applies.
        tmp_dir = part[: -len(".part")] + ".extracting"
        try:
            os.mkdir(tmp_dir)
        except FileExistsError:  # left by a download killed long ago
            shutil.rmtree(tmp_dir)
            os.mkdir(tmp_dir)
        _extract(part, tmp_dir, cap=cap, why=why, url=str(url))
        try:
            os.rename(tmp_dir, target)  # replaces an empty target on POSIX
            tmp_dir = None
        except OSError:
            if _is_empty_dir(target):  # Windows does not replace folders
                os.rmdir(target)
                os.rename(tmp_dir, target)
                tmp_dir = None
            elif not target.is_dir():  # not a concurrent download that won
                raise
    finally:
        # In this order: while the .extracting folder exists, its .part file
        # exists and is locked, so no other call takes it for stale.
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        if os.path.exists(part):
            os.remove(part)
        if fd is not None:
            os.close(fd)
    return target
