"""The torch-free tokenizer gives open_clip's token ids exactly, and reads Hugging Face files.

The CLIP files come from ``write_clip_tokenizer`` (open_clip's own vocabulary); every CLIP
check compares with ``open_clip.tokenize`` on the same texts. The "hf" kind is checked with
tiny tokenizers trained here, on English and German captions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import ftfy
import numpy as np
import open_clip
import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tokenizers import Regex as TkRegex
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from clipdesk.core.errors import ClipDeskError
from clipdesk.core.tokenizer import SPLIT_PATTERN, TextTokenizer, write_clip_tokenizer

LONG = " ".join(["a photo of my grandmother holding a small brown dog"] * 12)  # > 77 tokens

TEXTS = [
    # plain captions
    "a photo of a dog",
    "A Red Car parked by the Sea",
    "two cats sleeping on a sofa",
    # punctuation
    "hello, world! what's up?!...",
    "(brackets) [square] {curly} <angle> -- dashes — em – en",
    "e-mail: someone@example.com #tag $5.00 100% a/b\\c",
    # apostrophes
    "it's",
    "we'll",
    "I'm sure they've said you'd go, don't",
    "'quoted' rock 'n' roll ''s",
    # numbers
    "2024",
    "3.14159 and 1st 2nd 3rd at 12:30 pm",
    "٣ ① ½ Ⅻ",
    # accents, mixed case, case-changing letters
    "café naïve Zürich",
    "crème brûlée",
    "cafe\u0301 decomposed",
    "ThIs Is MiXeD cAsE",
    "ÉCOLE İstanbul ΣΊΣΥΦΟΣ STRASSE",
    "j\u030c stays decomposed after lower-casing",
    # CJK and other scripts
    "猫が好き",
    "한국어",
    "中文",
    "東京タワーの夜景",
    "Москва зимой",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    # emoji
    "🐶🏖️",
    "👨‍👩‍👧‍👦 family",
    "🇩🇪 flag",
    # HTML entities, unescaped twice as open_clip does
    "&amp; &lt;3",
    "&amp;lt; &quot;hi&quot; &#39;x&#39; &nbsp;",
    # curly quotes, full width, mojibake: ftfy's work
    "“double” ‘single’ it’s",
    "ＡＢＣ１２３ ｈｅｌｌｏ　ｗｏｒｌｄ",
    "cafÃ© mojibake",
    # whitespace
    "\ttab\tseparated",
    "new\nline\r\nwindows",
    "multiple     spaces",
    "  leading and trailing  ",
    "\u00a0nbsp\u3000ideographic\u2009thin",
    "zero\u200bwidth",
    "",
    "   \t\n ",
    # open_clip's own special-token names and Hugging Face's, written in the text
    "<start_of_text>",
    "a <end_of_text> b<start_of_text>c",
    "!<end_of_text> 1<end_of_text><end_of_text>",
    "<START_OF_TEXT>",
    "<|endoftext|> and <|startoftext|>",
    # the mark open_clip's case-insensitive split skips
    "a\u0345b ͅ!",
    # truncation: the end token is forced last
    LONG,
]


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip-tokenizer")
    write_clip_tokenizer(folder)
    return folder


@cache
def _loaded(folder: Path, context_length: int) -> TextTokenizer:
    return TextTokenizer.from_folder(folder, context_length)


def open_clip_ids(texts: list[str], context_length: int = 77) -> np.ndarray:
    return open_clip.tokenize(texts, context_length=context_length).numpy()


# --- the written files ----------------------------------------------------------------------


def test_files_have_clip_tokenizer_fast_layout(clip_folder):
    data = json.loads((clip_folder / "tokenizer.json").read_text(encoding="utf-8"))
    assert [n["type"] for n in data["normalizer"]["normalizers"]] == [
        "NFC", "Replace", "Lowercase"]
    split, byte_level = data["pre_tokenizer"]["pretokenizers"]
    assert split["pattern"]["Regex"] == SPLIT_PATTERN
    assert (split["behavior"], split["invert"]) == ("Removed", True)
    assert byte_level["type"] == "ByteLevel"
    assert (byte_level["add_prefix_space"], byte_level["use_regex"]) == (False, False)
    model = data["model"]
    assert (model["type"], model["end_of_word_suffix"], model["unk_token"]) == (
        "BPE", "</w>", "<|endoftext|>")
    assert len(model["vocab"]) == 49408 and len(model["merges"]) == 48894
    assert model["merges"][0] == "i n"  # open_clip's first merge, as "a b" strings
    assert model["vocab"]["<|startoftext|>"] == 49406
    assert model["vocab"]["<|endoftext|>"] == 49407
    assert {t["content"]: t["id"] for t in data["added_tokens"]} == {
        "<|startoftext|>": 49406, "<|endoftext|>": 49407}
    assert data["decoder"]["type"] == "ByteLevel"

    config = json.loads((clip_folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["pad_token"] == "<|endoftext|>"
    assert config["bos_token"]["content"] == "<|startoftext|>"
    assert config["eos_token"]["content"] == config["unk_token"]["content"] == "<|endoftext|>"
    assert config["model_max_length"] == 77
    special = json.loads((clip_folder / "special_tokens_map.json").read_text(encoding="utf-8"))
    assert special["pad_token"] == "<|endoftext|>"
    assert special["bos_token"]["content"] == "<|startoftext|>"


def test_vocabulary_is_open_clips(clip_folder):
    vocab = Tokenizer.from_file(str(clip_folder / "tokenizer.json")).get_vocab()
    theirs = open_clip.tokenizer._tokenizer.encoder  # names its specials <start_of_text> ...
    renamed = {"<|startoftext|>": "<start_of_text>", "<|endoftext|>": "<end_of_text>"}
    assert {renamed.get(token, token): i for token, i in vocab.items()} == theirs


def test_context_length_is_written(tmp_path):
    write_clip_tokenizer(tmp_path / "short", context_length=32)
    config = json.loads((tmp_path / "short" / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 32


def test_file_alone_gives_open_clip_ids_for_plain_text(clip_folder):
    """Other readers (Immich's own code) use the file with its normalizer and post-processor."""
    raw = Tokenizer.from_file(str(clip_folder / "tokenizer.json"))
    texts = TEXTS[:12] + ["ThIs Is MiXeD cAsE", "猫が好き", "café naïve Zürich"]
    for text, want in zip(texts, open_clip_ids(texts), strict=True):
        ids = raw.encode(text).ids
        assert ids == want[: len(ids)].tolist() and not want[len(ids):].any(), text


# --- the clip kind: open_clip's ids exactly --------------------------------------------------


@pytest.mark.parametrize("context_length", [77, 32, 64])
def test_clip_ids_equal_open_clip(clip_folder, context_length):
    tok = _loaded(clip_folder, context_length)
    assert (tok.kind, tok.context_length, tok.end_token_id) == ("clip", context_length, 49407)
    ids, mask = tok.encode(TEXTS)
    assert ids.dtype == mask.dtype == np.int64
    assert ids.shape == mask.shape == (len(TEXTS), context_length)
    want = open_clip_ids(TEXTS, context_length)
    for text, got_row, want_row in zip(TEXTS, ids, want, strict=True):
        assert got_row.tolist() == want_row.tolist(), repr(text)


@pytest.mark.parametrize("context_length", [77, 32, 64])
def test_truncation_forces_end_token(clip_folder, context_length):
    ids, mask = _loaded(clip_folder, context_length).encode([LONG])
    assert ids[0, 0] == 49406 and ids[0, -1] == 49407
    assert mask.all()
    assert (ids == open_clip_ids([LONG], context_length)).all()


def test_mask_covers_start_to_end_token(clip_folder):
    ids, mask = _loaded(clip_folder, 77).encode(["a dog", "", "a photo of a cat"])
    lengths = [4, 2, 7]
    for row, n in enumerate(lengths):
        assert mask[row].tolist() == [1] * n + [0] * (77 - n)
        assert ids[row, n - 1] == 49407 and not ids[row, n:].any()


def test_each_text_alone_equals_in_batch(clip_folder):
    tok = _loaded(clip_folder, 77)
    batch, _ = tok.encode(TEXTS)
    for text, row in zip(TEXTS, batch, strict=True):
        assert (tok.encode([text])[0][0] == row).all()
    ids, mask = tok.encode([])
    assert ids.shape == mask.shape == (0, 77)


def test_safe_to_share_between_threads(clip_folder):
    tok = _loaded(clip_folder, 77)
    want = open_clip_ids(TEXTS)
    batches = [TEXTS[i:] + TEXTS[:i] for i in range(len(TEXTS))]

    def check(i: int) -> bool:
        ids, _ = tok.encode(batches[i])
        return bool((ids == np.roll(want, -i, axis=0)).all())

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(check, range(len(batches))))


