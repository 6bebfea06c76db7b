"""Downloading corpus archives: checksum, progress bar, atomic extraction.

An archive is streamed into a hidden ``.part`` file next to its target
folder, its checksum verified, then extracted into a hidden temporary folder
beside the target, which is renamed into place only once extraction has
finished. Loaders skip hidden entries, so an interrupted download never
leaves a half corpus that a later call would load silently.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DatasetNotFoundError

__all__ = ["RemoteArchive", "ARCHIVES", "download_archive"]

_CHUNK = 1 << 16


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
    """

    url: str
    folder: str
    checksum: str | None = None
    page: str = ""


#: Archives sersk can download, by name. ``checksum`` is the one published
#: by the data's host (Zenodo lists an MD5 for every file of record 1188976).
ARCHIVES = {
    "ravdess_speech": RemoteArchive(
        url="https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1",
        folder="Audio_Speech_Actors_01-24",
        # 208,468,073 bytes; MD5 as listed on the Zenodo record.
        checksum="md5:bc696df654c87fed845eb13823edef8a",
        page="https://zenodo.org/records/1188976 (file Audio_Speech_Actors_01-24.zip)",
    ),
    "ravdess_song": RemoteArchive(
        url="https://zenodo.org/records/1188976/files/Audio_Song_Actors_01-24.zip?download=1",
        folder="Audio_Song_Actors_01-24",
        checksum=None,  # no published checksum found; see DESCR
        page="https://zenodo.org/records/1188976 (file Audio_Song_Actors_01-24.zip)",
    ),
    "emodb": RemoteArchive(
        url="http://emodb.bilderbar.info/download/download.zip",
        folder="download",
        checksum=None,  # the host publishes none
        page="http://emodb.bilderbar.info/download/",
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


def _stream(url: str, dest: str, *, progress: bool, timeout: float) -> None:
    from tqdm.auto import tqdm

    req = urllib.request.Request(url, headers={"User-Agent": "sersk"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
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
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise _IncompleteDownload(
            f"incomplete download: received {received} of {total} bytes from {url}"
        )


def _safe_extract(archive: str, dest: str) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise OSError(
            f"the downloaded file is not a valid zip archive ({exc})"
        ) from exc
    dest_real = os.path.realpath(dest)
    with zf:
        for member in zf.namelist():
            target = os.path.realpath(os.path.join(dest, member))
            if os.path.isabs(member) or not (
                target == dest_real or target.startswith(dest_real + os.sep)
            ):
                raise OSError(
                    f"refusing to extract {member!r}: it would land outside {dest!r}"
                )
        try:
            zf.extractall(dest)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            raise OSError(f"the downloaded archive is corrupt ({exc})") from exc


def download_archive(
    url,
    target,
    *,
    checksum=None,
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
    ``target`` does not exist. When ``target`` already exists nothing is
    downloaded.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` address of a zip archive.
    target : str or os.PathLike
        Folder to create with the archive's content.
    checksum : str or None, default=None
        ``"md5:<hex>"`` or ``"sha256:<hex>"`` of the archive. None skips the
        check (use only for sources that publish no checksum).
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
    if target.is_dir():
        return target
    parsed = _parse_checksum(checksum)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=parent, prefix=f".{target.name}-", suffix=".part")
    os.close(fd)
    tmp_dir = None
    try:
        last_exc = None
        for attempt in range(int(n_retries) + 1):
            try:
                _stream(str(url), part, progress=progress, timeout=timeout)
                last_exc = None
                break
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
        tmp_dir = tempfile.mkdtemp(
            dir=parent, prefix=f".{target.name}-", suffix=".extracting"
        )
        _safe_extract(part, tmp_dir)
        try:
            os.rename(tmp_dir, target)
            tmp_dir = None
        except OSError:
            if not target.is_dir():  # not a concurrent download that won
                raise
    finally:
        if os.path.exists(part):
            os.remove(part)
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target
