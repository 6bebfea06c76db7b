"""Reading audio files into float32 waveforms."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from ..exceptions import (
    AudioAmplitudeWarning,
    AudioReadError,
    InvalidAudioError,
    LowSampleRateWarning,
)
from ..utils._validation import check_audio

__all__ = ["load_audio", "pcm_to_float", "resample"]

# full scale of each integer PCM sample type, as soundfile/libsndfile use it
_PCM_FULL_SCALE = {
    np.dtype(np.int8): 2.0**7,
    np.dtype(np.int16): 2.0**15,
    np.dtype(np.int32): 2.0**31,
}
# A peak above this (12 dB over full scale) is not a clipped recording but a
# waveform in the wrong units, such as integer PCM cast to float unscaled.
_FAR_OUTSIDE = 4.0

#: Sampling rates a file may declare: below, the header is damaged (a 1 Hz
#: header would make a small file hours long); above, it is not audio sersk
#: can use.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768_000


# "protocol://..." or a chained fsspec URL such as "simplecache::s3://...";
# two letters at least, so that a Windows drive ("C:/") is never a protocol
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+(?:::[A-Za-z][A-Za-z0-9+.\-]+)*://")


def is_url(path):
    """Whether ``path`` is a URL (``"s3://..."``) rather than a local path."""
    return isinstance(path, str) and _URL.match(path) is not None


def _open_url(url):
    """Open the file at an fsspec URL for reading, after checking it is one."""
    protocol = url.split("://", 1)[0].rsplit("::", 1)[-1]
    try:
        import fsspec
    except ImportError:
        raise ModuleNotFoundError(
            f"'{url}' is a URL ({protocol}://); sersk reads URLs through fsspec, "
            "which is not installed. Install it: pip install fsspec (it comes with "
            'pip install "sersk[distributed]"), plus the package of the storage '
            "(s3fs for s3://, gcsfs for gs://, adlfs for az://), or pass a local path."
        ) from None
    try:
        fs, fs_path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"Reading '{url}' needs fsspec's implementation of {protocol}://, which "
            f"is not installed: {exc}"
        ) from exc
    except ValueError as exc:
        raise ValueError(
            f"'{url}' is not a URL that fsspec can read ({exc}). Use a protocol "
            "that fsspec knows (file://, s3://, gs://, memory://, ...) or a local "
            "path."
        ) from exc
    try:
        info = fs.info(fs_path)
    except FileNotFoundError:
        raise FileNotFoundError(f"Audio file not found: '{url}'.") from None
    if info.get("type") == "directory":
        raise IsADirectoryError(
            f"'{url}' is a directory, not an audio file. Pass the files inside it "
            f"(e.g. fsspec.open_files('{url.rstrip('/')}/*.wav'))."
        )
    return fs.open(fs_path, "rb")


def _warn_if_far_outside(y, name, stacklevel):
    if y.size == 0:
        return
    peak = float(np.max(np.abs(y)))
    if peak > _FAR_OUTSIDE:
        warnings.warn(
            AudioAmplitudeWarning(
                f"{name} has a peak amplitude of {peak:.6g}, far outside [-1, 1]: "
                "it looks like integer PCM cast to float without scaling. Pass "
                "the integer array to sersk.io.pcm_to_float, or divide by the "
                "full scale yourself (32768 for 16-bit, 2**31 for 32-bit)."
            ),
            stacklevel=stacklevel,
        )


def pcm_to_float(y, *, name="y"):
    """Scale integer PCM samples to float32 in [-1, 1], as soundfile does.

    ``int16`` samples are divided by 32768, ``int32`` by ``2**31``, ``int8``
    by 128, and unsigned 8-bit samples (8-bit WAV) are centred on 128 first.
    Float input is returned as float32 unchanged, with an
    :class:`~sersk.exceptions.AudioAmplitudeWarning` when its peak is far
    outside [-1, 1] (more than 4), the usual sign of integer PCM cast to
    float without scaling.

    Parameters
    ----------
    y : array-like of shape (..., n_samples)
        Samples, e.g. the array returned by :func:`scipy.io.wavfile.read`.
    name : str, default="y"
        How the array is named in messages.

    Returns
    -------
    y_float : ndarray of shape (..., n_samples)
        float32 samples.

    Raises
    ------
    sersk.exceptions.InvalidAudioError
        An integer type that is not a PCM sample format (``int64``,
        ``uint16`` ...), whose full scale is unknown.
    TypeError
        Neither integer nor float samples.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.io import pcm_to_float
    >>> pcm_to_float(np.array([16384, -32768], dtype=np.int16))
    array([ 0.5, -1. ], dtype=float32)
    >>> pcm_to_float(np.array([128, 255, 0], dtype=np.uint8))
    array([ 0.      ,  0.9921875, -1.       ], dtype=float32)
    """
    # the warning points at the caller of pcm_to_float
    return _to_float(y, name, stacklevel=4)


def _to_float(y, name, stacklevel):
    arr = np.asarray(y)
    if arr.dtype == np.uint8:
        return (arr.astype(np.float32) - np.float32(128)) / np.float32(128)
    if arr.dtype in _PCM_FULL_SCALE:
        # dividing by a power of two is exact: one rounding, in the cast
        return arr.astype(np.float32) / np.float32(_PCM_FULL_SCALE[arr.dtype])
    if arr.dtype.kind in "iu":
        raise InvalidAudioError(
            f"{name} has dtype {arr.dtype}, which is not a PCM sample format, so its "
            "full scale is unknown. Cast it to the type of the samples it holds "
            "(e.g. y.astype(np.int16) for 16-bit PCM) and call pcm_to_float, or "
            "pass floats in [-1, 1] (y / 32768 for 16-bit samples)."
        )
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{name} must hold integer PCM or float samples; got dtype {arr.dtype}."
        )
    arr = arr.astype(np.float32, copy=False)
    _warn_if_far_outside(arr, name, stacklevel)
    return arr


def resample(y, *, orig_sr, target_sr, res_type="soxr_hq"):
    """Resample waveforms along the last axis.

    A thin wrapper over :func:`librosa.resample` (soxr by default) that keeps
    float32 and returns the input unchanged when the rates already agree.
    Integer PCM input is scaled to [-1, 1] first (:func:`pcm_to_float`).

    Parameters
    ----------
    y : ndarray of shape (..., n_samples)
        Waveform or batch of waveforms: floats in [-1, 1] or integer PCM.
    orig_sr : int
        Sampling rate of ``y``.
    target_sr : int
        Wanted sampling rate.
    res_type : str, default="soxr_hq"
        Any resampler :func:`librosa.resample` accepts.

    Returns
    -------
    y_resampled : ndarray of shape (..., n_samples * target_sr / orig_sr)
        float32 waveform.

    Examples
    --------
    >>> import numpy as np
    >>> from sersk.io import resample
    >>> resample(np.zeros(16000, dtype=np.float32), orig_sr=16000, target_sr=8000).shape
    (8000,)
    """
    y = _to_float(y, "y", stacklevel=4)  # the warning points at resample's caller
    if int(orig_sr) == int(target_sr):
        return y
    import librosa

    out = librosa.resample(
        y, orig_sr=int(orig_sr), target_sr=int(target_sr), res_type=res_type
    )
    return np.asarray(out, dtype=np.float32)


def load_audio(path, *, sr=None, mono=True, offset=0.0, duration=None):
    """Read an audio file into a float32 waveform.

    Decoding is done by :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis,
    and MP3 where the installed libsndfile supports it), at any bit depth.
    Resampling uses soxr through :func:`librosa.resample`.

    Parameters
    ----------
    path : str or os.PathLike
        Audio file to read: a local path, or (with :mod:`fsspec` installed) a
        URL such as ``"s3://bucket/clip.wav"``, ``"gs://..."``,
        ``"file:///data/clip.wav"`` or ``"memory://clip.wav"``, read through
        fsspec (remote protocols need their package, e.g. ``s3fs``).
    sr : int or None, default=None
        Target sampling rate. ``None`` keeps the file's native rate.
    mono : bool, default=True
        Average the channels into one. When False, a multichannel file gives
        an array of shape ``(n_channels, n_samples)``.
    offset : float, default=0.0
        Start reading after this many seconds.
    duration : float or None, default=None
        Read at most this many seconds. ``None`` reads to the end.

    Returns
    -------
    y : ndarray of shape (n_samples,) or (n_channels, n_samples)
        float32 samples, nominally in [-1, 1].
    sr : int
        Sampling rate of ``y``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ModuleNotFoundError
        ``path`` is a URL and :mod:`fsspec` (or the package of its protocol)
        is not installed.
    IsADirectoryError
        ``path`` is a folder.
    sersk.exceptions.AudioReadError
        The file cannot be decoded as audio, or is not a regular file (a named
        pipe would block): an :class:`OSError`.
    sersk.exceptions.InvalidAudioError
        The decoded audio is empty or holds NaN/Inf samples, or the file
        declares a sampling rate outside 1 kHz to 768 kHz (a :class:`ValueError`).

    Warns
    -----
    sersk.exceptions.LowSampleRateWarning
        ``sr`` is above the file's rate: upsampled audio has no content above
        the file's Nyquist frequency.

    See Also
    --------
    sersk.features.AudioLoader : Load many files into a fixed-length batch.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> from sersk.io import load_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> t = np.arange(8000) / 8000
    >>> sf.write(path, 0.5 * np.sin(2 * np.pi * 220 * t), 8000)
    >>> y, sr = load_audio(path, sr=16000)
    >>> y.dtype, y.shape, sr
    (dtype('float32'), (16000,), 16000)
    """
    try:
        path_str = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"load_audio expects a file path (str or os.PathLike); got {type(path).__name__}: {path!r}."
        ) from None
    if sr is not None and (
        isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0
    ):
        raise ValueError(
            f"The 'sr' parameter of load_audio must be a positive int or None. Got {sr!r} instead."
        )
    if not np.isfinite(offset) or offset < 0:
        raise ValueError(
            f"The 'offset' parameter of load_audio must be a float >= 0. Got {offset!r} instead."
        )
    if duration is not None and (not np.isfinite(duration) or duration <= 0):
        raise ValueError(
            f"The 'duration' parameter of load_audio must be a float > 0 or None. Got {duration!r} instead."
        )
    if is_url(path_str):
        with _open_url(path_str) as fh:
            return _decode(fh, path_str, sr, mono, offset, duration)
    p = Path(path_str)
    if not p.exists():
        raise FileNotFoundError(
            f"Audio file not found: '{path_str}'. Check the path (absolute: '{p.absolute()}')."
        )
    if p.is_dir():
        raise IsADirectoryError(
            f"'{path_str}' is a directory, not an audio file. Pass the files inside it "
            "(e.g. sorted(Path(folder).glob('*.wav'))) or use sersk.datasets.load_folder."
        )
    if not p.is_file():
        # a named pipe or a device would block the reader forever
        raise AudioReadError(
            f"'{path_str}' is not a regular file (a named pipe, socket or device); "
            "sersk reads audio from regular files only. Copy the audio to a file."
        )
    return _decode(path_str, path_str, sr, mono, offset, duration)


def _decode(source, path_str, sr, mono, offset, duration):
    """Decode ``source`` (a local path or an open binary file) as in load_audio."""
    try:
        with sf.SoundFile(source) as f:
            native_sr = f.samplerate
            if not MIN_SAMPLE_RATE <= native_sr <= MAX_SAMPLE_RATE:
                raise InvalidAudioError(
                    f"'{path_str}' declares a sampling rate of {native_sr} Hz, outside "
                    f"[{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz: its header is damaged "
                    "or it is not speech audio. Re-encode it, e.g. 'ffmpeg -i in.wav "
                    "-ar 16000 out.wav'."
                )
            start = int(round(offset * native_sr))
            frames = -1 if duration is None else int(round(duration * native_sr))
            if start > 0:
                if start >= f.frames > 0:
                    raise InvalidAudioError(
                        f"offset={offset} s is past the end of '{path_str}' "
                        f"({f.frames / native_sr:.3f} s long). Use a smaller offset."
                    )
                f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, sf.SoundFileRuntimeError) as exc:
        raise AudioReadError(
            f"Could not decode '{path_str}' as audio ({exc}). sersk reads the formats of "
            "libsndfile (WAV, FLAC, OGG, and MP3 with libsndfile >= 1.1); convert other "
            "files first, e.g. 'ffmpeg -i in.m4a out.wav'."
        ) from exc
    except PermissionError as exc:
        raise PermissionError(f"No permission to read '{path_str}': {exc}.") from exc

    y = data.T  # (n_channels, n_samples)
    if mono:
        y = y.mean(axis=0) if y.shape[0] > 1 else y[0]
    y = np.ascontiguousarray(y, dtype=np.float32)
    check_audio(y, name=f"audio of '{path_str}'", allow_multichannel=not mono)
    # float files can hold any scale (the warnings point at load_audio's caller)
    _warn_if_far_outside(y, f"audio of '{path_str}'", stacklevel=4)
    out_sr = native_sr
    if sr is not None and sr != native_sr:
        if native_sr < sr:
            warnings.warn(
                LowSampleRateWarning(
                    f"'{path_str}' is sampled at {native_sr} Hz and is upsampled to "
                    f"{sr} Hz: it holds nothing above {native_sr / 2:g} Hz, where a "
                    f"model trained on {sr} Hz audio expects signal, so its features "
                    "there look like silence."
                ),
                stacklevel=3,
            )
        y = resample(y, orig_sr=native_sr, target_sr=sr)
        out_sr = int(sr)
    return y, out_sr