def _tables_agree(char: str) -> bool:
    """Whether the regex module (open_clip) and Oniguruma (tokenizers) class ``char`` alike.

    Each knows its own Unicode version (regex 17.0, tokenizers 16.0 at the time of writing):
    letters newer than both disagree, so open_clip's own ids for them depend on its regex.
    """
    return _pieces("a" + char + "1") == regex.findall(SPLIT_PATTERN, "a" + char + "1")


_SPLIT = pre_tokenizers.Split(TkRegex(SPLIT_PATTERN), behavior="removed", invert=True)


def _pieces(text: str) -> list[str]:
    return [piece for piece, _ in _SPLIT.pre_tokenize_str(text)]


FRAGMENTS = ["'s", "'ll", "<start_of_text>", "<end_of_text>", "<|endoftext|>", "&amp;", "&lt;",
             " ", "\t", "\n", "\u0301", "\u0345", "\u00a0", "🐶", "İ", "Σ", "ǰ", "ﬁ", "Ａ"]
TEXT = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs",)).filter(_tables_agree),
                      max_size=10),
              st.sampled_from(FRAGMENTS)),
    max_size=12,
).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=4), st.sampled_from([77, 16]))
# a letter newer than Python's unicodedata (CJK Extension H, Unicode 15) before a special name
@example(["\U00031350<start_of_text>"], 77)
def test_random_text_equals_open_clip(clip_folder, texts, context_length):
    tok = _loaded(clip_folder, context_length)
    ids, mask = tok.encode(texts)
    assert ids.tolist() == open_clip_ids(texts, context_length).tolist()
    for row, row_mask in zip(ids, mask, strict=True):  # id 0 is "!", so the mask tells
        n = int(row_mask.sum())
        assert row_mask.tolist() == [1] * n + [0] * (context_length - n)
        assert row[n - 1] == 49407 and not row[n:].any()


