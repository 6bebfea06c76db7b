"""``sersk listen``: label live speech from a microphone (or a PCM pipe)."""

from __future__ import annotations

import sys

from ._common import CLIError

# seconds of audio per block read from the device or the pipe
_BLOCK_SECONDS = 0.1


def _sounddevice():
    """The sounddevice module, or a CLIError saying what is missing."""
    try:
        import sounddevice
    except ImportError:
        raise CLIError(
            "sersk listen needs the sounddevice package for microphone input: "
            "pip install 'sersk[listen]' (or pipe 16-bit PCM in with --stdin)"
        ) from None
    except OSError as exc:  # sounddevice raises it when PortAudio is missing
        raise CLIError(
            f"sersk listen cannot use the microphone: {exc}. Install the "
            "PortAudio library (Debian/Ubuntu: apt install libportaudio2; "
            "macOS: brew install portaudio), or pipe 16-bit PCM in with --stdin"
        ) from None
    return sounddevice


def _input_device(sd, device):
    """``(index or None, info)`` of the input device to record from."""
    if device is not None and device.isdigit():
        device = int(device)
    try:
        info = sd.query_devices(device, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        which = "the default input device" if device is None else repr(device)
        raise CLIError(
            f"no microphone: {which} is not available ({exc}). Connect one, pick "
            "another with --device (python -m sounddevice lists them), or pipe "
            "16-bit PCM in with --stdin"
        ) from None
    if int(info.get("max_input_channels", 0)) < 1:
        raise CLIError(
            f"no microphone: device {info.get('name')!r} has no input channels; "
            "pick another with --device (python -m sounddevice lists them)"
        )
    return device, info


def _print(predictions):
    for p in predictions:
        ranked = sorted(p["probabilities"].items(), key=lambda kv: -kv[1])
        probs = "  ".join(f"{c} {v:.2f}" for c, v in ranked[:3])
        print(
            f"{p['start']:8.2f} - {p['end']:8.2f} s  {p['label']:<10s} {probs}",
            flush=True,
        )


def _blocks_from_stdin(sr, seconds):
    """Blocks of float32 samples from 16-bit little-endian mono PCM on stdin."""
    import numpy as np

    size = max(1, round(sr * _BLOCK_SECONDS)) * 2
    stream = sys.stdin.buffer
    left = None if seconds is None else round(sr * seconds)
    carry = b""
    while left is None or left > 0:
        data = stream.read(size)
        if not data:
            break
        data = carry + data
        cut = len(data) // 2 * 2
        data, carry = data[:cut], data[cut:]
        y = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if left is not None:
            y = y[:left]
            left -= len(y)
        yield y


def _blocks_from_device(sd, device, sr, seconds):
    """Blocks of float32 samples recorded from the input device."""
    import queue

    blocks = queue.Queue()

    def callback(indata, frames, time, status):
        blocks.put(indata[:, 0].copy())

    left = None if seconds is None else round(sr * seconds)
    try:
        stream = sd.InputStream(
            device=device,
            channels=1,
            samplerate=sr,
            dtype="float32",
            blocksize=max(1, round(sr * _BLOCK_SECONDS)),
            callback=callback,
        )
    except (ValueError, sd.PortAudioError) as exc:
        raise CLIError(f"could not open the microphone at {sr} Hz: {exc}") from None
    with stream:
        while left is None or left > 0:
            y = blocks.get()
            if left is not None:
                y = y[:left]
                left -= len(y)
            yield y


def run(args):
    from .._persistence import load_model
    from ..segmentation import StreamingPredictor
    from ._predict import _loader_of

    if args.segments == "vad" and args.hop:
        raise CLIError(
            f"--hop {args.hop:g} applies to windows (--segments SECONDS), not to "
            "--segments vad; leave it out"
        )
    if args.stdin and args.device is not None:
        raise CLIError("--device and --stdin exclude each other; give one")
    if args.stdin and args.sr is None:
        raise CLIError(
            "--stdin needs the rate of the PCM it reads: add --sr HZ (e.g. --sr 16000)"
        )
    sd = None if args.stdin else _sounddevice()
    if args.segments == "vad":
        from ..segmentation._silero import _weights_path

        _weights_path()  # names the missing extra before the model is loaded
    device, info = (None, None) if sd is None else _input_device(sd, args.device)
    pipeline = load_model(args.model)
    _loader_of(pipeline, args.model, "listen")
    sr = args.sr or int(info["default_samplerate"])
    predictor = StreamingPredictor(
        pipeline, sr=sr, segments=args.segments, hop=args.hop
    )
    if sd is None:
        blocks = _blocks_from_stdin(sr, args.seconds)
        source = "standard input"
    else:
        blocks = _blocks_from_device(sd, device, sr, args.seconds)
        source = f"{info['name']!r}"
    if not args.quiet:
        print(
            f"sersk listen: listening to {source} at {sr} Hz; Ctrl-C stops",
            file=sys.stderr,
            flush=True,
        )
    try:
        for y in blocks:
            _print(predictor.push(y))
    except KeyboardInterrupt:
        # the segment in progress is labelled before exiting with 130
        _print(predictor.flush())
        raise
    _print(predictor.flush())
