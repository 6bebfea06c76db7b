"""Corpus loaders on fixture trees with the corpora's real file names."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from sersk.datasets import (
    EMOTIONS,
    get_data_home,
    harmonize_label,
    load_corpora,
    load_crema_d,
    load_emodb,
    load_folder,
    load_ravdess,
    load_savee,
    load_tess,
)
from sersk.exceptions import DatasetNotFoundError


@pytest.fixture
def make_tree(write_wav, tmp_path):
    """Write tiny real WAVs at the given paths under tmp_path/<name>."""

    template = write_wav("template.wav", seconds=0.05).read_bytes()

    def _make(name, rel_paths):
        root = tmp_path / name
        for rel in rel_paths:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(template)  # the same real 0.05 s WAV everywhere
        return root

    return _make


def ravdess_names(actors=(1, 2), channel="01"):
    """Every speech trial of the given actors (60 each), real RAVDESS names."""
    out = []
    for a in actors:
        for emo in range(1, 9):
            for inten in (1, 2):
                if emo == 1 and inten == 2:
                    continue
                for stmt in (1, 2):
                    for rep in (1, 2):
                        name = f"03-{channel}-{emo:02d}-{inten:02d}-{stmt:02d}-{rep:02d}-{a:02d}"
                        out.append(f"Actor_{a:02d}/{name}.wav")
    return out


@pytest.fixture
def ravdess_tree(make_tree):
    names = ravdess_names((1, 2)) + ravdess_names((1,), channel="02")[:6]
    root = make_tree("ravdess", names)
    (root / "README.md").write_text("not audio")
    (root / "Actor_01" / "notes.txt").write_text("not audio")
    return root


# ---------------------------------------------------------------------------
# RAVDESS
# ---------------------------------------------------------------------------


def test_ravdess_fixture_counts_labels_and_metadata(ravdess_tree):
    ds = load_ravdess(root=ravdess_tree)
    assert len(ds.data) == 120  # speech only by default, 60 per actor
    assert ds.data.dtype == object and ds.data.ndim == 1
    assert all(os.path.isabs(p) and os.path.isfile(p) for p in ds.data)
    assert list(ds.data) == sorted(ds.data)
    counts = dict(zip(*np.unique(ds.target, return_counts=True), strict=True))
    assert counts == {
        "neutral": 8,
        "calm": 16,
        "happy": 16,
        "sad": 16,
        "angry": 16,
        "fear": 16,
        "disgust": 16,
        "surprise": 16,
    }
    assert set(ds.groups) == {"ravdess_01", "ravdess_02"}
    f = ds.frame
    assert f.loc[f.speaker == "01", "gender"].unique().tolist() == ["male"]
    assert f.loc[f.speaker == "02", "gender"].unique().tolist() == ["female"]
    assert set(f.columns) >= {
        "path",
        "corpus",
        "speaker",
        "group",
        "gender",
        "emotion",
        "code",
        "intensity",
        "vocal_channel",
        "statement",
        "repetition",
    }
    assert (f.path.to_numpy() == ds.data).all()
    assert (f.emotion.to_numpy() == ds.target).all()
    row = f[f.path.str.endswith("03-01-05-02-01-02-02.wav")].iloc[0]
    assert (row.emotion, row.intensity, row.statement, row.repetition) == (
        "angry",
        "strong",
        1,
        2,
    )
    assert list(ds.target_names) == [e for e in EMOTIONS if e != "boredom"]
    assert "Livingstone" in ds.DESCR and "Actor_NN" in ds.DESCR
    assert ds.root == str(ravdess_tree)


def test_ravdess_vocal_channel_and_filters(ravdess_tree):
    song = load_ravdess(root=ravdess_tree, vocal_channel="song")
    assert len(song.data) == 6 and set(song.frame.vocal_channel) == {"song"}
    both = load_ravdess(root=ravdess_tree, vocal_channel="all")
    assert len(both.data) == 126
    fem = load_ravdess(root=ravdess_tree, gender="female")
    assert set(fem.groups) == {"ravdess_02"}
    for spk in (2, "02", "ravdess_02", ["02"]):
        assert set(load_ravdess(root=ravdess_tree, speakers=spk).groups) == {
            "ravdess_02"
        }
    strong = load_ravdess(root=ravdess_tree, intensity="strong")
    assert len(strong.data) == 56 and "neutral" not in set(strong.target)


def test_ravdess_emotions_subset_and_label_map(ravdess_tree):
    six = ["neutral", "happy", "sad", "angry", "fear", "disgust"]
    ds = load_ravdess(root=ravdess_tree, emotions=six)
    assert set(ds.target) == set(six) and len(ds.data) == 8 + 5 * 16
    merged = load_ravdess(
        root=ravdess_tree, label_map={"calm": "neutral"}, emotions=["neutral"]
    )
    assert len(merged.data) == 8 + 16
    assert set(merged.frame.code) == {"01", "02"}
    custom = load_ravdess(root=ravdess_tree, label_map={"calm": "low_arousal"})
    assert "low_arousal" in custom.target_names and "calm" not in set(custom.target)


def test_return_X_y(ravdess_tree):
    X, y = load_ravdess(root=ravdess_tree, return_X_y=True)
    ds = load_ravdess(root=ravdess_tree)
    assert (X == ds.data).all() and (y == ds.target).all()


def test_data_home_env_var(ravdess_tree, monkeypatch):
    monkeypatch.setenv("SERSK_DATA", str(ravdess_tree.parent))
    assert get_data_home() == str(ravdess_tree.parent)
    assert len(load_ravdess().data) == 120
    assert get_data_home("~/x") == os.path.expanduser("~/x")


# ---------------------------------------------------------------------------
# Other corpora
# ---------------------------------------------------------------------------


def test_tess(make_tree):
    names = [
        "OAF_angry/OAF_back_angry.wav",
        "OAF_Fear/OAF_back_fear.wav",
        "OAF_Pleasant_surprise/OAF_back_ps.wav",
        "YAF_neutral/YAF_bath_neutral.wav",
        "YAF_disgust/YAF_bath_disgust.wav",
        "YAF_happy/YAF_bath_happy.wav",
        "YAF_sad/YAF_bath_sad.wav",
    ]
    root = make_tree("tess", names)
    ds = load_tess(root=root)
    got = {os.path.basename(p): t for p, t in zip(ds.data, ds.target, strict=True)}
    assert got == {
        "OAF_back_angry.wav": "angry",
        "OAF_back_fear.wav": "fear",
        "OAF_back_ps.wav": "surprise",
        "YAF_bath_neutral.wav": "neutral",
        "YAF_bath_disgust.wav": "disgust",
        "YAF_bath_happy.wav": "happy",
        "YAF_bath_sad.wav": "sad",
    }
    assert set(ds.frame.gender) == {"female"}
    assert ds.frame.groupby("speaker").age.first().to_dict() == {"OAF": 64, "YAF": 26}
    assert set(ds.frame.word) == {"back", "bath"}
    assert set(load_tess(root=root, speakers="oaf").groups) == {"tess_OAF"}
    with pytest.raises(ValueError, match="No file left after filtering.*gender"):
        load_tess(root=root, gender="male")


def test_crema_d_with_builtin_and_file_demographics(make_tree):
    names = [
        "AudioWAV/1001_DFA_ANG_XX.wav",
        "AudioWAV/1002_IEO_HAP_HI.wav",
        "AudioWAV/1002_IEO_HAP_LO.wav",
        "AudioWAV/1091_TSI_NEU_XX.wav",
        "AudioWAV/1090_WSI_FEA_XX.wav",
        "AudioWAV/1076_MTI_SAD_MD.wav",
        "AudioWAV/1005_IWW_DIS_XX.wav",
    ]
    root = make_tree("crema_d", names)
    ds = load_crema_d(root=root)
    genders = ds.frame.groupby("speaker").gender.first().to_dict()
    assert genders == {
        "1001": "male",
        "1002": "female",
        "1005": "male",
        "1076": "female",
        "1090": "male",
        "1091": "female",
    }
    assert set(ds.target) == {"angry", "happy", "neutral", "fear", "sad", "disgust"}
    assert len(load_crema_d(root=root, intensity=["high", "low"]).data) == 2
    assert len(load_crema_d(root=root, speakers=[1002]).data) == 2
    assert set(load_crema_d(root=root, gender="female").frame.speaker) == {
        "1002",
        "1076",
        "1091",
    }
    (root / "VideoDemographics.csv").write_text(
        '"ActorID","Age","Sex","Race","Ethnicity"\n'
        '1001,51,"Female","Caucasian","Not Hispanic"\n'
        '1002,21,"Female","Caucasian","Not Hispanic"\n'
    )
    ds = load_crema_d(root=root)
    first = ds.frame[ds.frame.speaker == "1001"].iloc[0]
    assert (first.gender, first.age, first.race) == ("female", 51, "Caucasian")
    with pytest.raises(ValueError, match="'intensity'.*Valid values.*'high'"):
        load_crema_d(root=root, intensity="extreme")


def test_savee_both_layouts(make_tree):
    names = ["DC_a01.wav", "JE_sa15.wav", "KL_n30.wav", "JK/su02.wav", "JK/d10.wav"]
    root = make_tree("savee", names)
    ds = load_savee(root=root)
    got = dict(zip(ds.frame.speaker + ":" + ds.frame.code, ds.target, strict=True))
    assert got == {
        "DC:a": "angry",
        "JE:sa": "sad",
        "KL:n": "neutral",
        "JK:su": "surprise",
        "JK:d": "disgust",
    }
    assert set(ds.frame.gender) == {"male"}
    assert set(ds.groups) == {"savee_DC", "savee_JE", "savee_KL", "savee_JK"}


def test_emodb(make_tree):
    names = [
        f"wav/{n}.wav"
        for n in ["03a01Wa", "08a02Lb", "09b01Ea", "10b10Ac", "13a05Fa", "16b03Ta"]
    ] + ["wav/14a07Na.wav"]
    root = make_tree("emodb", names)
    ds = load_emodb(root=root)
    assert list(ds.target) == [
        "angry",
        "boredom",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
    ]
    assert ds.frame.set_index("speaker").gender.to_dict() == {
        "03": "male",
        "08": "female",
        "09": "female",
        "10": "male",
        "13": "female",
        "14": "female",
        "16": "female",
    }
    assert list(load_emodb(root=root, speakers=3).groups) == ["emodb_03"]
    merged = load_emodb(root=root, label_map={"boredom": "neutral"})
    assert sorted(merged.target).count("neutral") == 2


def test_load_folder_harmonises_and_reads_speakers(make_tree):
    names = [
        "Anger/spk1_001.wav",
        "anger/spk2_002.wav",
        "Happiness/spk1_003.wav",
        "Fearful/deep/spk3_004.wav",
        "Contempt/spk2_005.wav",
    ]
    root = make_tree("custom", names)
    ds = load_folder(root, speaker_pattern=r"(?P<speaker>spk\d+)_", corpus="mine")
    got = sorted(zip(ds.frame.code, ds.target, ds.groups, strict=True))
    assert got == [
        ("Anger", "angry", "mine_spk1"),
        ("Contempt", "Contempt", "mine_spk2"),
        ("Fearful", "fear", "mine_spk3"),
        ("Happiness", "happy", "mine_spk1"),
        ("anger", "angry", "mine_spk2"),
    ]
    raw = load_folder(root, harmonize=False)
    assert raw.groups is None and "Anger" in set(raw.target)
    assert len(load_folder(root, emotions=["Contempt"]).data) == 1
    with pytest.raises(ValueError, match="speaker_pattern"):
        load_folder(root, speakers=["spk1"])
    with pytest.raises(ValueError, match="do not follow.*spk3_004"):
        load_folder(root, speaker_pattern=r"spk[12]_")
    (root / "loose.wav").write_bytes((root / "Anger" / "spk1_001.wav").read_bytes())
    with pytest.raises(ValueError, match="loose.wav"):
        load_folder(root)


def test_harmonize_label():
    assert harmonize_label(" SADNESS ") == "sad"
    assert harmonize_label("pleasant surprise") == "surprise"
    assert harmonize_label("Fearful") == "fear"
    assert harmonize_label("xyz") is None


def test_load_corpora_combines_with_unique_groups(make_tree, tmp_path):
    make_tree("ravdess", ravdess_names((1,)))
    make_tree("emodb", ["wav/03a01Wa.wav", "wav/08a02Lb.wav"])
    make_tree("tess", ["OAF_angry/OAF_back_angry.wav"])
    crema = make_tree("elsewhere", ["AudioWAV/1001_DFA_ANG_XX.wav"])
    ds = load_corpora(
        ["ravdess", "emodb", "TESS", "crema-d"],
        data_home=tmp_path,
        roots={"crema_d": crema},
        label_map={"calm": "neutral"},
        emotions=["neutral", "angry", "boredom"],
        loader_kwargs={"ravdess": {"intensity": "normal"}},
    )
    assert set(ds.frame.corpus) == {"ravdess", "emodb", "tess", "crema_d"}
    assert set(ds.groups) == {
        "ravdess_01",
        "emodb_03",
        "emodb_08",
        "tess_OAF",
        "crema_d_1001",
    }
    rav = ds.frame[ds.frame.corpus == "ravdess"]
    assert len(rav) == 4 + 4 + 4  # neutral + calm (normal) + angry (normal)
    assert set(ds.target_names) == {"neutral", "angry", "boredom"}
    assert ds.frame.intensity.isna().sum() == 3  # emodb, tess lack it
    assert "RAVDESS" in ds.DESCR and "EmoDB" in ds.DESCR
    male = load_corpora(["ravdess", "emodb", "tess"], data_home=tmp_path, gender="male")
    assert set(male.groups) == {"ravdess_01", "emodb_03"}
    with pytest.raises(ValueError, match="Unknown corpus 'iemocap'.*load_folder"):
        load_corpora(["ravdess", "iemocap"], data_home=tmp_path)
    with pytest.raises(ValueError, match="listed twice"):
        load_corpora(["ravdess", "RAVDESS"], data_home=tmp_path)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loader, name",
    [
        (load_ravdess, "RAVDESS"),
        (load_tess, "TESS"),
        (load_crema_d, "CREMA-D"),
        (load_savee, "SAVEE"),
        (load_emodb, "EmoDB"),
    ],
)
def test_missing_root_says_where_and_how(loader, name, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DatasetNotFoundError) as info:
        loader(root=missing)
    msg = str(info.value)
    assert name in msg and str(missing) in msg and "does not exist" in msg
    assert "http" in msg and "root=" in msg


def test_load_folder_missing_root(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist") as info:
        load_folder(tmp_path / "nope")
    assert "one sub-folder per emotion" in str(info.value)
    assert "data_home" not in str(info.value)


def test_missing_default_root_uses_data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SERSK_DATA", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="fetch_ravdess"):
        load_ravdess()
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "ravdess")):
        load_ravdess()


def test_empty_folder_and_non_audio_only(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds no audio files"):
        load_ravdess(root=tmp_path / "empty")
    (tmp_path / "empty" / "README.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError, match="holds no audio files"):
        load_ravdess(root=tmp_path / "empty")
    (tmp_path / "file.wav").write_text("x")
    with pytest.raises(DatasetNotFoundError, match="not a folder"):
        load_ravdess(root=tmp_path / "file.wav")


def test_misnamed_files_raise_warn_skip(ravdess_tree, write_wav):
    bad = ["Actor_01/03-01-09-01-01-01-01.wav", "Actor_02/recording.wav"]
    for rel in bad:
        write_wav(os.path.join("ravdess", rel), seconds=0.05)
    with pytest.raises(ValueError, match="2 audio file.*recording.wav.*on_invalid"):
        load_ravdess(root=ravdess_tree)
    with pytest.warns(UserWarning, match="03-01-09-01-01-01-01.wav"):
        ds = load_ravdess(root=ravdess_tree, on_invalid="warn")
    assert len(ds.data) == 120
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_ravdess(root=ravdess_tree, on_invalid="skip").data) == 120
    with pytest.raises(ValueError, match="'on_invalid' parameter of load_ravdess"):
        load_ravdess(root=ravdess_tree, on_invalid="ignore")


def test_only_misnamed_files(make_tree):
    root = make_tree("x", ["a.wav", "b.wav"])
    with pytest.raises(DatasetNotFoundError, match="none of its 2 audio files"):
        load_emodb(root=root, on_invalid="skip")


def test_unknown_emotions_and_speakers_list_valid_names(ravdess_tree):
    with pytest.raises(ValueError, match=r"Unknown emotion.*'joy'.*Valid.*'surprise'"):
        load_ravdess(root=ravdess_tree, emotions=["happy", "joy"])
    with pytest.raises(ValueError, match="'calm' were renamed by label_map"):
        load_ravdess(
            root=ravdess_tree, label_map={"calm": "neutral"}, emotions=["calm"]
        )
    with pytest.raises(ValueError, match="label_map keys 'clam'"):
        load_ravdess(root=ravdess_tree, label_map={"clam": "neutral"})
    with pytest.raises(
        ValueError, match=r"'07' for the 'speakers'.*Valid values: '01', '02'"
    ):
        load_ravdess(root=ravdess_tree, speakers=[7])
    with pytest.raises(ValueError, match="No file left.*boredom"):
        load_ravdess(root=ravdess_tree, emotions=["boredom"])
    with pytest.warns(UserWarning, match="'boredom' requested in 'emotions'"):
        ds = load_ravdess(root=ravdess_tree, emotions=["boredom", "sad"])
    assert set(ds.target) == {"sad"}
    with pytest.raises(ValueError, match="'gender' parameter of load_ravdess"):
        load_ravdess(root=ravdess_tree, gender="f")


def test_non_audio_and_hidden_files_are_ignored(ravdess_tree):
    (ravdess_tree / "Actor_01" / ".03-01-01-01-01-01-01.wav").write_text("junk")
    (ravdess_tree / ".partial-download").mkdir()
    (ravdess_tree / ".partial-download" / "bad.wav").write_text("junk")
    (ravdess_tree / "__MACOSX").mkdir()
    (ravdess_tree / "__MACOSX" / "._03-01-01-01-01-01-01.wav").write_text("junk")
    (ravdess_tree / "Actor_02" / "list.csv").write_text("a,b")
    assert len(load_ravdess(root=ravdess_tree).data) == 120


def test_symlink_loop_terminates_without_duplicates(ravdess_tree):
    os.symlink(ravdess_tree, ravdess_tree / "Actor_01" / "loop")
    os.symlink("missing-target", ravdess_tree / "dangling")
    os.symlink(ravdess_tree / "selfref", ravdess_tree / "selfref")
    # links that lead nowhere are reported (tests/test_datasets_unreadable.py);
    # the link back to the root is walked once
    with pytest.raises(OSError, match="2 folder.*dangling.*selfref"):
        load_ravdess(root=ravdess_tree)
    ds = load_ravdess(root=ravdess_tree, on_invalid="skip")
    assert len(ds.data) == 120 and len(set(ds.data)) == 120


def test_symlinked_corpus_folder_is_followed(ravdess_tree, tmp_path):
    link_root = tmp_path / "linked"
    link_root.mkdir()
    os.symlink(ravdess_tree / "Actor_02", link_root / "Actor_02")
    ds = load_ravdess(root=link_root)
    assert set(ds.groups) == {"ravdess_02"}
    assert all(p.startswith(str(link_root)) for p in ds.data)


def test_corpus_unpacked_twice_is_detected(make_tree):
    root = make_tree("ravdess", ravdess_names((1,)))
    make_tree("ravdess/copy", ravdess_names((1,))[:3])
    with pytest.raises(ValueError, match="3 RAVDESS file name.*more than once"):
        load_ravdess(root=root)
    with pytest.warns(UserWarning, match="first copy"):
        ds = load_ravdess(root=root, on_invalid="warn")
    assert len(ds.data) == 60 and not any("/copy/" in p for p in ds.data)
    # the same file name in two label folders is normal for load_folder
    folder = make_tree("custom", ["Happy/001.wav", "Sad/001.wav"])
    assert len(load_folder(folder).data) == 2


@pytest.mark.parametrize("loader", [load_ravdess, load_tess, load_folder])
@pytest.mark.parametrize("root", ["", "  "])
def test_empty_root_never_scans_the_current_directory(
    loader, root, tmp_path, monkeypatch
):
    # a current directory with valid RAVDESS-like content must not be read
    actor = tmp_path / "Actor_01"
    actor.mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="names no folder"):
        loader(root=root)