# --- the hf kind ----------------------------------------------------------------------------

CAPTIONS = [
    ("a red car", "ein rotes Auto"),
    ("a black dog on the beach", "ein schwarzer Hund am Strand"),
    ("two children playing football", "zwei Kinder spielen Fußball"),
    ("a house with a green door", "ein Haus mit einer grünen Tür"),
    ("mountains covered in snow", "Berge mit Schnee bedeckt"),
    ("a cat sleeping on the sofa", "eine Katze schläft auf dem Sofa"),
    ("the old bridge at night", "die alte Brücke bei Nacht"),
    ("fresh bread on a wooden table", "frisches Brot auf einem Holztisch"),
    ("a woman riding a bicycle", "eine Frau fährt Fahrrad"),
    ("boats in the harbour", "Boote im Hafen"),
    ("a birthday cake with candles", "ein Geburtstagskuchen mit Kerzen"),
    ("sunset over the lake", "Sonnenuntergang über dem See"),
    ("a man reading a newspaper", "ein Mann liest eine Zeitung"),
    ("flowers in a blue vase", "Blumen in einer blauen Vase"),
    ("a train crossing a bridge", "ein Zug überquert eine Brücke"),
    ("my grandmother in her garden", "meine Großmutter in ihrem Garten"),
    ("a small white boat", "ein kleines weißes Boot"),
    ("rain on the window", "Regen am Fenster"),
    ("a crowded market street", "eine belebte Marktstraße"),
    ("horses in a field", "Pferde auf einer Wiese"),
]
SENTENCES = [s for pair in CAPTIONS for s in pair]


def _wordpiece(folder: Path) -> tuple[Tokenizer, int, int, int]:
    """A BERT-like tokenizer: [CLS] ... [SEP], pad "[PAD]" (id 3, so padding with 0 shows)."""
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]"])
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    return tok, 1, 2, 3


def _roberta_bpe(folder: Path) -> tuple[Tokenizer, int, int, int]:
    """An XLM-RoBERTa-like tokenizer: <s> ... </s>, pad "<pad>" (id 1), config as a dict."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTENCES, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok.save(str(folder / "tokenizer.json"))
    pad = {"content": "<pad>", "lstrip": False, "rstrip": False, "__type": "AddedToken"}
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": pad}))
    return tok, 0, 2, 1


@pytest.mark.parametrize("make", [_wordpiece, _roberta_bpe])
def test_hf_kind_frames_truncates_and_pads(tmp_path, make):
    raw, start, end, pad = make(tmp_path)
    length = 12
    tok = TextTokenizer.from_folder(tmp_path, length, kind="auto")
    assert (tok.kind, tok.end_token_id, tok.context_length) == ("hf", None, length)
    texts = [*SENTENCES, "", "a red car and a black dog on the beach", "ein rotes Auto " * 10]
    ids, mask = tok.encode(texts)
    assert ids.dtype == mask.dtype == np.int64
    assert ids.shape == mask.shape == (len(texts), length)
    truncated = 0
    for text, row, row_mask in zip(texts, ids, mask, strict=True):
        content = raw.encode(text, add_special_tokens=False).ids[: length - 2]
        truncated += len(raw.encode(text, add_special_tokens=False).ids) > length - 2
        want = [start, *content, end]
        assert row.tolist() == want + [pad] * (length - len(want)), text
        assert row_mask.tolist() == [1] * len(want) + [0] * (length - len(want))
    assert truncated >= 2 and mask[-1].all()  # some are cut; the long one fills its row
    assert (ids == pad).any()


def test_hf_pad_from_tokenizer_json_without_config(tmp_path):
    raw, _, _, _ = _wordpiece(tmp_path)
    (tmp_path / "tokenizer_config.json").unlink()
    raw.enable_padding(pad_id=3, pad_token="[PAD]")
    raw.save(str(tmp_path / "tokenizer.json"))
    ids, mask = TextTokenizer.from_folder(tmp_path, 16).encode(["a red car"])
    assert ids[0, mask[0].sum():].tolist() == [3] * (16 - mask[0].sum())


def test_kind_can_be_forced(clip_folder, tmp_path):
    assert TextTokenizer.from_folder(clip_folder, 77, kind="clip").kind == "clip"
    assert TextTokenizer.from_folder(clip_folder, 77, kind="hf").kind == "hf"
    _wordpiece(tmp_path)
    with pytest.raises(ClipDeskError, match="not a CLIP tokenizer"):
        TextTokenizer.from_folder(tmp_path, 77, kind="clip")
    with pytest.raises(ValueError, match="kind"):
        TextTokenizer.from_folder(clip_folder, 77, kind="bert")


# --- errors ---------------------------------------------------------------------------------


def test_missing_tokenizer_file_is_a_clear_error(tmp_path):
    with pytest.raises(ClipDeskError) as err:
        TextTokenizer.from_folder(tmp_path, 77)
    message = str(err.value)
    assert str(tmp_path / "tokenizer.json") in message and "\n" not in message


def test_unreadable_files_are_clear_errors(tmp_path):
    (tmp_path / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(ClipDeskError) as err:
        TextTokenizer.from_folder(tmp_path, 77)
    assert str(tmp_path / "tokenizer.json") in str(err.value) and "\n" not in str(err.value)

    _wordpiece(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text("{not json")
    with pytest.raises(ClipDeskError, match="tokenizer_config.json"):
        TextTokenizer.from_folder(tmp_path, 77)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<nope>"}))
    with pytest.raises(ClipDeskError, match="<nope>"):
        TextTokenizer.from_folder(tmp_path, 77)


# --- without torch or open_clip -------------------------------------------------------------

NO_TORCH = textwrap.dedent(
    """
    import importlib.abc, json, sys

    blocked = {"torch", "open_clip", "tokenizers"} | set(sys.argv[3:])

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name} is blocked for this test")
            return None

    sys.meta_path.insert(0, Block())
    from clipdesk.core import tokenizer  # must import with none of them

    assert not {"torch", "open_clip", "tokenizers"} & set(sys.modules), sys.modules.keys()
    blocked.discard("tokenizers")
    tok = tokenizer.TextTokenizer.from_folder(sys.argv[1], 77)
    ids, mask = tok.encode(json.loads(sys.argv[2]))
    assert "torch" not in sys.modules and "open_clip" not in sys.modules
    print(json.dumps(ids.tolist()))
    """
)


@pytest.mark.parametrize("without_ftfy", [False, True], ids=["ftfy", "no-ftfy"])
def test_works_without_torch_and_open_clip(clip_folder, without_ftfy):
    texts = TEXTS
    if without_ftfy:  # NFC stands in for ftfy: texts ftfy leaves alone come out the same
        texts = [t for t in TEXTS if ftfy.fix_text(t) == unicodedata.normalize("NFC", t)]
        assert "cafe\u0301 decomposed" in texts and len(texts) > 30
    args = [sys.executable, "-c", NO_TORCH, str(clip_folder), json.dumps(texts)]
    out = subprocess.run(args + (["ftfy"] if without_ftfy else []),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == open_clip_ids(texts).tolist()
